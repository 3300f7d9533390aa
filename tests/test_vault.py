import json
import logging
import pickle

import pytest
from cryptography.exceptions import InvalidTag

from tillit.vault import keys
from tillit.vault.blind import email_index, phone_index
from tillit.vault.models import Envelope, Purpose
from tillit.vault.pii import Pii
from tillit.vault.rotate import rotate

pytestmark = pytest.mark.django_db


@pytest.mark.promise("P16")
def test_it_seals_and_opens_an_envelope():
    envelope = Envelope.objects.seal(
        {"email": Pii("kari@example.com"), "country": "NO"}, Purpose.LEAD
    )
    opened = Envelope.objects.get(id=envelope.id).open()
    assert opened["email"].reveal() == "kari@example.com"
    assert opened["country"].reveal() == "NO"


@pytest.mark.promise("P16")
def test_the_stored_row_holds_no_readable_value():
    envelope = Envelope.objects.seal({"name": Pii("Kari Nordmann")}, Purpose.LEAD)
    row = Envelope.objects.filter(id=envelope.id).values().get()
    stored = b"".join(bytes(v) for v in row.values() if isinstance(v, (bytes, memoryview)))
    assert b"Kari" not in stored and b"Nordmann" not in stored
    assert len(bytes(row["wrapped_key"])) == 12 + 32 + 16  # nonce + AES-256 key + GCM tag


@pytest.mark.promise("P16")
def test_it_refuses_tampered_ciphertext():
    envelope = Envelope.objects.seal({"name": Pii("Kari")}, Purpose.LEAD)
    tampered = bytearray(bytes(envelope.ciphertext))
    tampered[0] ^= 1
    Envelope.objects.filter(id=envelope.id).update(ciphertext=bytes(tampered))
    with pytest.raises(InvalidTag):
        Envelope.objects.get(id=envelope.id).open()


@pytest.mark.promise("P16")
def test_an_envelope_cannot_be_opened_as_another_purpose():
    envelope = Envelope.objects.seal({"name": Pii("Kari")}, Purpose.LEAD)
    Envelope.objects.filter(id=envelope.id).update(purpose=Purpose.NOTICE)
    with pytest.raises(InvalidTag):
        Envelope.objects.get(id=envelope.id).open()


@pytest.mark.promise("P16")
def test_shredding_destroys_the_envelope():
    envelope = Envelope.objects.seal({"name": Pii("Kari")}, Purpose.LEAD)
    envelope.shred()
    assert not Envelope.objects.filter(id=envelope.id).exists()


def test_rotation_rewraps_every_envelope_and_retires_the_old_key():
    before = keys.load().active
    envelopes = [Envelope.objects.seal({"n": Pii(str(i))}, Purpose.LEAD) for i in range(3)]
    report = rotate(grace_seconds=0)
    after = keys.load()
    assert report.rewrapped == 3
    assert before in report.retired and before not in after.keks
    assert after.active == report.new_kek_id != before
    for i, envelope in enumerate(envelopes):
        fresh = Envelope.objects.get(id=envelope.id)
        assert fresh.kek_id == after.active
        assert fresh.open()["n"].reveal() == str(i)


def test_the_keyring_is_readable_by_its_owner_only(settings):
    assert settings.KEK_FILE.stat().st_mode & 0o777 == 0o600
    assert set(json.loads(settings.KEK_FILE.read_text())) == {
        "version",
        "active",
        "keks",
        "index_key",
    }


@pytest.mark.promise("P1")
def test_blind_indexes_match_normalised_values_and_reveal_nothing():
    assert email_index(Pii(" Kari@Example.com ")) == email_index(Pii("kari@example.com"))
    assert email_index(Pii("kari@example.com")) != email_index(Pii("kari2@example.com"))
    assert phone_index(Pii("912 34 567"), "NO") == phone_index(Pii("+4791234567"))
    assert "kari" not in email_index(Pii("kari@example.com"))


@pytest.mark.promise("P1")
def test_pii_masks_itself_everywhere(caplog):
    value = Pii("kari@example.com")
    assert str(value) == "***" and "kari" not in repr(value) and f"{value}" == "***"
    with caplog.at_level(logging.INFO):
        logging.getLogger("tillit.test").info("sent to %s (%r)", value, value)
    assert "kari" not in caplog.text
    with pytest.raises(TypeError):
        pickle.dumps(value)
