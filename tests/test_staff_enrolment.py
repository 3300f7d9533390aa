"""Staff enrolment in the browser (issue 15, point 2): an administrator invites by e-mail; the
invitee opens a one-time link, sets a password (Django's validators), enrols an authenticator
by QR code and gets recovery codes shown once; a lost authenticator is reset by an
administrator, audited, the person told by e-mail. No step needs a shell."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django.test import Client
from django.utils import timezone
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from tests.conftest import STAFF_PASSWORD, make_staff, sign_in
from tests.rights_helpers import drain_tasks
from tillit.audit.models import AuditEvent
from tillit.console import enrolment, roles
from tillit.console.models import Invitation, RecoveryCodes

# The worker runs the e-mail jobs, and its job loop closes a connection left inside a
# transaction: these tests commit, as the product does.
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.promise("P21")]

NEW = "ny@example.com"
GOOD_PASSWORD = "lilla ekorn spiser 7 nøtter"
LINK = re.compile(r"https?://\S+/console/enrol/[A-Za-z0-9_-]+/")


def invite(client: Client, username: str = "ny", language: str = "en", role: str = "support"):
    return client.post(
        "/console/auth/user/add/",
        {"username": username, "email": NEW, "role": role, "language": language},
    )


def mailed_link() -> str:
    drain_tasks()
    [message] = [m for m in mail.outbox if m.to == [NEW]]
    mail.outbox.clear()
    return LINK.search(message.body).group(0).split("://", 1)[1].split("/", 1)[1]


def path_of(link: str) -> str:
    return "/" + link


def code_now(user, *, pending: bool = False, ahead: int = 0) -> str:
    device = TOTPDevice.objects.get(user=user, confirmed=not pending)
    value = totp(device.bin_key, device.step, device.t0, device.digits, ahead)
    return f"{value:06d}"


def enrol(browser: Client, link: str, password: str = GOOD_PASSWORD) -> list[str]:
    """The invitee's whole way: Start, a password, the app's code; the recovery codes."""
    assert browser.post(path_of(link)).status_code == 302
    step = browser.post("/console/enrol/", {"new_password1": password, "new_password2": password})
    assert step.status_code == 302, step.content.decode()[:3000]
    page = browser.get("/console/enrol/")
    assert "<svg" in page.content.decode()
    user = Invitation.objects.get().user
    done = browser.post("/console/enrol/", {"code": code_now(user, pending=True)})
    assert done.status_code == 200
    return re.findall(r"<code>([a-z0-9]{5}-[a-z0-9]{5})</code>", done.content.decode())


def unthrottle() -> None:
    """A wrong code makes the next try wait a second (django-otp's back-off): tests do not."""
    for model in (TOTPDevice, RecoveryCodes):
        model.objects.update(throttling_failure_timestamp=None)


def signs_in(username: str, password: str, code: str, browser: Client | None = None) -> bool:
    unthrottle()
    TOTPDevice.objects.update(last_t=-1)  # a code is good once: tests sign in within 30 s
    answer = (browser or Client()).post(
        "/console/login/",
        {"username": username, "password": password, "otp_token": code, "next": "/console/"},
    )
    return answer.status_code == 302


def test_an_administrator_invites_and_the_invitee_enrols_in_the_browser(client, administrator):
    sign_in(client, administrator)
    assert invite(client).status_code == 302
    user = get_user_model().objects.get(username="ny")
    assert not user.has_usable_password() and roles.of(user) == ["support"]
    assert not signs_in("ny", "", "000000")
    link = mailed_link()
    assert Invitation.objects.get().token_hash not in link  # only the token's hash is kept

    browser = Client()
    start = browser.get(path_of(link))
    assert start.status_code == 200 and "Start" in start.content.decode()
    assert browser.get(path_of(link)).status_code == 200  # a mail scanner's fetch claims nothing
    assert browser.post(path_of(link)).status_code == 302
    weak = browser.post("/console/enrol/", {"new_password1": "ny", "new_password2": "ny"})
    assert weak.status_code == 200 and "errorlist" in weak.content.decode()  # the validators
    user.refresh_from_db()
    assert not user.has_usable_password()
    browser.post(
        "/console/enrol/", {"new_password1": GOOD_PASSWORD, "new_password2": GOOD_PASSWORD}
    )
    page = browser.get("/console/enrol/").content.decode()
    assert "<svg" in page and "QR code for your authenticator app" in page
    wrong = browser.post("/console/enrol/", {"code": code_now(user, pending=True, ahead=-40)})
    assert "4 tries left" in wrong.content.decode()
    too_soon = browser.post("/console/enrol/", {"code": code_now(user, pending=True)})
    assert "Wait a few seconds" in too_soon.content.decode()  # not counted as a wrong code
    unthrottle()
    done = browser.post("/console/enrol/", {"code": code_now(user, pending=True)})
    codes = re.findall(r"<code>([a-z0-9]{5}-[a-z0-9]{5})</code>", done.content.decode())
    assert len(set(codes)) == 10
    assert "no-store" in done["Cache-Control"]

    assert signs_in("ny", GOOD_PASSWORD, code_now(user))
    assert browser.get(path_of(link)).status_code == 410  # used once
    assert Client().get(path_of(link)).status_code == 410
    assert browser.get("/console/enrol/").status_code == 410
    actions = list(AuditEvent.objects.values_list("action", flat=True))
    for action in ("staff.invited", "staff.link_sent", "staff.password_set", "staff.enrolled"):
        assert action in actions


def test_the_first_browser_to_start_owns_the_link(client, administrator):
    sign_in(client, administrator)
    invite(client)
    link = mailed_link()
    first, second = Client(), Client()
    first.post(path_of(link))
    assert second.post(path_of(link)).status_code == 410
    assert second.get("/console/enrol/").status_code == 410
    assert first.get("/console/enrol/").status_code == 200


def test_an_expired_link_and_a_forged_one_do_nothing(client, administrator):
    sign_in(client, administrator)
    invite(client)
    link = mailed_link()
    assert Client().post("/console/enrol/" + "x" * 27 + "/").status_code == 410
    Invitation.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    gone = Client().post(path_of(link))
    assert gone.status_code == 410 and "Ask an administrator" in gone.content.decode()
    assert Invitation.objects.get().claim_hash == ""


def test_recovery_codes_sign_in_once_each_and_the_person_is_told(client, administrator):
    sign_in(client, administrator)
    invite(client)
    codes = enrol(Client(), mailed_link())
    assert signs_in("ny", GOOD_PASSWORD, codes[0].upper())  # typed in capitals, still good
    assert not signs_in("ny", GOOD_PASSWORD, codes[0])  # once only
    assert signs_in("ny", GOOD_PASSWORD, codes[1].replace("-", " "))
    assert RecoveryCodes.objects.get().left() == 8
    assert not signs_in("ny", "not the password", codes[2])
    assert RecoveryCodes.objects.get().left() == 8  # a wrong password spends no code
    event = AuditEvent.objects.filter(action="staff.recovery_code_used").last()
    assert event.data == {"left": 8}
    drain_tasks()
    told = [m for m in mail.outbox if m.to == [NEW]]
    assert len(told) == 2 and "8 recovery codes left" in told[-1].body


def test_an_administrator_resets_a_lost_authenticator(client, administrator):
    sign_in(client, administrator)
    invite(client)
    codes = enrol(Client(), mailed_link())
    user = get_user_model().objects.get(username="ny")
    old = code_now(user)
    client.post(
        "/console/auth/user/",
        {"action": "reset_authenticator", "_selected_action": [str(user.pk)]},
    )
    assert not signs_in("ny", GOOD_PASSWORD, old)  # the lost phone no longer signs in
    assert not signs_in("ny", GOOD_PASSWORD, codes[0])  # nor do the old recovery codes
    event = AuditEvent.objects.get(action="staff.otp_reset")
    assert (event.actor, event.target) == (f"staff:{administrator.pk}", f"staff:{user.pk}")
    drain_tasks()
    [told] = [m for m in mail.outbox if m.to == [NEW]]
    assert "reset" in told.subject and "If you did not ask for this" in told.body
    link = LINK.search(told.body).group(0).split("://", 1)[1].split("/", 1)[1]

    browser = Client()
    browser.post(path_of(link))
    page = browser.get("/console/enrol/").content.decode()
    assert 'name="password"' in page and "new_password1" not in page  # the password is kept
    wrong = browser.post("/console/enrol/", {"password": "not it"})
    assert "That is not your password." in wrong.content.decode()
    browser.post("/console/enrol/", {"password": GOOD_PASSWORD})
    assert "<svg" in browser.get("/console/enrol/").content.decode()
    done = browser.post("/console/enrol/", {"code": code_now(user, pending=True)})
    assert len(re.findall(r"<code>[a-z0-9]{5}-[a-z0-9]{5}</code>", done.content.decode())) == 10
    assert signs_in("ny", GOOD_PASSWORD, code_now(user))


def test_five_wrong_passwords_wear_the_link_out(client, administrator):
    sign_in(client, administrator)
    user = make_staff("glemsk", "support")
    user.email = NEW
    user.save()
    enrolment.new_link(user, "reset", by="test")
    link = mailed_link()
    browser = Client()
    browser.post(path_of(link))
    for _ in range(4):
        assert browser.post("/console/enrol/", {"password": "wrong"}).status_code == 200
    assert browser.post("/console/enrol/", {"password": "wrong"}).status_code == 410
    assert browser.post("/console/enrol/", {"password": STAFF_PASSWORD}).status_code == 410
    assert AuditEvent.objects.filter(action="staff.link_worn_out").count() == 1
    assert not TOTPDevice.objects.filter(user=user, confirmed=True).exists()


def test_only_an_administrator_invites_and_nobody_resets_their_own(client, administrator, support):
    sign_in(client, support)
    assert invite(client, "inntrenger").status_code == 403
    assert not get_user_model().objects.filter(username="inntrenger").exists()
    admin_client = Client()
    sign_in(admin_client, administrator)
    admin_client.post(
        "/console/auth/user/",
        {"action": "reset_authenticator", "_selected_action": [str(administrator.pk)]},
    )
    assert TOTPDevice.objects.filter(user=administrator, confirmed=True).exists()
    assert not Invitation.objects.exists()
    # No page where one person sets another's password.
    assert admin_client.get(f"/console/auth/user/{support.pk}/password/").status_code == 404


def test_the_invitee_reads_the_e_mail_and_the_console_in_their_language(client, administrator):
    sign_in(client, administrator)
    invite(client, language="nb")
    drain_tasks()
    [message] = [m for m in mail.outbox if m.to == [NEW]]
    assert "konsoll" in message.subject.lower() and "Hei" in message.body
    mail.outbox.append(message)
    browser = Client()
    link = LINK.search(message.body).group(0).split("://", 1)[1].split("/", 1)[1]
    codes = enrol(browser, link)
    assert len(codes) == 10
    user = get_user_model().objects.get(username="ny")
    signed = Client()
    assert signs_in("ny", GOOD_PASSWORD, code_now(user), signed)
    assert "Logg ut" in signed.get("/console/").content.decode()


def test_a_staff_member_switches_the_console_to_norwegian_and_back(client, support):
    sign_in(client, support)
    assert "Log out" in client.get("/console/").content.decode()
    switched = client.post(
        "/console/language/", {"language": "nb", "next": "/console/rights/rightsrequest/"}
    )
    assert switched["Location"] == "/console/rights/rightsrequest/"
    page = client.get("/console/").content.decode()
    assert "Logg ut" in page and 'value="en" lang="en">English' in page
    away = client.post("/console/language/", {"language": "en", "next": "https://example.com/"})
    assert away["Location"] == "/console/"  # never sent off the console
    assert "Log out" in client.get("/console/").content.decode()
    assert client.post("/console/language/", {"language": "xx"}).status_code == 302
    assert "Log out" in client.get("/console/").content.decode()


def test_a_new_invitation_stops_the_old_sign_in_and_shows_a_new_key(client, administrator):
    """Found by review: an abandoned link's key was shown again with the next link, and the
    old authenticator signed in until the new one was confirmed."""
    sign_in(client, administrator)
    invite(client)
    user = get_user_model().objects.get(username="ny")
    abandoned = Client()
    abandoned.post(path_of(mailed_link()))
    good = {"new_password1": GOOD_PASSWORD, "new_password2": GOOD_PASSWORD}
    abandoned.post("/console/enrol/", good)
    seen = re.search(
        r'class="enrol-key">([A-Z2-7 ]+)<', abandoned.get("/console/enrol/").content.decode()
    )
    client.post(
        "/console/auth/user/", {"action": "send_invitation", "_selected_action": [str(user.pk)]}
    )
    assert AuditEvent.objects.filter(action="staff.link_made", actor=f"staff:{administrator.pk}")
    fresh = Client()
    fresh.post(path_of(mailed_link()))
    fresh.post("/console/enrol/", good)
    shown = re.search(
        r'class="enrol-key">([A-Z2-7 ]+)<', fresh.get("/console/enrol/").content.decode()
    )
    assert seen.group(1) != shown.group(1)
    fresh.post("/console/enrol/", {"code": code_now(user, pending=True)})
    old = code_now(user)
    client.post(
        "/console/auth/user/", {"action": "send_invitation", "_selected_action": [str(user.pk)]}
    )
    assert not signs_in("ny", GOOD_PASSWORD, old)  # password and authenticator stop at once
    assert enrolment.state(user) == "waiting"


def test_an_administrator_cannot_reinvite_themselves(client, administrator):
    sign_in(client, administrator)
    administrator.email = NEW
    administrator.save()
    client.post(
        "/console/auth/user/",
        {"action": "send_invitation", "_selected_action": [str(administrator.pk)]},
    )
    assert not Invitation.objects.exists()
    assert TOTPDevice.objects.filter(user=administrator, confirmed=True).exists()


def test_a_worn_out_link_shows_as_expired_and_a_dead_link_keeps_the_live_claim(
    client, administrator
):
    sign_in(client, administrator)
    invite(client)
    old = mailed_link()
    user = get_user_model().objects.get(username="ny")
    enrolment.new_link(user, "invite", by="test")
    live = mailed_link()
    browser = Client()
    browser.post(path_of(live))
    assert browser.get(path_of(old)).status_code == 410  # the replaced link, opened by mistake
    assert browser.get("/console/enrol/").status_code == 200  # the live one still works
    Invitation.objects.update(failures=5)
    assert enrolment.state(user) == "expired"


def test_the_enrolment_pages_speak_the_invitees_language(client, administrator):
    sign_in(client, administrator)
    invite(client, language="nb")
    start = Client().get(path_of(mailed_link())).content.decode()
    assert "Begynn" in start and 'lang="nb"' in start
