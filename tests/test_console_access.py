"""Staff sign-in and least privilege: a password and a TOTP code, lockout after failures, idle
sessions ending, and an access-control matrix of every console page against every role."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.contrib import admin
from django.core.management import call_command

from tests.conftest import STAFF_PASSWORD, make_staff, sign_in
from tillit.audit.models import AuditEvent
from tillit.console import roles, staff

pytestmark = pytest.mark.django_db

ROLE_NAMES = [roles.SUPPORT, roles.PRIVACY_OFFICER, roles.ADMINISTRATOR]
# Models whose console lets anyone add rows at all (the rest are evidence or system records).
ADDABLE = {
    "partners.partner",
    "auth.user",
    "offers.offer",
    "disclosure.disclosurecase",
    "policy.policyversion",
    "audit.witness",
}


def console_models() -> list[tuple[str, str]]:
    return sorted(
        (m._meta.app_label, m._meta.model_name)
        for m in admin.site._registry  # every model the console shows
    )


def allowed(role: str, app: str, model: str, what: str) -> bool:
    """What the role should be able to do, from roles.ROLES (written independently of how the
    admin decides it)."""
    granted = set(roles.ROLES[role])
    if what == "add":
        return f"{app}.{model}" in ADDABLE and f"{app}.add_{model}" in granted
    return f"{app}.view_{model}" in granted or f"{app}.change_{model}" in granted


def matrix() -> list[tuple[str, str, str, str]]:
    cases = []
    for app, model in console_models():
        for what in ("changelist", "add"):
            for role in [*ROLE_NAMES, "anonymous"]:
                cases.append((role, app, model, what))
    return cases


@pytest.fixture
def everyone(db):
    return {role: make_staff(f"staff-{role}", role) for role in ROLE_NAMES}


@pytest.mark.promise("P21")
def test_every_console_page_against_every_role(client, everyone):
    """Each role reaches exactly its own pages; the rest refuse it with a 403 that is audited;
    without signing in, every page sends you to the sign-in form."""
    wrong = []
    for role in [*ROLE_NAMES, "anonymous"]:
        client.logout()
        if role != "anonymous":
            sign_in(client, everyone[role])
        for app, model in console_models():
            for what in ("changelist", "add"):
                url = f"/console/{app}/{model}/" + ("add/" if what == "add" else "")
                status = client.get(url).status_code
                if role == "anonymous":
                    expected = 302
                else:
                    expected = 200 if allowed(role, app, model, what) else 403
                if status != expected:
                    wrong.append(f"{role} {what} {app}.{model}: {status}, expected {expected}")
    # The console's own pages, and an action on a page the role may see.
    for role, expected in [
        ("anonymous", 302),
        (roles.SUPPORT, 403),
        (roles.ADMINISTRATOR, 403),
        (roles.PRIVACY_OFFICER, 200),
    ]:
        client.logout()
        if role != "anonymous":
            sign_in(client, everyone[role])
        status = client.get("/console/cookie-consent/").status_code
        if status != expected:
            wrong.append(f"{role} cookie-consent: {status}, expected {expected}")
    assert not wrong, "\n".join(wrong)
    denied = AuditEvent.objects.filter(action="console.denied")
    assert denied.exists() and {e.actor for e in denied} == {
        f"staff:{u.pk}" for u in everyone.values()
    }


@pytest.mark.promise("P21")
def test_each_role_sees_only_its_own_menus(client, everyone):
    menus = {}
    for role in ROLE_NAMES:
        client.logout()
        sign_in(client, everyone[role])
        menus[role] = client.get("/console/").content.decode()
    assert "/console/rights/rightsrequest/" in menus[roles.SUPPORT]
    assert "/console/partners/partner/" not in menus[roles.SUPPORT]
    assert "/console/audit/auditevent/" not in menus[roles.SUPPORT]
    assert "/console/cookie-consent/" in menus[roles.PRIVACY_OFFICER]
    assert "/console/auth/user/" not in menus[roles.PRIVACY_OFFICER]
    assert "/console/auth/user/" in menus[roles.ADMINISTRATOR]
    assert "/console/rights/rightsrequest/" not in menus[roles.ADMINISTRATOR]
    assert "/console/cookie-consent/" not in menus[roles.ADMINISTRATOR]


@pytest.mark.promise("P21")
def test_a_password_alone_does_not_let_anyone_in(client, privacy_officer):
    def attempt(code: str):
        return client.post(
            "/console/login/",
            {"username": "personvern", "password": STAFF_PASSWORD, "otp_token": code},
        )

    assert attempt("").status_code == 200  # the form again, asking for the code
    # The clock stands still: "straight after" must not depend on how busy the machine is.
    with time_machine.travel(datetime.now(UTC), tick=False):
        wrong = f"{(int(staff.current_code(privacy_officer)) + 1) % 1_000_000:06d}"
        refused = attempt(wrong)
        assert refused.status_code == 200 and "/console/login/" in refused.request["PATH_INFO"]
        assert client.get("/console/").status_code == 302  # still outside
        # Guessing is slowed down: straight after a wrong code, even the right one is refused.
        throttled = attempt(staff.current_code(privacy_officer))
        assert throttled.status_code == 200
        assert "temporarily disabled" in throttled.content.decode()
    with time_machine.travel(datetime.now(UTC) + timedelta(seconds=5)):
        sign_in(client, privacy_officer)
        assert client.get("/console/").status_code == 200
    assert (
        AuditEvent.objects.filter(
            action="staff.signed_in", actor=f"staff:{privacy_officer.pk}"
        ).count()
        == 1
    )


@pytest.mark.promise("P21")
def test_repeated_failures_lock_the_account_until_unlocked(client, support, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        client.post(
            "/console/login/",
            {"username": "kundeservice", "password": "not the password", "otp_token": "000000"},
        )
    locked = client.post(
        "/console/login/",
        {
            "username": "kundeservice",
            "password": STAFF_PASSWORD,
            "otp_token": staff.current_code(support),
        },
    )
    assert locked.status_code == 429 and "locked" in locked.content.decode()
    assert AuditEvent.objects.filter(
        action="staff.locked_out", target=f"staff:{support.pk}"
    ).exists()
    assert client.get("/console/").status_code == 302
    call_command("staff", "unlock", "kundeservice")
    sign_in(client, support)
    assert client.get("/console/").status_code == 200


@pytest.mark.promise("P21")
def test_an_idle_session_ends(client, support, settings):
    sign_in(client, support)
    assert client.get("/console/").status_code == 200
    later = datetime.now(UTC) + timedelta(minutes=settings.STAFF_IDLE_MINUTES + 1)
    with time_machine.travel(later):
        gone = client.get("/console/")
    assert gone.status_code == 302 and "/console/login/" in gone["Location"]
    assert AuditEvent.objects.filter(action="staff.session_expired").exists()


@pytest.mark.promise("P21")
def test_staff_pages_are_never_cached_and_carry_the_security_headers(client, administrator):
    sign_in(client, administrator)
    for url in ("/console/", "/console/partners/partner/", "/console/auth/user/"):
        page = client.get(url)
        assert page.status_code == 200
        assert "no-store" in page["Cache-Control"], url
        assert page["X-Frame-Options"] == "DENY"
        assert page["X-Content-Type-Options"] == "nosniff"
        assert "default-src 'self'" in page["Content-Security-Policy"]


@pytest.mark.promise("P21")
def test_an_administrator_cannot_make_anyone_a_superuser(client, administrator, support):
    sign_in(client, administrator)
    form = client.get(f"/console/auth/user/{support.pk}/change/").content.decode()
    assert "is_superuser" not in form and "user_permissions" not in form
    client.post(
        f"/console/auth/user/{support.pk}/change/",
        {
            "username": "kundeservice",
            "is_active": "on",
            "is_superuser": "on",
            "groups": [],
        },
    )
    support.refresh_from_db()
    assert not support.is_superuser
    assert roles.of(support) == []  # the role was taken away, which an administrator may do
    assert AuditEvent.objects.filter(action="staff.changed").exists()


@pytest.mark.promise("P21")
def test_staff_commands_enrol_list_and_change_roles(capsys):
    call_command("staff", "add", "ny", "--role", "support")
    out = capsys.readouterr().out
    assert "password for ny (shown once)" in out and "otpauth://totp/" in out
    call_command("staff", "role", "ny", "privacy_officer")
    call_command("staff", "list")
    assert "privacy_officer" in capsys.readouterr().out
    call_command("staff", "disable", "ny")
    from django.contrib.auth import get_user_model

    assert not get_user_model().objects.get(username="ny").is_active


@pytest.mark.promise("P21")
def test_support_may_see_the_rights_queue_but_not_refuse_or_extend(client, everyone):
    from tillit.rights.models import RightsRequest

    request = RightsRequest.objects.create(
        kind="access", due_at=datetime.now(UTC) + timedelta(days=30)
    )
    sign_in(client, everyone[roles.SUPPORT])
    queue = client.get("/console/rights/rightsrequest/").content.decode()
    assert request.reference in queue and "refuse_request" not in queue
    for action in ("refuse_request", "extend_deadline"):
        refused = client.post(
            "/console/rights/rightsrequest/",
            {"action": action, "_selected_action": [str(request.id)], "reason": "no"},
        )
        assert refused.status_code == 403
    request.refresh_from_db()
    assert request.state == "received" and not request.extended_until
    assert (
        AuditEvent.objects.filter(
            action="console.denied", actor=f"staff:{everyone[roles.SUPPORT].pk}"
        ).count()
        == 2
    )


@pytest.mark.promise("P21")
def test_an_older_installations_superuser_becomes_an_administrator_with_an_authenticator(
    capsys,
):
    from django.contrib.auth import get_user_model
    from django_otp.plugins.otp_totp.models import TOTPDevice

    old = get_user_model().objects.create_superuser("admin", None, STAFF_PASSWORD)
    call_command("init")
    out = capsys.readouterr().out
    old.refresh_from_db()
    assert not old.is_superuser and roles.of(old) == [roles.ADMINISTRATOR]
    assert TOTPDevice.objects.filter(user=old).count() == 1 and "otpauth://" in out
    assert old.check_password(STAFF_PASSWORD)
