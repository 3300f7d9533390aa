"""Consent, model-checked: people consent or not, withdraw it by the offer's link or in the
privacy centre, ask for restriction, objection or erasure; staff send offers; the worker sends
them through a partner that is up, down or loses its answers; the clock moves days. After
every step: a consent withdrawn stops every later use, and the ledger only ever grows.

A person's consent to one purpose is not a row that changes: it is the latest record of the
append-only ledger (consent/models.py), so its lifecycle is checked here from the ledger, and
the offer messages that use it go through their own table (offers/models.py MESSAGE).
"""

from __future__ import annotations

import datetime as dt
import itertools

import httpx
import pytest
from django.utils import timezone
from hypothesis import strategies as st
from hypothesis.stateful import initialize, invariant, precondition, rule

from tests.conftest import CANARY_NAME, make_partner
from tests.machines import SECRET, Machine, PartnerHere, ask, explore
from tillit.consent.models import Action, ConsentRecord
from tillit.datamap import Kind
from tillit.offers import sending
from tillit.offers.models import MESSAGE, MessageState, Offer, OfferMessage
from tillit.partners.delivery import deliver_batch
from tillit.partners.models import DELIVERY, Delivery, DeliveryState, Partner
from tillit.rights.actions import opt_out_of_offers
from tillit.rights.models import PartnerTask, RightsRequest
from tillit.rights.models import State as RequestState
from tillit.subjects.confirmation import confirm, confirmation_token
from tillit.subjects.models import SUBJECT, State, Subject
from tillit.subjects.signup import Signup, register
from tillit.vault.pii import Pii

pytestmark = pytest.mark.django_db(transaction=True)

ASKED = [Kind.STOP_OFFERS, Kind.WITHDRAW, Kind.RESTRICTION, Kind.OBJECTION, Kind.ERASURE]
_slugs = itertools.count()


class Consents(Machine):
    def __init__(self) -> None:
        super().__init__()
        Delivery.objects.exclude(state__in=DELIVERY.finals).update(
            state=DeliveryState.CANCELLED, envelope=None
        )
        OfferMessage.objects.filter(state=MessageState.PENDING).update(state=MessageState.SKIPPED)
        # Nor may an offer here reach the people of the examples before.
        Subject.objects.filter(state__in=[State.PENDING, State.ACTIVE]).update(
            state=State.ERASED, email_index="", phone_index=""
        )
        Partner.objects.update(active=False)
        slug = f"consent-{next(_slugs)}"
        self.partner_row = make_partner(
            slug=slug, endpoint=f"http://{slug}.invalid", countries=["NO"], secret=SECRET
        )
        self.partner = PartnerHere()
        self.people: list[Subject] = []
        self.ledger: list[object] = []

    def watches(self):
        return [
            (MESSAGE, OfferMessage.objects.filter(partner=self.partner_row)),
            (SUBJECT, Subject.objects.filter(partner=self.partner_row)),
        ]

    def address(self, subject: Subject) -> str:
        return f"consent-{self.partner_row.slug}-{self.people.index(subject)}@example.com"

    @initialize(offers=st.lists(st.booleans(), max_size=2))
    def people_have_signed_up_and_an_offer_is_on_its_way(self, offers: list[bool]) -> None:
        for each in [True, *offers]:  # someone, at least, wants offers
            self.someone_signs_up_and_is_referred(each)
        self.staff_send_an_offer(14)

    @rule(offers=st.booleans())
    def someone_signs_up_and_is_referred(self, offers: bool) -> None:
        n = len(self.people)
        registered = register(
            Signup(
                name=Pii(CANARY_NAME),
                email=Pii(f"consent-{self.partner_row.slug}-{n}@example.com"),
                phone=None,
                country="NO",
                consents={"referral": True, "offers": offers},
                language="nb",
            )
        )
        assert registered.subject is not None
        self.people.append(registered.subject)
        confirm(confirmation_token(registered.subject))
        self.partner.mode = "up"
        deliver_batch(self.partner)  # type: ignore[arg-type]

    @precondition(lambda self: self.people)
    @rule(data=st.data(), how=st.sampled_from(["the offer's link", *ASKED]))
    def they_withdraw_or_ask(self, data: st.DataObject, how: str) -> None:
        """By the opt-out link in an offer, or a request in the privacy centre."""
        subject = data.draw(st.sampled_from(self.people))
        if how == "the offer's link":
            opt_out_of_offers(subject)
        elif how != Kind.ERASURE or Subject.objects.get(id=subject.id).state == State.ACTIVE:
            ask(self.address(subject), how)

    @precondition(lambda self: self.people)
    @rule(data=st.data())
    def staff_refuse_a_request(self, data: st.DataObject) -> None:
        """A refused request no longer blocks offers (tests/test_offers.py says so). One made
        by the offer's link has no address to tell the person why: it cannot be refused."""
        from tillit.rights.actions import CannotRefuse, refuse

        open_ones = RightsRequest.objects.filter(
            subject__in=self.people, state=RequestState.IN_PROGRESS
        ).exclude(kind=Kind.ERASURE)
        chosen = data.draw(st.sampled_from([None, *open_ones]))
        if chosen is None:
            return
        try:
            refuse(chosen, "a reason the person is told", actor="staff:1")
        except CannotRefuse:
            assert chosen.contact_id is None

    @rule(days=st.sampled_from([1, 14]))
    def staff_send_an_offer(self, days: int) -> None:
        offer = Offer.objects.create(
            title_nb="Tilbud",
            title_en="Offer",
            body_nb="Tekst",
            body_en="Text",
            valid_until=timezone.localdate() + dt.timedelta(days=days),
        )
        sending.launch(offer, "staff:1")

    @rule(partner=st.sampled_from(["up", "up", "down", "failing", "losing answers"]))
    def a_worker_sends_offers(self, partner: str) -> None:
        self.partner.mode = partner
        with httpx.Client(transport=self.partner.transport()) as client:
            sending.step(client)

    @rule(partner=st.sampled_from(["up", "losing answers"]))
    def another_worker_sends_offers(self, partner: str) -> None:
        self.a_worker_sends_offers(partner)

    @rule(hours=st.sampled_from([1, 7, 25, 24 * 15]))
    def time_passes(self, hours: int) -> None:
        self.clock.shift(dt.timedelta(hours=hours))

    @invariant()
    def no_offer_reaches_anyone_whose_consent_was_withdrawn(self) -> None:
        for path, body, at in self.partner.heard:
            if path != "/messages":
                continue
            latest = (
                ConsentRecord.objects.filter(
                    subject_id=body["subject_ref"], purpose="offers", at__lte=at
                )
                .order_by("-at", "-id")
                .first()
            )
            assert latest is not None and latest.action == Action.GIVEN, (
                f"an offer went out after the consent was {latest and latest.action}"
            )
            blocked = RightsRequest.objects.filter(
                subject_id=body["subject_ref"], kind__in=sending.BLOCKING, received_at__lte=at
            ).exclude(state=RequestState.REFUSED)
            assert not blocked.exists(), f"an offer went out after a {blocked.first().kind}"

    @invariant()
    def the_ledger_only_grows_and_each_withdrawal_follows_a_consent(self) -> None:
        rows = list(
            ConsentRecord.objects.filter(subject__in=self.people)
            .order_by("at", "id")
            .values_list("id", "subject_id", "purpose", "action", "at")
        )
        assert rows[: len(self.ledger)] == self.ledger, "a consent record changed or went"
        self.ledger = rows
        latest: dict[tuple[object, str], str] = {}
        for _, subject_id, purpose, action, _ in rows:
            if action == Action.WITHDRAWN:
                assert latest.get((subject_id, purpose)) == Action.GIVEN, "withdrew nothing"
            latest[(subject_id, purpose)] = action

    @invariant()
    def each_withdrawal_is_passed_on_to_the_partner_holding_the_data(self) -> None:
        for request in RightsRequest.objects.filter(
            subject__in=self.people, kind__in=[Kind.STOP_OFFERS, Kind.WITHDRAW]
        ):
            assert PartnerTask.objects.filter(request=request, partner=self.partner_row).exists()

    @invariant()
    def a_person_gets_each_offer_once(self) -> None:
        per = OfferMessage.objects.filter(partner=self.partner_row).values_list(
            "offer_id", "subject_id"
        )
        assert len(per) == len(set(per))


@pytest.mark.promise("P11")
@pytest.mark.promise("P31")
def test_consent_holds_its_invariants_in_any_order(record_property):
    explore(Consents, record_property)
