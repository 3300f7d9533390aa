import pytest

from tillit.partners import signing

SECRET = b"s3cret"
BODY = b'{"lead_id":"1"}'


@pytest.mark.promise("P17")
def test_a_signed_message_verifies():
    header = signing.sign(SECRET, BODY, purpose="lead")
    assert signing.verify(SECRET, BODY, header, purpose="lead") > 0


@pytest.mark.promise("P17")
@pytest.mark.parametrize("change", ["body", "secret", "purpose", "header", "missing"])
def test_it_refuses_what_was_not_signed(change):
    header = signing.sign(SECRET, BODY, purpose="lead")
    body, secret, purpose = BODY, SECRET, "lead"
    if change == "body":
        body = BODY.replace(b"1", b"2")
    elif change == "secret":
        secret = b"other"
    elif change == "purpose":
        purpose = "receipt"  # a lead's signature reflected back as a receipt
    elif change == "header":
        header = "v1=abc"
    else:
        header = None
    with pytest.raises(signing.SignatureError):
        signing.verify(secret, body, header, purpose=purpose)


@pytest.mark.promise("P17")
def test_it_refuses_a_replay_outside_the_tolerance():
    header = signing.sign(SECRET, BODY, purpose="lead", timestamp=1_000_000)
    with pytest.raises(signing.SignatureError, match="tolerance"):
        signing.verify(SECRET, BODY, header, purpose="lead", now=1_000_000 + 301)
    assert signing.verify(SECRET, BODY, header, purpose="lead", now=1_000_000 + 299)
