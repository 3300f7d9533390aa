"""A consent receipt carries its proof: checked by `tillit log verify-receipt`, and by the
script in docs/ that uses nothing of tillit's (Python's standard library and openssl)."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from tillit_partner import note

from tillit.audit import logkey, proofs, sequencer
from tillit.audit.models import Checkpoint, Cosignature, Witness
from tillit.consent.models import ConsentRecord
from tillit.rights.actions import _withdraw
from tillit.subjects.confirmation import confirmation_token
from tillit.subjects.models import Subject

pytestmark = [pytest.mark.django_db, pytest.mark.promise("P3"), pytest.mark.promise("P24")]
SCRIPT = Path(__file__).parent.parent / "docs" / "verify-receipt.py"


@pytest.fixture
def receipt_id(client, partner, visitor):
    client.post("/", visitor)
    client.post(f"/confirm/{confirmation_token(Subject.objects.get())}/")
    return ConsentRecord.objects.values_list("receipt_id", flat=True).first()


def in_the_log() -> Checkpoint:
    sequencer.integrate()
    return sequencer.sign_checkpoint(force=True) or proofs.latest()


def download(client, receipt_id, tmp_path: Path, change=None) -> Path:
    receipt = client.get(f"/receipt/{receipt_id}.json").json()
    if change:
        change(receipt)
    path = tmp_path / "receipt.json"
    path.write_text(json.dumps(receipt), encoding="utf-8")
    return path


def by_hand(path: Path, *keys: str) -> subprocess.CompletedProcess[str]:
    """docs/verify-receipt.py in a Python that cannot import tillit (-I -S: no site-packages)."""
    return subprocess.run(
        [sys.executable, "-I", "-S", str(SCRIPT), str(path), *keys],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_until_it_is_integrated_the_receipt_says_it_is_being_added(client, receipt_id):
    assert client.get(f"/receipt/{receipt_id}.json").json()["log"]["status"] == proofs.BEING_ADDED
    page = client.get(f"/receipt/{receipt_id}/").content.decode()
    assert 'id="log-pending"' in page


def test_the_receipt_proves_the_consent_and_the_confirmation(client, receipt_id, tmp_path, capsys):
    in_the_log()
    receipt = client.get(f"/receipt/{receipt_id}.json").json()
    log = receipt["log"]
    assert log["status"] == proofs.IN_LOG
    assert [e["action"] for e in log["entries"]] == ["subject.registered", "subject.confirmed"]
    registered = json.loads(log["entries"][0]["entry"])
    assert registered["data"]["consents"] == {"referral": "given", "offers": "given"}
    assert registered["data"]["receipt_id"] == str(receipt_id)
    call_command("log", "verify-receipt", str(download(client, receipt_id, tmp_path)))
    out = capsys.readouterr().out
    assert "verified: 2 entries" in out and "named in the receipt" in out
    page = client.get(f"/receipt/{receipt_id}/").content.decode()
    assert "Signed checkpoint" in page or "Signert sjekkpunkt" in page


def test_a_withdrawal_is_in_the_receipt_too(client, receipt_id, tmp_path, capsys):
    _withdraw(Subject.objects.get(), ["offers"])
    in_the_log()
    path = download(client, receipt_id, tmp_path)
    entries = json.loads(path.read_text())["log"]["entries"]
    assert entries[-1]["action"] == "consent.withdrawn"
    assert json.loads(entries[-1]["entry"])["data"]["purposes"] == ["offers"]
    call_command("log", "verify-receipt", str(path), "--key", logkey.load().active.vkey)
    assert "verified: 3 entries" in capsys.readouterr().out


def test_a_person_checks_it_with_nothing_of_ours(client, receipt_id, tmp_path):
    checkpoint = in_the_log()
    cosigner = note.Cosigner.generate("witness.auditor.example")
    witness = Witness.objects.create(
        name=cosigner.name, url="https://auditor.example/witness", vkey=cosigner.vkey
    )
    body = note.parse_note(checkpoint.note).text
    Cosignature.objects.create(
        witness=witness,
        checkpoint=checkpoint,
        line=cosigner.cosign(body, 1796000000),
        timestamp=1796000000,
    )
    done = by_hand(download(client, receipt_id, tmp_path), logkey.load().active.vkey, cosigner.vkey)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "subject.registered" in done.stdout and "subject.confirmed" in done.stdout
    assert f"witness {cosigner.name} co-signed" in done.stdout
    assert done.stdout.rstrip().endswith("VERIFIED")


def _consent_changed(receipt):
    entry = receipt["log"]["entries"][0]
    entry["entry"] = entry["entry"].replace('"offers":"given"', '"offers":"refused"')


def _another_subject(receipt):
    receipt["header"]["pii_principal_id"] = "subject:someone-else"


def _path_changed(receipt):
    path = receipt["log"]["entries"][0]["inclusion_path"]
    path[0] = base64.b64encode(bytes(32)).decode()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (_consent_changed, "does not hash to its leaf hash"),
        (_another_subject, "about"),
        (_path_changed, "not"),
    ],
)
def test_a_changed_receipt_fails_both_checks(client, receipt_id, tmp_path, change, message):
    in_the_log()
    path = download(client, receipt_id, tmp_path, change)
    with pytest.raises(CommandError, match=message):
        call_command("log", "verify-receipt", str(path))
    done = by_hand(path, logkey.load().active.vkey)
    assert done.returncode != 0 and "NOT VERIFIED" in done.stderr


def test_a_receipt_signed_by_another_key_fails_against_the_published_key(
    client, receipt_id, tmp_path
):
    in_the_log()
    impostor = note.Signer.generate(logkey.load().origin)

    def resigned(receipt):
        text = note.parse_note(receipt["log"]["checkpoint"]).text
        receipt["log"]["checkpoint"] = note.sign_note(text, impostor)
        receipt["log"]["verifier_key"] = impostor.vkey

    path = download(client, receipt_id, tmp_path, resigned)
    with pytest.raises(CommandError, match="not signed by the log's key"):
        call_command("log", "verify-receipt", str(path), "--key", logkey.load().active.vkey)
    assert by_hand(path, logkey.load().active.vkey).returncode != 0
