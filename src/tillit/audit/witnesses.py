"""Asking witnesses to co-sign, as the C2SP tlog-witness protocol says.

For each new checkpoint the worker sends every active witness the checkpoint and a consistency
proof from the size that witness last co-signed. A witness that has checked the proof answers
with its cosignature, which is kept and published with the checkpoint. A witness that has
signed a larger tree (the database was rolled back), or whose tree this one does not extend (a
fork, a rewrite), refuses: that raises an alarm, shown in the console until someone resolves it.
"""

from __future__ import annotations

import base64
import datetime as dt
import logging
from collections.abc import Sequence
from dataclasses import dataclass

import httpx
from django.db import transaction
from django.utils import timezone
from tillit_partner import note

from tillit.audit import proofs
from tillit.audit.models import Checkpoint, Cosignature, LogAlarm, LogState, Witness

log = logging.getLogger("tillit.audit")
TIMEOUT = httpx.Timeout(5.0, connect=2.0)
MAX_ANSWER_BYTES = 16_384
SIZE_TYPE = "text/x.tlog.size"
RETRY_AFTER = dt.timedelta(seconds=30)


@dataclass(frozen=True)
class Outcome:
    witness: str
    cosigned: bool
    problem: str = ""
    alarm: str = ""


def step(client: httpx.Client) -> int:
    """Send the latest checkpoint to every witness that has not co-signed it yet."""
    checkpoint = proofs.latest()
    if checkpoint is None:
        return 0
    done = 0
    now = timezone.now()
    due = (
        Witness.objects.filter(active=True)
        .exclude(cosignature__checkpoint=checkpoint)
        # One whose last try failed is asked again after a pause, and not at all while an
        # alarm about it is open: a refusal is settled by a person, not by asking again.
        .exclude(last_error__gt="", tried_at__gt=now - RETRY_AFTER)
        .exclude(pk__in=LogAlarm.objects.filter(resolved_at__isnull=True).values("witness"))
    )
    for witness in due:
        Witness.objects.filter(pk=witness.pk).update(tried_at=now)
        try:
            outcome = send(client, witness, checkpoint)
        except (note.NoteError, proofs.LogIncomplete) as error:
            # A witness's key on record that does not parse, or a damaged tree: said on the
            # witness and in the log, and the worker's other work goes on.
            outcome = _failed(witness, f"{type(error).__name__}: {error}")
        done += outcome.cosigned
    return done


def send(client: httpx.Client, witness: Witness, checkpoint: Checkpoint) -> Outcome:
    """One exchange; a 409 that names a size we can prove from is answered once more.

    The witness's row and the latest checkpoint are read afresh first: another worker, or
    `tillit audit verify`, may have moved the witness on since the caller read them, and a
    witness ahead of an old checkpoint is not a rollback unless it is ahead of the tree."""
    witness.refresh_from_db()
    latest = proofs.latest()
    if latest is not None and latest.size >= checkpoint.size:
        checkpoint = latest
    tree_size = LogState.objects.filter(pk=1).values_list("size", flat=True).first() or 0
    old = witness.size
    for _ in range(2):
        if old > tree_size:
            return _alarm(
                witness,
                LogAlarm.Kind.ROLLBACK,
                f"{witness.name} has co-signed a tree of {old} entries, but the log has "
                f"{tree_size}: the log was rolled back",
            )
        if old > checkpoint.size:
            return Outcome(witness.name, cosigned=False, problem="ahead of this checkpoint")
        try:
            status, content_type, text = _post(client, witness, _body(old, checkpoint))
        except httpx.HTTPError as error:
            return _failed(witness, f"unreachable: {type(error).__name__}")
        if status == 409 and content_type.startswith(SIZE_TYPE):
            theirs = their_size(text)
            if theirs is None:
                return _failed(witness, "answered 409 without a size")
            if theirs == old:  # the same size, another root (as earlier drafts of the spec say)
                return _fork(witness, checkpoint)
            old = theirs
            continue
        return _answered(witness, checkpoint, status, text)
    return _failed(witness, "its size keeps changing")


def _post(client: httpx.Client, witness: Witness, body: bytes) -> tuple[int, str, str]:
    """POST with short timeouts, and read no more of the answer than a cosignature needs: a
    witness that hangs or floods must not hold up the worker's other work."""
    url = witness.url.rstrip("/") + "/add-checkpoint"
    with client.stream("POST", url, content=body, timeout=TIMEOUT) as answer:
        read = b""
        for chunk in answer.iter_bytes():
            read += chunk
            if len(read) > MAX_ANSWER_BYTES:
                break
        text = read[:MAX_ANSWER_BYTES].decode("utf-8", "replace")
        return answer.status_code, answer.headers.get("content-type", ""), text


def _body(old: int, checkpoint: Checkpoint) -> bytes:
    return add_checkpoint_body(old, checkpoint.note, proofs.consistency(old, checkpoint.size))


def add_checkpoint_body(old: int, signed_note: str, proof: Sequence[bytes]) -> bytes:
    """The add-checkpoint request: `old <size>`, the consistency proof from that size to the
    checkpoint's (a base64 hash a line), an empty line and the signed checkpoint."""
    lines = [f"old {old}"] + [base64.b64encode(h).decode() for h in proof]
    return ("\n".join(lines) + "\n\n" + signed_note).encode()


def their_size(text: str) -> int | None:
    """The size in a 409 answer's `text/x.tlog.size` body, or None if it holds none."""
    line = text.strip()
    return int(line) if line.isascii() and line.isdigit() and len(line) < 20 else None


def cosignature_in(answer: str, vkey: str, checkpoint_text: str) -> tuple[str, int] | None:
    """The line of `answer` that is a valid cosignature of the checkpoint by the witness key
    `vkey`, with its timestamp; None when no line is."""
    verifier = note.CosignatureVerifier.from_vkey(vkey)
    for line in answer.splitlines():
        signature = _signature(line)
        if signature is None or (signature.name, signature.key_id) != (
            verifier.name,
            verifier.key_id,
        ):
            continue
        stamp = verifier.verify(checkpoint_text, signature.signature)
        if stamp is not None:
            return line, stamp
    return None


def _answered(witness: Witness, checkpoint: Checkpoint, status: int, text: str) -> Outcome:
    if status == 200:
        return _keep(witness, checkpoint, text)
    if status == 422:
        return _fork(witness, checkpoint)
    if status == 403:
        return _alarm(
            witness,
            LogAlarm.Kind.REFUSED,
            f"{witness.name} does not accept the log's signature on checkpoint "
            f"{checkpoint.size} (is the log's verifier key registered with it?)",
        )
    if status == 404:
        return _failed(witness, "it does not know this log: give it the log's verifier key")
    return _failed(witness, f"answered {status}")


def _fork(witness: Witness, checkpoint: Checkpoint) -> Outcome:
    return _alarm(
        witness,
        LogAlarm.Kind.FORK,
        f"{witness.name} refused checkpoint {checkpoint.size}: it does not extend the tree "
        f"of {witness.size} entries it co-signed (a fork, or a rewritten history)",
    )


def _keep(witness: Witness, checkpoint: Checkpoint, text: str) -> Outcome:
    """Keep the cosignature made by this witness's key, once it verifies."""
    found = cosignature_in(text, witness.vkey, note.parse_note(checkpoint.note).text)
    if found is None:
        return _failed(witness, "its answer holds no valid cosignature by its key")
    line, stamp = found
    with transaction.atomic():
        Cosignature.objects.get_or_create(
            witness=witness,
            checkpoint=checkpoint,
            defaults={"line": line + "\n", "timestamp": stamp},
        )
        Witness.objects.filter(pk=witness.pk).update(
            size=checkpoint.size, cosigned_at=timezone.now(), last_error=""
        )
    return Outcome(witness.name, cosigned=True)


def _signature(line: str) -> note.Signature | None:
    try:
        return note.Signature.parse(line)
    except note.NoteError:
        return None


def _failed(witness: Witness, problem: str) -> Outcome:
    log.warning("witness %s: %s", witness.name, problem)
    Witness.objects.filter(pk=witness.pk).update(last_error=problem[:300])
    return Outcome(witness.name, cosigned=False, problem=problem)


def _alarm(witness: Witness, kind: str, detail: str) -> Outcome:
    """One open alarm per witness and kind: a refusal repeated every few seconds is one
    incident, not thousands."""
    log.error("consent log alarm: %s", detail)
    open_alarm = LogAlarm.objects.filter(witness=witness, kind=kind, resolved_at__isnull=True)
    if not open_alarm.exists():
        LogAlarm.objects.create(witness=witness, kind=kind, detail=detail[:500])
    Witness.objects.filter(pk=witness.pk).update(last_error=detail[:300])
    return Outcome(witness.name, cosigned=False, problem=detail, alarm=kind)
