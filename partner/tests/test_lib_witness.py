"""The library's witness (tillit_partner.witness) served by Partner.handle: cosigns only what
extends what it cosigned, with the spec's answers. The reference partner's tests
(tests/test_reference_witness.py) prove it at length over HTTP and a database."""

import base64
import hashlib

import pytest

from tillit_partner import MemoryStore, Partner, Request, note, tree
from tillit_partner.witness import MemoryWitnessStore, Witness

pytestmark = pytest.mark.promise("P24")
ORIGIN = "log.tillit.example"


class Log:
    def __init__(self, signer=None):
        self.signer = signer or note.Signer.generate(ORIGIN)
        self.store = tree.MemoryStore()

    def grow(self, n, tag="entry"):
        start = self.store.size
        self.store.add([tree.leaf_hash(f"{tag} {start + i}".encode()) for i in range(n)])

    def body(self, old, signer=None):
        size = self.store.size
        proof = tree.consistency_proof(old, size, self.store.read) if old else []
        origin = self.signer.name  # a log's origin is its key's name
        checkpoint = note.Checkpoint(origin, size, tree.root(size, self.store.read)).text()
        lines = [f"old {old}", *(base64.b64encode(h).decode() for h in proof)]
        signed = note.sign_note(checkpoint, signer or self.signer)
        return ("".join(line + "\n" for line in lines) + "\n" + signed).encode()


@pytest.fixture
def log():
    return Log()


@pytest.fixture
def witness_key():
    return note.Cosigner.generate("witness.partner.example")


@pytest.fixture
def partner(log, witness_key):
    witness = Witness(witness_key, [log.signer.verifier.vkey], MemoryWitnessStore())
    return Partner(b"secret", MemoryStore(), witness=witness)


def add(partner, body):
    return partner.handle(Request("POST", "/witness/add-checkpoint", body))


def test_it_cosigns_a_first_checkpoint_and_then_only_what_extends_it(partner, log, witness_key):
    log.grow(5)
    first = add(partner, log.body(0))
    assert first.status == 200, first.body
    line = first.body.decode()
    assert line.startswith("— witness.partner.example ")
    log.grow(3)
    assert add(partner, log.body(5)).status == 200
    # Its own state is 8 now: an old size of 5 is stale, and the answer says what it holds.
    stale = add(partner, log.body(5))
    assert (stale.status, stale.body, stale.content_type) == (409, b"8\n", "text/x.tlog.size")
    hashed = hashlib.sha256(ORIGIN.encode()).hexdigest()
    monitored = partner.handle(Request("GET", f"/witness/{hashed}/checkpoint"))
    assert monitored.status == 200
    opened = note.open_note(monitored.body.decode(), [witness_key.verifier])
    assert note.Checkpoint.parse(opened.text).size == 8


def test_a_fork_an_unknown_log_and_another_key_are_refused(partner, log):
    log.grow(4)
    assert add(partner, log.body(0)).status == 200
    fork = Log(log.signer)  # signed by the log's own key, over a history rewritten
    fork.grow(6, tag="rewritten")
    assert add(partner, fork.body(4)).status == 422
    stranger = note.Signer.generate("another.log.example")
    assert add(partner, Log(stranger).body(0)).status == 404
    impostor = note.Signer.generate(ORIGIN)
    assert add(partner, log.body(4, signer=impostor)).status == 403
    assert add(partner, b"old 01\n\n").status == 400


def test_a_partner_without_a_witness_has_no_witness_paths():
    plain = Partner(b"secret", MemoryStore())
    assert plain.handle(Request("POST", "/witness/add-checkpoint", b"")).status == 404
