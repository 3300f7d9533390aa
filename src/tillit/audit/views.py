"""The log, read-only over HTTP (docs/log.md, "Reading the log"): the latest checkpoint with its
cosignatures, inclusion proofs by leaf index or leaf hash, consistency proofs between two sizes,
and the log's keys at /.well-known/tillit-log.json. Entries themselves are not served: each
person gets theirs in their receipt; anyone gets hashes."""

from __future__ import annotations

import base64
import binascii

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.http import require_GET
from tillit_partner import tree

from tillit.audit import proofs
from tillit.audit.models import Checkpoint, LogKey, LogState, Witness

TEXT = "text/plain; charset=utf-8"
FRESH = "no-cache"


class BadQuery(ValueError):
    pass


def _problem(message: str, status: int = 400) -> JsonResponse:
    return JsonResponse({"error": message}, status=status)


def _number(request: HttpRequest, name: str) -> int:
    raw = request.GET.get(name, "")
    if not raw.isascii() or not raw.isdigit() or len(raw) > 18:
        raise BadQuery(f"'{name}' must be a whole number")
    return int(raw)


def _tree_size(request: HttpRequest) -> int:
    """The size asked for, never more than the tree has; or else the latest checkpoint's
    (one query: the proof's own reads are the rest of the request)."""
    if "tree_size" not in request.GET:
        latest = Checkpoint.objects.order_by("-id").values_list("size", flat=True).first()
        return latest or 0
    size = _number(request, "tree_size")
    state = LogState.objects.filter(pk=1).values_list("size", flat=True).first() or 0
    if size > state:
        raise BadQuery(f"the tree has {state} entries, not {size}")
    return size


@require_GET
def checkpoint(request: HttpRequest) -> HttpResponse:
    text = proofs.published()
    if not text:
        return HttpResponse("the log has no checkpoint yet\n", content_type=TEXT, status=404)
    response = HttpResponse(text, content_type=TEXT)
    response["Cache-Control"] = FRESH
    return response


@require_GET
def inclusion(request: HttpRequest) -> HttpResponse:
    try:
        size = _tree_size(request)
        if "leaf_hash" in request.GET:
            index = proofs.index_of(_hash(request.GET["leaf_hash"]))
        else:
            index = _number(request, "leaf_index")
        return JsonResponse(proofs.inclusion(index, size).as_json())
    except BadQuery as error:
        return _problem(str(error))
    except proofs.NotInLog as error:
        return _problem(str(error), status=404)


@require_GET
def consistency(request: HttpRequest) -> HttpResponse:
    try:
        old, new = _number(request, "first"), _tree_size(request)
        if old > new:
            raise BadQuery("'first' must not be larger than 'tree_size'")
    except BadQuery as error:
        return _problem(str(error))
    proof = proofs.consistency(old, new)
    return JsonResponse(
        {"first": old, "tree_size": new, "consistency_path": [proofs.b64(h) for h in proof]}
    )


@require_GET
def well_known(request: HttpRequest) -> HttpResponse:
    """What a verifier or a witness needs to know: the origin, every key the log has signed
    with (and when it stopped), the witnesses, and where to ask."""
    state = LogState.objects.filter(pk=1).first()
    keys = LogKey.objects.order_by("made_at")
    return JsonResponse(
        {
            "origin": state.origin if state else (keys.last().name if keys else ""),
            "verifier_keys": [
                {
                    "vkey": k.vkey,
                    "made_at": k.made_at.isoformat(),
                    "retired_at": k.retired_at.isoformat() if k.retired_at else None,
                }
                for k in keys
            ],
            "witnesses": [
                {"name": name, "vkey": vkey}
                for name, vkey in Witness.objects.filter(active=True).values_list("name", "vkey")
            ],
            "checkpoint": request.build_absolute_uri("/log/checkpoint"),
            "inclusion_proof": request.build_absolute_uri("/log/proof/inclusion"),
            "consistency_proof": request.build_absolute_uri("/log/proof/consistency"),
        },
        json_dumps_params={"indent": 2},
    )


def _hash(raw: str) -> bytes:
    """A leaf hash in hex or base64 (query strings turn '+' into a space: take it back)."""
    raw = raw.strip().replace(" ", "+")
    try:
        value = bytes.fromhex(raw) if len(raw) == 64 else base64.b64decode(raw, validate=True)
    except (ValueError, binascii.Error):
        raise BadQuery("'leaf_hash' must be 32 bytes in hex or base64") from None
    if len(value) != tree.HASH_SIZE:
        raise BadQuery("'leaf_hash' must be 32 bytes in hex or base64")
    return value
