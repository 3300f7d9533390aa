"""The staff console in a real browser, one workflow per role, each signing in with a password
and the code an authenticator app would show (computed from the otpauth:// link that
`tillit staff add` printed). Support sees the rights queue but cannot act on it; the privacy
officer extends a request and the person is told why; the administrator pauses a partner."""

from __future__ import annotations

import re
from base64 import b32decode

import pytest
from django_otp.oath import totp

from tests.e2e.conftest import CHROMIUM, CONFIRM_LINK, Console, StaffMember, csrf_token, until
from tests.processes import reference_partner

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.browser,
    pytest.mark.timeout(240),
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"no Chromium at {CHROMIUM}"),
]

PERSON = "konsoll@example.com"


@pytest.fixture
def console_site(make_operator, smtp, visitors, tmp_path):
    """An operator whose partner holds rights requests for an hour (so they stay open), with
    one person who has asked for their data."""
    with reference_partner(tmp_path / "partner", PARTNER_DSR_HOLD_SECONDS="3600") as partner:
        site = make_operator(smtp_port=smtp.port)
        site.add_reference_partner(partner)
        site.start_web()
        site.start_worker()
        person = visitors(site.url)
        person.sign_up(
            {
                "name": "Kari Konsoll",
                "email": PERSON,
                "country": "NO",
                "phone": "",
                "consent_partner": "on",
            }
        )
        person.confirm(smtp.wait_for(PERSON).link(CONFIRM_LINK))
        until(lambda: len(partner.leads()) == 1, 30, "the partner has the lead")
        http = person.http
        form = http.get("/en/privacy/")
        started = http.post(
            "/en/privacy/",
            data={"kind": "access", "email": PERSON, "csrfmiddlewaretoken": csrf_token(form.text)},
        )
        code_mail = until(lambda: [m for m in smtp.to(PERSON) if "code" in m.subject], 30, "code")
        code = re.search(r"\b(\d{6})\b", code_mail[-1].text).group(1)
        verify = started.headers["location"]
        page = http.get(verify)
        confirm = http.post(
            verify, data={"code": code, "csrfmiddlewaretoken": csrf_token(page.text)}
        ).headers["location"]
        page = http.get(confirm)
        http.post(confirm, data={"csrfmiddlewaretoken": csrf_token(page.text)})
        until(
            lambda: site.db.scalar("SELECT state FROM rights_partnertask") == "pending",
            30,
            "the partner has the request, pending",
        )
        yield site


@pytest.mark.promise("P21")
@pytest.mark.promise("P25")
def test_one_workflow_per_role(console_site, smtp, browser):
    site = console_site
    reference = site.db.scalar("SELECT id FROM rights_rightsrequest")
    support = StaffMember(site, "kundeservice", "support")
    officer = StaffMember(site, "personvern", "privacy_officer")
    admin = StaffMember(site, "driftsansvarlig", "administrator")

    # Support: the queue with its countdown, and nothing to act with.
    context, page = support.sign_in(browser, site.url)
    console = Console(page)
    try:
        page.get_by_role("link", name="Rights requests").click()
        row = page.locator("#result_list tbody tr").first
        assert re.fullmatch(r"\d+", row.locator("td.field-days_left").inner_text())
        assert page.locator("select[name=action] option[value=extend_deadline]").count() == 0
        assert page.get_by_role("link", name="Partners").count() == 0
        assert console.errors == []
    finally:
        context.close()

    # The privacy officer: extends the deadline with a reason the person reads.
    context, page = officer.sign_in(browser, site.url)
    console = Console(page)
    try:
        page.get_by_role("link", name="Rights requests").click()
        page.locator("#result_list tbody input[type=checkbox]").first.check()
        page.locator("select[name=action]").select_option("extend_deadline")
        page.get_by_role("button", name="Run").click()
        page.get_by_label("Reason (the person reads this)").fill(
            "The partner needs time to gather records from its archive."
        )
        page.get_by_role("button", name="Extend and tell the person").click()
        page.get_by_text("extended, person told").wait_for()
        assert console.errors == []
    finally:
        context.close()
    told = until(
        lambda: [m for m in smtp.to(PERSON) if "more time" in m.subject], 30, "the person is told"
    )
    assert "gather records from its archive" in told[-1].text
    assert site.db.scalar("SELECT extended_until FROM rights_rightsrequest") is not None

    # The administrator: pauses the partner, and sees it in the audit log.
    context, page = admin.sign_in(browser, site.url)
    console = Console(page)
    try:
        assert page.get_by_role("link", name="Rights requests").count() == 0
        page.locator("#partners-partner").get_by_role("link", name="Partners").click()
        page.get_by_role("link", name="Megler Eksempel AS").click()
        page.get_by_label("Active").uncheck()
        page.get_by_role("button", name="Save", exact=True).click()
        page.get_by_text("was changed successfully").wait_for()
        page.goto(site.url + f"/console/rights/rightsrequest/{reference}/change/")
        assert "Not for your role" in page.content()
        assert console.errors == [] or all("403" in e for e in console.errors)
    finally:
        context.close()
    assert site.db.scalar("SELECT active FROM partners_partner") in (False, 0)
    denied = site.db.scalar("SELECT count(*) FROM audit_auditevent WHERE action = 'console.denied'")
    assert denied == 1


NEWCOMER = "nyansatt@example.com"
NEW_PASSWORD = "fire blå hester i snøen"
ENROL_LINK = re.compile(r"https?://\S+/console/enrol/[A-Za-z0-9_-]+/")


@pytest.mark.promise("P21")
def test_a_new_staff_member_is_invited_and_enrols_in_the_browser(
    make_operator, smtp, browser, tmp_path
):
    """No shell after the first administrator: the administrator invites in the console, the
    worker e-mails the link over SMTP, the newcomer sets a password and an authenticator (by
    the key shown under the QR code), keeps the recovery codes and signs in."""
    site = make_operator(smtp_port=smtp.port)
    site.start_web()
    site.start_worker()
    admin = StaffMember(site, "driftsansvarlig", "administrator")
    context, page = admin.sign_in(browser, site.url)
    console = Console(page)
    try:
        page.get_by_role("link", name="Users").first.click()
        page.get_by_role("link", name="Add user").click()
        page.get_by_label("Username").fill("nyansatt")
        page.get_by_label("Email address").fill(NEWCOMER)
        page.get_by_label("Role").select_option("support")
        page.get_by_label("Language").select_option("en")
        page.get_by_role("button", name="Save", exact=True).click()
        page.get_by_text("The invitation is on its way").wait_for()
        assert console.errors == []
    finally:
        context.close()

    invitation = until(lambda: smtp.to(NEWCOMER), 30, "the invitation is e-mailed")[-1]
    link = ENROL_LINK.search(invitation.text).group(0)
    context = browser.new_context(locale="en-GB")
    context.set_default_timeout(15_000)
    page = context.new_page()
    console = Console(page)
    try:
        page.goto(link)
        page.get_by_role("button", name="Start").click()
        page.get_by_label("New password:", exact=True).fill(NEW_PASSWORD)
        page.get_by_label("New password confirmation").fill(NEW_PASSWORD)
        page.get_by_role("button", name="Next").click()
        assert page.get_by_role("img", name="QR code for your authenticator app").count() == 1
        page.get_by_text("Cannot scan? Type the key instead").click()
        typed = page.locator(".enrol-key").inner_text().replace(" ", "")
        key = b32decode(typed + "=" * (-len(typed) % 8))
        page.get_by_label("The 6-digit code your app shows now").fill(f"{totp(key):06d}")
        page.get_by_role("button", name="Confirm").click()
        codes = page.locator(".enrol-codes code").all_inner_texts()
        assert len(codes) == 10 and all(re.fullmatch(r"[a-z0-9]{5}-[a-z0-9]{5}", c) for c in codes)
        page.get_by_role("link", name="Sign in").click()
        page.get_by_label("Username").fill("nyansatt")
        page.get_by_label("Password").fill(NEW_PASSWORD)
        page.get_by_label("Code from your authenticator app").fill(codes[0])
        page.get_by_role("button", name="Log in").click()
        page.get_by_role("heading", name="Site administration").wait_for()
        assert page.get_by_role("link", name="Rights requests").count() == 1  # support's menu
        assert console.errors == []
    finally:
        context.close()
    used = site.db.scalar(
        "SELECT count(*) FROM audit_auditevent WHERE action = 'staff.recovery_code_used'"
    )
    assert used == 1
