"""A staff account, model-checked: an invitation, its link sent, opened by one browser or
two, wrong passwords and codes, enrolment, sign-ins with the right and the wrong password,
new invitations and authenticator resets, disabling and enabling, and the clock (links
expire), in any order Hypothesis finds, against the real database (P21).

The browser's steps are enrolment.py's functions, as the console's enrolment views call them
(tests/test_staff_enrolment.py drives the same way through the pages); signing in is Django's
`authenticate` through the console's backends (django-axes first)."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest
from django.contrib.auth import authenticate, get_user_model
from django.test import RequestFactory, override_settings
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice
from hypothesis import strategies as st
from hypothesis.stateful import initialize, invariant, precondition, rule

from tests.machines import Machine, explore
from tillit.console import enrolment, staff
from tillit.console.models import MAX_FAILURES, Invitation, LinkKind
from tillit.console.staff import STAFF, AccountState, with_account_state

pytestmark = pytest.mark.django_db(transaction=True)

ADMIN = "staff:administrator"
PASSWORD = "a long and good password for the machine"
_names = itertools.count()
FAST_HASHER = "django.contrib.auth.hashers.MD5PasswordHasher"


def pending_code(user) -> str:  # noqa: ANN001
    device = TOTPDevice.objects.get(user=user, confirmed=False)
    return f"{totp(device.bin_key, device.step, device.t0, device.digits, 0):06d}"


class StaffAccounts(Machine):
    def __init__(self) -> None:
        super().__init__()
        # Argon2 is the product's hasher and takes its time on purpose: here a fast one.
        self._hashers = override_settings(PASSWORD_HASHERS=[FAST_HASHER])
        self._hashers.enable()
        self.user = None
        self.tokens: list[str] = []  # every link token the person was ever sent
        self.sessions: list[dict] = [{}, {}]  # two browsers
        self.password_set = False

    def teardown(self) -> None:
        self._hashers.disable()
        super().teardown()

    def watches(self):
        users = get_user_model().objects.filter(pk=self.user.pk if self.user else None)
        return [(STAFF, with_account_state(users))]

    def _fresh(self):
        return get_user_model().objects.get(pk=self.user.pk)

    @initialize()
    def an_administrator_invites_someone(self) -> None:
        name = f"machine-{next(_names)}"
        self.user = get_user_model()(username=name, email=f"{name}@example.com")
        enrolment.invite(self.user, "support", "en", by=ADMIN)
        self.the_worker_sends_the_link()

    # The worker and the person

    @rule()
    def the_worker_sends_the_link(self) -> None:
        link = Invitation.objects.filter(user=self.user).first()
        if link is not None and link.open:
            self.tokens.append(link.issue_token())

    @precondition(lambda self: self.tokens)
    @rule(data=st.data(), browser=st.integers(0, 1))
    def a_browser_opens_a_link(self, data: st.DataObject, browser: int) -> None:
        # Mostly the latest link; now and then an older one, kept in the mailbox.
        token = data.draw(st.sampled_from([*self.tokens[-1:] * 3, *self.tokens]))
        try:
            enrolment.claim(token, self.sessions[browser])
        except enrolment.Refused:
            pass

    def _claimed(self, browser: int):  # noqa: ANN202
        try:
            return enrolment.claimed(self.sessions[browser])
        except enrolment.Refused:
            return None

    @rule(browser=st.integers(0, 1))
    def the_browser_tries_a_wrong_password_or_code(self, browser: int) -> None:
        link = self._claimed(browser)
        if link is not None:
            enrolment.failed(link)

    @rule(browser=st.integers(0, 1))
    def the_person_enrols(self, browser: int) -> None:
        """A password (an invitation) or the old one given (a reset), then the app's code."""
        link = self._claimed(browser)
        if link is None:
            return
        if link.kind == LinkKind.INVITE:
            enrolment.proven(link, PASSWORD)
            self.password_set = True
        else:
            enrolment.proven(link)
        enrolment.authenticator(link)
        TOTPDevice.objects.filter(user=self.user).update(throttling_failure_timestamp=None)
        assert enrolment.confirm(link, pending_code(self.user)) is not None

    @rule(right=st.booleans())
    def the_person_signs_in(self, right: bool) -> None:
        request = RequestFactory().post("/console/login/")
        password = PASSWORD if right else "not the password"
        user = authenticate(request, username=self.user.username, password=password)
        fresh = self._fresh()
        if user is not None:
            assert right and fresh.is_active, "a disabled account or a wrong password got in"
            assert fresh.has_usable_password() and self.password_set

    # The administrator and the clock

    @rule(kind=st.sampled_from(LinkKind.values), sent=st.booleans())
    def an_administrator_sends_a_new_link(self, kind: str, sent: bool) -> None:
        """As the console's actions do: only for an active account; the worker sends it at
        once, or later."""
        if self._fresh().is_active:
            enrolment.new_link(self._fresh(), kind, by=ADMIN)
            if kind == LinkKind.INVITE:
                self.password_set = False
            if sent:
                self.the_worker_sends_the_link()

    @rule(active=st.booleans(), via_cli=st.booleans())
    def an_administrator_enables_or_disables_the_account(self, active: bool, via_cli: bool):
        from django.core.management import call_command

        if via_cli:
            call_command("staff", "enable" if active else "disable", self.user.username)
        else:
            staff.set_active(self._fresh(), active, ADMIN)
        assert self._fresh().is_active == active

    @rule(hours=st.sampled_from([1, 24, 73]))
    def time_passes(self, hours: int) -> None:
        self.clock.shift(dt.timedelta(hours=hours))

    # What must hold after every step

    @invariant()
    def a_link_works_only_while_open_unused_and_not_worn_out(self) -> None:
        links = list(Invitation.objects.filter(user=self.user))
        assert len(links) <= 1, "two links for one person"
        for token in self.tokens:
            try:
                link = enrolment.by_token(token)
            except enrolment.Refused:
                continue
            assert link.used_at is None and link.expires_at > link.made_at
            assert link.failures < MAX_FAILURES and link.user.is_active
            assert link.id == links[0].id, "an old link still works"

    @invariant()
    def an_account_with_a_link_has_no_working_authenticator_from_before(self) -> None:
        user = self._fresh()
        state = staff.account_state(user)
        link = Invitation.objects.filter(user=user).first()
        if link is not None and link.used_at is None:
            assert state != AccountState.ACTIVE, "an old authenticator outlived a new link"


@pytest.mark.promise("P21")
def test_staff_accounts_hold_their_invariants_in_any_order(record_property):
    explore(StaffAccounts, record_property)
