"""The partner: a processor that receives leads, with its state, its agreements and its
signing secret.

A partner's state (testing, live or paused) is read from two flags, and its moves are made
with move_partner. Its signing secret is sealed in the vault; a rotation may keep the old
one good for a while (the overlap), and the worker shreds it once the overlap has ended.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from tillit.core.lifecycle import Lifecycle, Move, Refused
from tillit.core.mail import header_safe
from tillit.vault.models import Envelope, Purpose

if TYPE_CHECKING:
    from tillit.partners.models.check import PartnerCheck


class PartnerQuerySet(models.QuerySet["Partner"]):
    def compliant(self) -> PartnerQuerySet:
        """Live partners (active, not testing) with a data processing agreement and GDPR
        compliance on record, and a signing secret (nothing can be sent to a partner without
        one). Only these are assigned people, shown to visitors and in the policy (P18)."""
        return self.filter(
            active=True,
            testing=False,
            dpa_signed_on__isnull=False,
            compliance_attested_on__isnull=False,
            secret_envelope__isnull=False,
        )

    def with_state(self) -> PartnerQuerySet:
        """Each partner's PartnerState as the column `state` (for values(), not instances)."""
        return self.annotate(
            state=models.Case(
                *(models.When(q, then=models.Value(str(s))) for s, q in PARTNER_STATES.items()),
                output_field=models.CharField(),
            )
        )


class PartnerState(models.TextChoices):
    """Where a partner stands: testing (test traffic only), live (receives leads) or paused (a
    live partner sent nothing new)."""

    TESTING = "testing", gettext_lazy("testing")
    LIVE = "live", gettext_lazy("live")
    PAUSED = "paused", gettext_lazy("paused")


# A partner's state is not a column: it is read from two flags, `testing` and `active` (which
# routing, the policy and the sign-up form filter on, through `compliant()`). So each state is
# the condition on the flags below, each move writes the flags in PARTNER_WRITES, and
# `move_partner` makes a move with a conditional UPDATE whose WHERE is its source states'
# conditions (STYLE 6): PARTNER's own `apply` and `take`, which write a state column, are not
# for it. `Partner.objects.with_state()` reads the state as a column, for the model checks.
# The flag `active` of a partner in testing does nothing until it goes live (which sets it):
# pausing or resuming one is recorded and leaves it in testing.
PARTNER_STATES = {
    PartnerState.TESTING: Q(testing=True),
    PartnerState.LIVE: Q(testing=False, active=True),
    PartnerState.PAUSED: Q(testing=False, active=False),
}
PARTNER = Lifecycle(
    "partners.Partner",
    PartnerState,
    # In testing when made in the console or by `partners add`; live when made with --live
    # (the audit log says "unchecked") or by code that predates the sandbox.
    initial=[PartnerState.TESTING, PartnerState.LIVE],
    moves=[
        # Only with its agreements, a secret and a passing report for its endpoint: sandbox.py.
        Move("go_live", (PartnerState.TESTING, PartnerState.PAUSED), PartnerState.LIVE,
             event="partner.went_live"),
        Move("to_testing", (PartnerState.LIVE, PartnerState.PAUSED), PartnerState.TESTING,
             event="partner.to_testing"),
        Move("pause", (PartnerState.LIVE,), PartnerState.PAUSED, event="partner.disabled"),
        Move("resume", (PartnerState.PAUSED,), PartnerState.LIVE, event="partner.enabled"),
        Move("pause_in_testing", (PartnerState.TESTING,), PartnerState.TESTING,
             event="partner.disabled"),
        Move("resume_in_testing", (PartnerState.TESTING,), PartnerState.TESTING,
             event="partner.enabled"),
    ],
)  # fmt: skip
PARTNER_WRITES: dict[str, dict[str, bool]] = {
    "go_live": {"testing": False, "active": True},
    "to_testing": {"testing": True},
    "pause": {"active": False},
    "resume": {"active": True},
    "pause_in_testing": {"active": False},
    "resume_in_testing": {"active": True},
}


def move_partner(partner: Partner, name: str, actor: str, **details: Any) -> None:
    """Make PARTNER's move `name` on the partner as it stands in the database, audited in the
    same transaction; Refused when its state (by now) cannot start the move. `partner` is
    updated to match."""
    from tillit.audit.models import record

    move = PARTNER.move(name)
    sources = Q()
    for state in move.sources:
        sources |= PARTNER_STATES[PartnerState(state)]
    with transaction.atomic():
        if not Partner.objects.filter(sources, pk=partner.pk).update(**PARTNER_WRITES[name]):
            fresh = Partner.objects.filter(pk=partner.pk).first()
            raise Refused(PARTNER, move, str(fresh.state if fresh else partner.state))
        record(move.event, actor=actor, target=f"partner:{partner.slug}", **details)
    for field, value in PARTNER_WRITES[name].items():
        setattr(partner, field, value)


class Partner(models.Model):
    slug = models.SlugField(gettext_lazy("slug"), max_length=60, unique=True)
    name = models.CharField(gettext_lazy("name"), max_length=200)
    privacy_policy_url = models.URLField(gettext_lazy("privacy policy URL"), max_length=500)
    endpoint = models.URLField(
        gettext_lazy("endpoint"),
        max_length=500,
        help_text=gettext_lazy("Base URL; leads go to <endpoint>/leads"),
    )
    embed_url = models.URLField(
        gettext_lazy("embed URL"),
        max_length=500,
        blank=True,
        help_text=gettext_lazy(
            "A page of the partner's own that the welcome page may show. It is loaded only "
            "after the visitor accepts third-party cookies; until then a button stands in for it."
        ),
    )
    privacy_email = models.EmailField(
        blank=True,
        verbose_name=gettext_lazy("privacy contact"),
        help_text=gettext_lazy(
            "The partner's privacy contact: rights requests go here by e-mail when the "
            "partner has no rights API."
        ),
    )
    language = models.CharField(
        gettext_lazy("language"),
        max_length=8,
        choices=settings.LANGUAGES,
        default="en",
        help_text=gettext_lazy(
            "The language of the e-mails tillit sends the partner's privacy contact, and of "
            "the page they answer on."
        ),
    )
    rights_api = models.BooleanField(
        default=True,
        verbose_name=gettext_lazy("has a rights API"),
        help_text=gettext_lazy(
            "Rights requests go to <endpoint>/opendsr/v2. Without one, they are e-mailed "
            "to the privacy contact with a one-time link to answer."
        ),
    )
    countries = models.JSONField(
        gettext_lazy("countries"),
        default=list,
        help_text=gettext_lazy('Two-letter codes, e.g. ["NO", "SE"]'),
    )
    weight = models.PositiveIntegerField(gettext_lazy("weight"), default=100)
    daily_cap = models.PositiveIntegerField(
        gettext_lazy("daily cap"),
        null=True,
        blank=True,
        help_text=gettext_lazy("Leads per day; empty for no cap"),
    )
    dpa_signed_on = models.DateField(
        null=True, blank=True, verbose_name=gettext_lazy("data processing agreement signed on")
    )
    dpa_reference = models.CharField(
        max_length=200,
        blank=True,
        verbose_name=gettext_lazy("data processing agreement (document)"),
    )
    compliance_attested_on = models.DateField(
        null=True, blank=True, verbose_name=gettext_lazy("GDPR compliance attested on")
    )
    active = models.BooleanField(gettext_lazy("active"), default=True)
    # False for every partner made before the sandbox and by Partner.objects.create: they stay
    # live. The console starts a new partner in testing (partners/sandbox.py).
    testing = models.BooleanField(
        gettext_lazy("testing"),
        default=False,
        help_text=gettext_lazy(
            "A partner in testing receives only the conformance suite's test traffic, never a "
            "person's lead. It goes live once its last conformance report passed and its "
            "agreements and signing secret are on record."
        ),
    )
    secret_envelope = models.OneToOneField(
        Envelope, null=True, on_delete=models.SET_NULL, related_name="+", editable=False
    )
    # The secret before the last rotation, still good until `previous_secret_until` so that
    # the partner can switch without a gap; shredded after that.
    previous_secret_envelope = models.OneToOneField(
        Envelope, null=True, on_delete=models.SET_NULL, related_name="+", editable=False
    )
    previous_secret_until = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(gettext_lazy("created at"), default=timezone.now)

    objects = PartnerQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        verbose_name = gettext_lazy("partner")
        verbose_name_plural = gettext_lazy("partners")

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        if not self.rights_api and not self.privacy_email:
            raise ValidationError(
                {"privacy_email": _("a partner without a rights API needs a privacy contact")}
            )
        if self.privacy_email and not header_safe(self.privacy_email):
            # Django's address check lets an encoded-word ("=?utf-8?q?...?=") through, which an
            # e-mail's To header would carry decoded: another recipient, in the worst case.
            raise ValidationError(
                {"privacy_email": _("Enter one plain e-mail address: rights requests are sent "
                                    "to it as it is.")}
            )  # fmt: skip

    def embed_origin(self) -> str:
        """scheme://host[:port] of the embed, for the Content-Security-Policy ('' if none)."""
        if not self.embed_url:
            return ""
        url = urlsplit(self.embed_url)
        return f"{url.scheme}://{url.netloc}"

    def endpoint_is_safe(self) -> bool:
        """https, or http to this machine only (the reference partner in demo and tests)."""
        url = urlsplit(self.endpoint)
        loopback = url.hostname in ("127.0.0.1", "localhost", "::1")
        return url.scheme == "https" or (url.scheme == "http" and loopback)

    @property
    def state(self) -> PartnerState:
        if self.testing:
            return PartnerState.TESTING
        return PartnerState.LIVE if self.active else PartnerState.PAUSED

    def last_check(self) -> PartnerCheck | None:
        """The latest conformance report (None before the first, and for an unsaved partner)."""
        return self.checks.first() if self.pk else None

    def has_agreements(self) -> bool:
        return bool(self.dpa_signed_on and self.compliance_attested_on)

    def set_secret(self, secret: str | None = None, *, overlap: timedelta | None = None) -> str:
        """Store a new signing secret (sealed in the vault) and return it, to give the partner.

        With `overlap`, the old secret stays good for that long: tillit signs with both and
        takes answers signed with either, so the partner can switch when it is ready. Without
        it, the old secret is shredded at once. A secret from an earlier rotation that is
        still in its overlap is shredded either way: two secrets at most are ever good."""
        secret = secret or secrets.token_urlsafe(32)
        with transaction.atomic():
            # Read under a row lock: two rotations at once must not lose one's envelopes.
            old_id, previous_id = (
                Partner.objects.select_for_update()
                .values_list("secret_envelope_id", "previous_secret_envelope_id")
                .get(pk=self.pk)
            )
            keep = bool(old_id and overlap and overlap > timedelta(0))
            until = timezone.now() + overlap if keep and overlap else None
            new = Envelope.objects.seal({"secret": secret}, Purpose.PARTNER_SECRET)
            Partner.objects.filter(pk=self.pk).update(
                secret_envelope=new,
                previous_secret_envelope_id=old_id if keep else None,
                previous_secret_until=until,
            )
            gone = [previous_id] if keep else [previous_id, old_id]
            Envelope.objects.filter(id__in=[e for e in gone if e]).shred()
        self.secret_envelope = new
        self.previous_secret_envelope_id = old_id if keep else None
        self.previous_secret_until = until
        return secret

    def secret(self) -> bytes:
        """The current secret."""
        assert self.secret_envelope is not None, "partner has no signing secret"
        return str(self.secret_envelope.open()["secret"].reveal()).encode()

    def secrets(self, now: datetime | None = None) -> list[bytes]:
        """The secrets good now: the current one, and the previous one during its overlap."""
        held = [self.secret()]
        if self.in_overlap(now) and self.previous_secret_envelope_id:
            # Read afresh: the worker shreds it when the overlap ends.
            old = Envelope.objects.filter(id=self.previous_secret_envelope_id).first()
            if old is not None:
                held.append(str(old.open()["secret"].reveal()).encode())
        return held

    def in_overlap(self, now: datetime | None = None) -> bool:
        until = self.previous_secret_until
        return until is not None and until > (now or timezone.now())

    def leads_today(self, now: datetime | None = None) -> int:
        start = timezone.localtime(now).replace(hour=0, minute=0, second=0, microsecond=0)
        return self.deliveries.filter(created_at__gte=start).count()


# How long a rotated-out secret stays good by default: a day for the partner to switch.
DEFAULT_SECRET_OVERLAP_HOURS = 24


def overlap_text(partner: Partner) -> str:
    """What a rotation left behind, for the person who did it."""
    if partner.in_overlap() and partner.previous_secret_until:
        return _(
            "the old secret stays good until %(until)s UTC: tillit signs with both and takes "
            "answers signed with either until then, then shreds it"
        ) % {"until": f"{partner.previous_secret_until:%Y-%m-%d %H:%M}"}
    return _("the old secret is shredded: from now on only the new one is good")


def forget_old_secrets(now: datetime) -> int:
    """Shred each partner's previous signing secret once its overlap has ended (a retention
    rule, run by the worker)."""
    from tillit.audit.models import record

    count = 0
    for partner in Partner.objects.filter(previous_secret_until__lte=now):
        with transaction.atomic():
            won = Partner.objects.filter(
                pk=partner.pk, previous_secret_until=partner.previous_secret_until
            ).update(previous_secret_envelope=None, previous_secret_until=None)
            if not won:
                continue  # rotated again meanwhile, or another worker was first
            Envelope.objects.filter(id=partner.previous_secret_envelope_id).shred()
            record("partner.old_secret_shredded", actor="worker", target=f"partner:{partner.slug}")
        count += 1
    return count
