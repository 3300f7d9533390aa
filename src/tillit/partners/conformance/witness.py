"""The checks of a partner that witnesses the consent log (C2SP tlog-witness; docs/partners.md:
The partner as a witness).

Only the log's real checkpoint is ever sent with the log's signature, exactly as tillit's
worker sends it (audit/witnesses.py builds the body): a witness that passes has co-signed a
checkpoint it would have co-signed anyway. The checkpoint with a bad signature carries the
real checkpoint's text under a signature of random bytes; nothing is signed with the log's
key here, so no fork can come of a check.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from tillit_partner import note

from tillit.audit import witnesses
from tillit.partners.conformance.answers import Answer, Failed, Skipped
from tillit.partners.conformance.registry import WITNESS, check
from tillit.partners.conformance.session import Session

if TYPE_CHECKING:
    from tillit.audit.models import Witness

NEEDS = "witness"


@dataclass(frozen=True)
class WitnessTarget:
    """A witness and the log it is asked about. `size` is the size tillit last knew it to have
    co-signed, `checkpoint` the log's latest signed checkpoint ("" when there is none) and
    `proof(old, new)` the log's consistency proof between two sizes."""

    name: str
    url: str
    vkey: str
    size: int
    checkpoint: str
    proof: Callable[[int, int], Sequence[bytes]]

    @classmethod
    def of(cls, witness: Witness) -> WitnessTarget:
        """A witness on record (audit.models.Witness) and tillit's own consent log. Its proofs
        are read from the database when the checks need them, in the caller's thread."""
        from tillit.audit import proofs

        latest = proofs.latest()
        return cls(
            witness.name,
            witness.url,
            witness.vkey,
            witness.size,
            latest.note if latest else "",
            proofs.consistency,
        )


def _opened(s: Session) -> tuple[WitnessTarget, str, note.Checkpoint]:
    target: WitnessTarget = s.witness
    if not target.checkpoint:
        raise Skipped(_("the consent log has no checkpoint yet"))
    text = note.parse_note(target.checkpoint).text
    return target, text, note.Checkpoint.parse(text)


def _add(s: Session, target: WitnessTarget, old: int, signed: str, size: int) -> Answer:
    body = witnesses.add_checkpoint_body(old, signed, target.proof(old, size))
    url = target.url.rstrip("/") + "/add-checkpoint"
    return s.exchange("POST", urlsplit(url).path, content=body, url=url)


def _said(answer: Answer) -> str:
    if answer.status is None:
        return answer.error if answer.timed_out else _("no answer: %(e)s") % {"e": answer.error}
    kind = answer.headers.get("content-type", "")
    text = answer.content[:120].decode("utf-8", "replace").strip()
    return f"HTTP {answer.status} ({kind or _('no Content-Type')})" + (f": {text}" if text else "")


@check(
    "witness.cosign",
    gettext_lazy("The log's checkpoint is co-signed with the key on record"),
    needs=NEEDS,
    stage=WITNESS,
)
def witness_cosign(s: Session) -> str | None:
    target, text, checkpoint = _opened(s)
    old = min(target.size, checkpoint.size)
    answer = _add(s, target, old, target.checkpoint, checkpoint.size)
    if answer.status == 409 and answer.headers.get("content-type", "").startswith(
        witnesses.SIZE_TYPE
    ):
        # As the worker does: the witness holds another size than tillit knew; prove from it.
        theirs = witnesses.their_size(answer.content.decode("utf-8", "replace"))
        if theirs is not None and theirs != old and theirs <= checkpoint.size:
            old = theirs
            answer = _add(s, target, old, target.checkpoint, checkpoint.size)
    sent = _(
        "the log's latest checkpoint (%(origin)s, size %(size)d) with old %(old)d and the "
        "consistency proof, as tillit's worker sends it"
    ) % {"origin": checkpoint.origin, "size": checkpoint.size, "old": old}
    required = _(
        "200 with a cosignature/v1 line that verifies with the key tillit has on record for "
        "%(name)s (C2SP tlog-witness)"
    ) % {"name": target.name}
    if answer.status != 200:
        raise Failed(sent, _said(answer), required)
    try:
        found = witnesses.cosignature_in(
            answer.content.decode("utf-8", "replace"), target.vkey, text
        )
    except note.NoteError as error:
        detail = _("the key on record: %(error)s") % {"error": error}
        raise Failed(sent, _said(answer), required, detail) from None
    if found is None:
        raise Failed(sent, _said(answer), required, _("no line is a valid cosignature by that key"))
    s.witness_size = checkpoint.size
    return None


@check(
    "witness.bad_signature",
    gettext_lazy("A checkpoint without a good signature by the log's key gets 403"),
    needs=NEEDS,
    stage=WITNESS,
)
def witness_bad_signature(s: Session) -> str | None:
    target, text, checkpoint = _opened(s)
    logs = [
        sig
        for sig in note.parse_note(target.checkpoint).signatures
        if sig.name == checkpoint.origin
    ]
    key_id = logs[0].key_id if logs else os.urandom(4)
    forged = text + "\n" + note.Signature(checkpoint.origin, key_id, os.urandom(64)).line
    old = s.witness_size if s.witness_size is not None else min(target.size, checkpoint.size)
    answer = _add(s, target, old, forged, checkpoint.size)
    if answer.status != 403:
        raise Failed(
            _(
                "the log's latest checkpoint under %(origin)s with random bytes for the log "
                "key's signature"
            )
            % {"origin": checkpoint.origin},
            _said(answer),
            _("403: no valid signature by the log's key (C2SP tlog-witness)"),
        )
    return None


@check(
    "witness.wrong_old",
    gettext_lazy("A wrong old size gets 409 with the size held"),
    needs=NEEDS,
    stage=WITNESS,
)
def witness_wrong_old(s: Session) -> str | None:
    target, _text, checkpoint = _opened(s)
    if s.witness_size is None:
        raise Skipped(_("witness.cosign did not pass, so the size the witness holds is unknown"))
    if s.witness_size == 0:
        raise Skipped(_("the log's checkpoint is of an empty tree: no smaller size to send"))
    old = s.witness_size - 1
    answer = _add(s, target, old, target.checkpoint, checkpoint.size)
    theirs = witnesses.their_size(answer.content.decode("utf-8", "replace"))
    kind = answer.headers.get("content-type", "")
    if answer.status != 409 or not kind.startswith(witnesses.SIZE_TYPE) or theirs is None:
        raise Failed(
            _("the log's latest checkpoint with old %(old)d, one less than the size it holds")
            % {"old": old},
            _said(answer),
            _("409 with the size it holds as the body, Content-Type text/x.tlog.size"),
        )
    return _("it holds %(size)d") % {"size": theirs}
