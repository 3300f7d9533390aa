import pytest

from tillit_partner import signing

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


@pytest.mark.promise("P17")
def test_during_a_rotation_either_secret_verifies_and_a_third_does_not():
    """tillit signs with the new and the old secret while a rotation overlaps; a partner that
    holds either one accepts, and tillit takes an answer signed with either."""
    new, old = b"the-new-secret", SECRET
    header = signing.sign([new, old], BODY, purpose="lead")
    assert header.count("v1=") == 2
    for held in (new, old, [new, old]):
        assert signing.verify(held, BODY, header, purpose="lead") > 0
    answer = signing.sign(old, BODY, purpose="receipt")
    assert signing.verify([new, old], BODY, answer, purpose="receipt") > 0
    with pytest.raises(signing.SignatureError, match="does not match"):
        signing.verify(b"a-third-secret", BODY, header, purpose="lead")
    with pytest.raises(signing.SignatureError, match="does not match"):
        signing.verify([new], BODY, answer, purpose="receipt")


@pytest.mark.promise("P17")
@pytest.mark.parametrize(
    "header",
    [
        "t=1,t=2,v1=" + "0" * 64,  # two timestamps
        "t=1",  # no signature at all
        "t=1," + ",".join(["v1=" + "0" * 64] * (signing.MAX_SIGNATURES + 1)),  # guessing
    ],
)
def test_a_header_with_no_one_timestamp_or_too_many_signatures_is_malformed(header):
    t = int(header.split(",")[0][2:])
    with pytest.raises(signing.SignatureError, match="malformed"):
        signing.verify(SECRET, BODY, header, purpose="lead", now=t)


@pytest.mark.promise("P17")
def test_too_many_signatures_are_refused_even_if_one_is_right():
    good = signing.sign(SECRET, BODY, purpose="lead", timestamp=1)
    padded = good + "".join(",v1=" + "0" * 64 for _ in range(signing.MAX_SIGNATURES))
    with pytest.raises(signing.SignatureError, match="malformed"):
        signing.verify(SECRET, BODY, padded, purpose="lead", now=1)
