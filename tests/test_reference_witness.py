"""The reference partner as a C2SP tlog-witness (the partner library's tillit_partner.witness,
over the reference partner's database: src/tillit/reference_partner/witness.py).

The partner runs as its own process, spoken to over real HTTP; the logs it witnesses are
built here, a Merkle tree in memory and a key that signs its checkpoints. Parsing is also
tested at the function level, where the many malformed bodies are cheap.
"""

from __future__ import annotations

import base64
import hashlib
import stat
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

import httpx
import pytest
from tillit_partner import note, tree

from tests.processes import ReferencePartner, free_port
from tillit.reference_partner import witness as witness_module

pytestmark = pytest.mark.promise("P24")
e2e = pytest.mark.e2e


class Log:
    """A transparency log as tillit keeps one: leaves in a Merkle tree, a key that signs."""

    def __init__(self, origin: str, signer: note.Signer | None = None) -> None:
        self.origin = origin
        self.signer = signer or note.Signer.generate(origin)
        self.store = tree.MemoryStore()

    @property
    def size(self) -> int:
        return self.store.size

    def grow(self, n: int, tag: str = "entry") -> Log:
        start = self.store.size
        self.store.add([tree.leaf_hash(f"{tag} {start + i}".encode()) for i in range(n)])
        return self

    def root(self, size: int) -> bytes:
        return tree.root(size, self.store.read)

    def checkpoint(
        self, size: int | None = None, *, signer: note.Signer | None = None, root: bytes = b""
    ) -> str:
        """The signed checkpoint of the tree at `size` (its latest by default)."""
        size = self.size if size is None else size
        text = note.Checkpoint(self.origin, size, root or self.root(size)).text()
        return note.sign_note(text, signer or self.signer)

    def body(
        self,
        old: int,
        size: int | None = None,
        *,
        proof: list[bytes] | None = None,
        signed: str = "",
    ) -> bytes:
        """An add-checkpoint request body, with the true proof unless given another."""
        size = self.size if size is None else size
        if proof is None:
            proof = tree.consistency_proof(old, size, self.store.read)
        lines = [f"old {old}", *(base64.b64encode(h).decode() for h in proof)]
        return (
            "".join(line + "\n" for line in lines) + "\n" + (signed or self.checkpoint(size))
        ).encode()


class Witness:
    """The reference partner's witness, as a log or a monitor reaches it."""

    def __init__(self, partner: ReferencePartner) -> None:
        self.partner = partner
        self.url = partner.url + "/witness"

    def add(self, body: bytes) -> httpx.Response:
        return httpx.post(self.url + "/add-checkpoint", content=body, timeout=10)

    def state(self) -> dict[str, Any]:
        answer = httpx.get(self.url + "/state", timeout=10)
        answer.raise_for_status()
        return answer.json()

    def log_state(self, origin: str) -> dict[str, Any]:
        return next(log for log in self.state()["logs"] if log["origin"] == origin)

    def verifier(self) -> note.CosignatureVerifier:
        return note.CosignatureVerifier.from_vkey(self.state()["witness"]["vkey"])

    def monitored(self, origin: str) -> httpx.Response:
        origin_hash = hashlib.sha256(origin.encode()).hexdigest()
        return httpx.get(f"{self.url}/{origin_hash}/checkpoint", timeout=10)


def cosigned_by(verifier: note.CosignatureVerifier, signed: str, answer: httpx.Response) -> int:
    """The timestamp of the witness's cosignature in the answer, checked as the spec suggests
    a client do it: appended to the checkpoint and opened with the witness's key."""
    assert answer.status_code == 200, answer.text
    assert answer.text.startswith("— ") and answer.text.endswith("\n")
    opened = note.open_note(signed + answer.text, [verifier])
    assert opened.verified == (verifier.name,)
    [line] = answer.text.splitlines()
    stamp = verifier.verify(opened.text, note.Signature.parse(line).signature)
    assert stamp is not None
    return stamp


def refused(answer: httpx.Response, status: int) -> None:
    assert answer.status_code == status, (answer.status_code, answer.text)
    assert "—" not in answer.text, "a refusal carries no cosignature"


def impostor_bytes(impostor: note.Signer, text: str) -> bytes:
    """The bare signature bytes the impostor's key makes over text."""
    return note.Signature.parse(impostor.sign(text)).signature


# --- A running witness: one partner process for the module, a fresh log for each test ---------

POOL = [Log(f"tillit.example/witnessed-{n}") for n in range(24)]


@pytest.fixture(scope="module")
def witness(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Witness]:
    vkeys = ",".join(log.signer.vkey for log in POOL)
    data_dir = tmp_path_factory.mktemp("witness-partner")
    partner = ReferencePartner(data_dir, extra_env={"PARTNER_WITNESS_LOGS": vkeys}).start()
    try:
        yield Witness(partner)
    finally:
        partner.stop()


@pytest.fixture
def operator_log(witness: Witness) -> Log:
    """A log the witness is configured with and has never seen."""
    log = POOL.pop()
    assert witness.log_state(log.origin)["size"] == 0
    return log


@pytest.fixture
def impostor(operator_log: Log) -> note.Signer:
    """Someone who signs checkpoints under the log's name with a key of their own."""
    return note.Signer.generate(operator_log.origin)


# --- The main path --------------------------------------------------------------------------


@e2e
def test_it_cosigns_a_first_checkpoint_from_the_empty_tree(witness, operator_log):
    operator_log.grow(5)
    before = int(datetime.now().timestamp())
    signed = operator_log.checkpoint()
    answer = witness.add(operator_log.body(0))
    stamp = cosigned_by(witness.verifier(), signed, answer)
    assert before <= stamp <= int(datetime.now().timestamp()) + 1
    state = witness.log_state(operator_log.origin)
    assert state["size"] == 5
    assert state["root"] == base64.b64encode(operator_log.root(5)).decode()
    assert datetime.fromisoformat(state["cosigned_at"]).timestamp() == stamp


@e2e
def test_the_witness_key_is_made_in_its_data_directory_readable_by_its_owner_only(witness):
    said = witness.state()["witness"]
    key_file = witness.partner.data_dir / "witness.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    cosigner = note.Cosigner.from_skey(key_file.read_text().strip())
    assert said == {"name": "witness.demo-partner.example", "vkey": cosigner.vkey}


@e2e
def test_it_cosigns_a_growing_log_with_consistency_proofs(witness, operator_log):
    verifier = witness.verifier()
    old = 0
    for grow in (1, 2, 5, 0, 8, 1, 47):
        operator_log.grow(grow)
        answer = witness.add(operator_log.body(old))
        cosigned_by(verifier, operator_log.checkpoint(), answer)
        old = operator_log.size
    assert witness.log_state(operator_log.origin)["size"] == 64


@e2e
def test_the_same_checkpoint_is_cosigned_again(witness, operator_log):
    operator_log.grow(3)
    assert witness.add(operator_log.body(0)).status_code == 200
    cosigned_by(witness.verifier(), operator_log.checkpoint(), witness.add(operator_log.body(3)))


@e2e
def test_an_empty_log_is_cosigned_with_the_empty_trees_root(witness, operator_log):
    cosigned_by(witness.verifier(), operator_log.checkpoint(0), witness.add(operator_log.body(0)))
    operator_log.grow(2)
    cosigned_by(witness.verifier(), operator_log.checkpoint(), witness.add(operator_log.body(0)))


@e2e
def test_monitors_get_the_last_cosigned_checkpoint_with_both_signatures(witness, operator_log):
    assert witness.monitored(operator_log.origin).status_code == 404
    operator_log.grow(4)
    answer = witness.add(operator_log.body(0))
    assert answer.status_code == 200
    served = witness.monitored(operator_log.origin)
    assert served.status_code == 200
    assert served.text == operator_log.checkpoint() + answer.text
    opened = note.open_note(served.text, [operator_log.signer.verifier, witness.verifier()])
    assert set(opened.verified) == {operator_log.origin, "witness.demo-partner.example"}


@e2e
def test_of_racing_requests_from_one_size_only_one_is_cosigned(witness, operator_log):
    operator_log.grow(4)
    assert witness.add(operator_log.body(0)).status_code == 200
    operator_log.grow(12)
    bodies = [operator_log.body(4, size) for size in range(5, 17)]
    with ThreadPoolExecutor(len(bodies)) as pool:
        answers = list(pool.map(witness.add, bodies))
    statuses = sorted(a.status_code for a in answers)
    assert statuses == [200] + [409] * (len(bodies) - 1), statuses
    [winner] = [size for size, a in zip(range(5, 17), answers, strict=True) if a.status_code == 200]
    assert witness.log_state(operator_log.origin)["size"] == winner
    assert {a.text for a in answers if a.status_code == 409} == {f"{winner}\n"}


LOST_RACE = """
import base64, sys
import django
django.setup()
from tillit_partner import note
from tillit.reference_partner.witness import DatabaseWitnessStore, State
old, root = int(sys.argv[1]), base64.b64decode(sys.argv[2])
store = DatabaseWitnessStore()
checkpoint = note.Checkpoint.parse(sys.stdin.read())
new = State(checkpoint.size, checkpoint.root)
if store.advance(checkpoint.origin, State(old, root), new, "", 1):
    print(200)
else:
    print(409, store.state(checkpoint.origin).size)
"""


def in_partner(partner: ReferencePartner, code: str, *args: str, stdin: str) -> str:
    """Run code in a process of the partner's own (its settings, its database)."""
    env = {**partner.env(), "DJANGO_SETTINGS_MODULE": "tillit.reference_partner.settings"}
    done = subprocess.run(
        [sys.executable, "-c", code, *args],
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


@e2e
def test_a_request_checked_against_a_state_another_has_moved_is_not_stored(witness, operator_log):
    """The check and the store are two steps; between them another request may win. The
    conditional UPDATE sees it, and the late one is refused instead of rolling the log back."""
    operator_log.grow(4)
    assert witness.add(operator_log.body(0)).status_code == 200
    operator_log.grow(6)
    assert witness.add(operator_log.body(4)).status_code == 200
    # A request for 6 that was checked against the state of 4, stored only now.
    late = note.Checkpoint(operator_log.origin, 6, operator_log.root(6)).text()
    root = base64.b64encode(operator_log.root(4)).decode()
    assert in_partner(witness.partner, LOST_RACE, "4", root, stdin=late) == "409 10"
    assert witness.log_state(operator_log.origin)["size"] == 10


# --- Refusals ---------------------------------------------------------------------------------


@e2e
def test_it_refuses_a_rollback_to_a_smaller_tree(witness, operator_log):
    operator_log.grow(8)
    assert witness.add(operator_log.body(0)).status_code == 200
    # Claiming the stored size as old, with a smaller checkpoint: malformed.
    refused(witness.add(operator_log.body(8, 5, proof=[])), 400)
    # Claiming the smaller size as old: the witness names the size it holds.
    answer = witness.add(operator_log.body(5, 5))
    refused(answer, 409)
    assert answer.text == "8\n"
    assert witness.log_state(operator_log.origin)["size"] == 8


@e2e
def test_a_wrong_old_size_is_answered_with_the_size_it_holds(witness, operator_log):
    operator_log.grow(6)
    answer = witness.add(operator_log.body(2))
    refused(answer, 409)
    assert answer.headers["content-type"] == "text/x.tlog.size"
    assert answer.text == "0\n"
    assert witness.add(operator_log.body(0, 3)).status_code == 200
    answer = witness.add(operator_log.body(0))
    refused(answer, 409)
    assert (answer.headers["content-type"], answer.text) == ("text/x.tlog.size", "3\n")


@e2e
def test_it_refuses_another_tree_of_the_same_size(witness, operator_log):
    operator_log.grow(7)
    assert witness.add(operator_log.body(0)).status_code == 200
    fork = Log(operator_log.origin, operator_log.signer).grow(7, tag="rewritten")
    refused(witness.add(fork.body(7)), 422)
    assert (
        witness.log_state(operator_log.origin)["root"]
        == base64.b64encode(operator_log.root(7)).decode()
    )


@e2e
def test_it_refuses_a_larger_tree_that_does_not_extend_the_one_it_cosigned(witness, operator_log):
    operator_log.grow(7)
    assert witness.add(operator_log.body(0)).status_code == 200
    fork = Log(operator_log.origin, operator_log.signer).grow(3).grow(9, tag="rewritten")
    # The fork's own proof is a true proof, but from its own tree of 7, not the one cosigned.
    refused(witness.add(fork.body(7)), 422)
    assert witness.log_state(operator_log.origin)["size"] == 7


@e2e
def test_it_refuses_a_proof_that_does_not_verify(witness, operator_log):
    operator_log.grow(5)
    assert witness.add(operator_log.body(0)).status_code == 200
    operator_log.grow(6)
    proof = tree.consistency_proof(5, 11, operator_log.store.read)
    bent = [proof[0][:-1] + bytes([proof[0][-1] ^ 1]), *proof[1:]]
    refused(witness.add(operator_log.body(5, proof=bent)), 422)
    refused(witness.add(operator_log.body(5, proof=proof[:-1])), 422)
    refused(witness.add(operator_log.body(5, proof=[])), 422)
    cosigned_by(witness.verifier(), operator_log.checkpoint(), witness.add(operator_log.body(5)))


@e2e
def test_it_refuses_a_proof_from_the_empty_tree_and_an_empty_tree_with_a_root(
    witness, operator_log
):
    operator_log.grow(4)
    refused(witness.add(operator_log.body(0, proof=[operator_log.root(2)])), 422)
    refused(
        witness.add(operator_log.body(0, 0, signed=operator_log.checkpoint(0, root=b"\1" * 32))),
        422,
    )
    assert witness.log_state(operator_log.origin)["size"] == 0


@e2e
def test_it_refuses_a_checkpoint_signed_by_another_key(witness, operator_log, impostor):
    operator_log.grow(3)
    refused(witness.add(operator_log.body(0, signed=operator_log.checkpoint(signer=impostor))), 403)
    assert witness.log_state(operator_log.origin)["cosigned_at"] is None


@e2e
def test_it_refuses_a_bad_signature_from_the_logs_own_key(witness, operator_log, impostor):
    operator_log.grow(3)
    good = note.parse_note(operator_log.checkpoint())
    [signature] = good.signatures
    forged = note.Signature(signature.name, signature.key_id, impostor_bytes(impostor, good.text))
    # A good signature from an unknown key does not save it: the known key's failed.
    signed = good.text + "\n" + forged.line + impostor.sign(good.text)
    refused(witness.add(operator_log.body(0, signed=signed)), 403)


@e2e
def test_it_does_not_witness_an_unknown_origin(witness):
    stranger = Log("stranger.example/log").grow(2)
    refused(witness.add(stranger.body(0)), 404)
    assert witness.monitored(stranger.origin).status_code == 404


@e2e
@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"garbage",
        b"old 0\n",
        b"old 0\n\n",
        b"old 0\n\nnot a note\n",
        b"\xff\xfe\n\n",
    ],
)
def test_it_refuses_garbage(witness, body):
    refused(witness.add(body), 400)


@e2e
def test_it_refuses_a_malformed_old_line_or_proof_over_http(witness, operator_log):
    operator_log.grow(4)
    good = operator_log.body(0).decode()
    for bad in ("old 00", "old -0", "Old 0", "old 0 ", "old\t0"):
        refused(witness.add(good.replace("old 0", bad, 1).encode()), 400)
    refused(witness.add(good.replace("old 0\n", "old 0\nnot-base64!\n", 1).encode()), 400)
    assert witness.log_state(operator_log.origin)["size"] == 0


@e2e
def test_a_signed_note_that_is_not_a_checkpoint_is_malformed(witness, operator_log):
    text = f"{operator_log.origin}\n012\n{base64.b64encode(tree.EMPTY_ROOT).decode()}\n"
    signed = note.sign_note(text, operator_log.signer)
    refused(witness.add(operator_log.body(0, 0, signed=signed)), 400)


@e2e
def test_only_post_adds_a_checkpoint(witness):
    assert httpx.get(witness.url + "/add-checkpoint", timeout=10).status_code == 405


@e2e
def test_refusals_are_logged_with_the_origin_and_sizes_only(witness, operator_log):
    operator_log.grow(6)
    body = operator_log.body(2)
    refused(witness.add(body), 409)
    logged = (witness.partner.data_dir / "partner.log").read_text()
    [line] = [x for x in logged.splitlines() if "witness refused" in x and operator_log.origin in x]
    assert "old 2, size 6, stored 0" in line
    root = base64.b64encode(operator_log.root(6)).decode()
    assert root not in logged and "—" not in logged


# --- State across restarts and from files -----------------------------------------------------


@e2e
def test_its_state_and_key_survive_a_restart(tmp_path):
    log = Log("tillit.example/restarted").grow(5)
    partner = ReferencePartner(tmp_path, extra_env={"PARTNER_WITNESS_LOGS": log.signer.vkey})
    first = Witness(partner.start())
    try:
        assert first.add(log.body(0)).status_code == 200
        vkey = first.state()["witness"]["vkey"]
    finally:
        partner.stop()
    again = Witness(partner.start())
    try:
        assert again.state()["witness"]["vkey"] == vkey
        answer = again.add(log.body(0))
        refused(answer, 409)
        assert answer.text == "5\n"
        log.grow(3)
        cosigned_by(again.verifier(), log.checkpoint(), again.add(log.body(5)))
    finally:
        partner.stop()


@e2e
def test_it_reads_its_logs_from_the_file_in_its_data_directory(tmp_path):
    log = Log("tillit.example/filed").grow(2)
    rotated = note.Signer.generate(log.origin)
    lines = ["# the consent log, its old key and its new", log.signer.vkey, rotated.vkey, ""]
    (tmp_path / "witness-logs").write_text("\n".join(lines))
    partner = ReferencePartner(tmp_path, extra_env={"PARTNER_WITNESS_NAME": "w.example/filed"})
    witness = Witness(partner.start())
    try:
        assert witness.state()["witness"]["name"] == "w.example/filed"
        [state] = witness.state()["logs"]
        assert state["vkeys"] == [log.signer.vkey, rotated.vkey]
        # Either of a rotating log's keys is trusted.
        signed = log.checkpoint(signer=log.signer)
        cosigned_by(witness.verifier(), signed, witness.add(log.body(0, signed=signed)))
        log.grow(3)
        signed = log.checkpoint(signer=rotated)
        cosigned_by(witness.verifier(), signed, witness.add(log.body(2, signed=signed)))
    finally:
        partner.stop()


@e2e
def test_a_log_key_that_does_not_parse_stops_the_start(tmp_path):
    env = ReferencePartner(tmp_path, extra_env={"PARTNER_WITNESS_LOGS": "not+a+vkey"}).env()
    done = subprocess.run(
        [sys.executable, "-m", "tillit", "reference-partner", "--port", str(free_port())],
        env=env,
        capture_output=True,
        timeout=60,
    )
    assert done.returncode != 0
    assert b"PARTNER_WITNESS_LOGS" in done.stderr


@e2e
def test_a_key_file_under_another_name_is_refused(tmp_path):
    """The name is half of the witness's identity: a key under another name stops the start."""
    (tmp_path / "witness.key").write_text(note.Cosigner.generate("other.example/w").skey)
    log = Log("tillit.example/renamed").grow(1)
    env = ReferencePartner(tmp_path, extra_env={"PARTNER_WITNESS_LOGS": log.signer.vkey}).env()
    done = subprocess.run(
        [sys.executable, "-m", "tillit", "reference-partner", "--port", str(free_port())],
        env=env,
        capture_output=True,
        timeout=60,
    )
    assert done.returncode != 0
    assert b"PARTNER_WITNESS_NAME" in done.stderr


# --- Parsing, at the function level -----------------------------------------------------------

HASH = base64.b64encode(b"\7" * 32).decode()


def status_of(body: bytes) -> int:
    try:
        witness_module.parse_request(body)
    except witness_module.Refused as refusal:
        return refusal.status
    return 200


def test_a_body_parses_into_old_size_proof_and_note():
    request = witness_module.parse_request(
        f"old 20852014\n{HASH}\n{HASH}\n\nnote\n\n— x\n".encode()
    )
    assert request.old == 20852014
    assert request.proof == (b"\7" * 32, b"\7" * 32)
    assert request.note == "note\n\n— x\n"


def test_the_first_empty_line_ends_the_proof():
    assert witness_module.parse_request(b"old 0\n\na\n\nb\n").note == "a\n\nb\n"


@pytest.mark.parametrize(
    "old",
    ["01", "+1", "-1", "1_0", "\u0663", " 1", "1 ", "0x1", "1.0", "", str(2**63), "١"],
)
def test_an_old_size_is_plain_ascii_decimal_without_leading_zeros(old):
    assert status_of(f"old {old}\n\nn\n".encode()) == 400


def test_an_old_size_up_to_two_to_the_63_less_one_is_read():
    assert witness_module.parse_request(f"old {2**63 - 1}\n\nn\n".encode()).old == 2**63 - 1


@pytest.mark.parametrize(
    "line",
    [
        "not base64",
        HASH.rstrip("="),
        base64.b64encode(b"\7" * 31).decode(),
        base64.b64encode(b"\7" * 33).decode(),
        base64.urlsafe_b64encode(b"\xfb" * 32).decode(),
        # Non-zero padding bits: decodes to the same bytes, but is not the canonical spelling.
        HASH[:-2] + chr(ord(HASH[-2]) + 1) + "=",
        HASH + " ",
        HASH + "\r",
    ],
)
def test_a_proof_line_is_one_hash_in_canonical_standard_base64(line):
    assert status_of(f"old 1\n{line}\n\nn\n".encode()) == 400


def test_at_most_63_proof_lines():
    assert status_of(("old 1\n" + f"{HASH}\n" * 63 + "\nn\n").encode()) == 200
    assert status_of(("old 1\n" + f"{HASH}\n" * 64 + "\nn\n").encode()) == 400


@pytest.mark.parametrize(
    "body",
    [b"old 0\r\n\r\nn\n", b"old 0\nn\n", b"\nold 0\n\nn\n", b"old 0", b"\xef\xbb\xbfold 0\n\nn\n"],
)
def test_lines_end_in_a_bare_newline_and_the_old_line_comes_first(body):
    assert status_of(body) == 400


def checked(old: int, size: int, proof: list[bytes], stored: tuple[int, bytes], root: bytes) -> int:
    request = witness_module.AddCheckpoint(old, tuple(proof), "")
    checkpoint = note.Checkpoint("tillit.example/unit", size, root)
    try:
        witness_module.check(request, checkpoint, witness_module.State(*stored))
    except witness_module.Refused as refusal:
        return refusal.status
    return 200


def test_the_checks_come_in_the_specs_order():
    log = Log("tillit.example/unit").grow(8)
    stored = (5, log.root(5))
    proof = tree.consistency_proof(5, 8, log.store.read)
    assert checked(5, 8, proof, stored, log.root(8)) == 200
    # Old above the checkpoint's size is malformed even when old is also not the stored size.
    assert checked(9, 8, [], stored, log.root(8)) == 400
    assert checked(4, 8, proof, stored, log.root(8)) == 409
    assert checked(5, 8, proof, stored, log.root(7)) == 422
    assert checked(5, 5, [], stored, log.root(5)) == 200
    assert checked(5, 5, proof, stored, log.root(5)) == 422
    assert checked(0, 0, [], (0, tree.EMPTY_ROOT), log.root(1)) == 422
    assert checked(0, 8, [log.root(1)], (0, tree.EMPTY_ROOT), log.root(8)) == 422
