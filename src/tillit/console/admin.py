"""The staff console (Django admin behind a password and a TOTP code): partners, deliveries,
rights requests, the audit log, staff accounts. Each role sees only what its permissions allow
(see roles.py).

Nothing here can show personal data: the models it lists hold none. Records that are evidence
(consent, audit) are read-only.
"""

from __future__ import annotations

import copy
import json
from datetime import timedelta
from typing import Any

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.contrib.auth.forms import UserChangeForm
from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied
from django.db.models import Count, QuerySet
from django.http import Http404, HttpRequest, HttpResponseNotAllowed
from django.shortcuts import redirect, render
from django.urls import URLPattern, path, reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from django_otp.plugins.otp_totp.models import TOTPDevice
from tillit_partner import note

from tillit.audit.models import AuditEvent, Witness, record
from tillit.consent.models import ConsentRecord
from tillit.console import checks, enrolment, roles, staff
from tillit.console.models import LinkKind, RecoveryCodes, StaffProfile, language_of
from tillit.contact import cases
from tillit.contact.forms import ReplyForm
from tillit.contact.models import ContactMessage
from tillit.disclosure import steps as disclosure
from tillit.disclosure.models import DisclosureCase
from tillit.offers import sending
from tillit.offers.models import MessageState, Offer
from tillit.partners import sandbox
from tillit.partners.models import (
    DEFAULT_SECRET_OVERLAP_HOURS,
    Delivery,
    Partner,
    PartnerCheck,
    PartnerState,
    overlap_text,
)
from tillit.policy import versions
from tillit.policy.models import PolicyVersion
from tillit.rights import actions, fanout
from tillit.rights.models import PartnerTask, RightsRequest, TaskState
from tillit.subjects.models import Subject
from tillit.vault.blind import email_index
from tillit.vault.pii import Pii

# How long a rotated-out signing secret may stay good, in hours (0: shredded at once).
OVERLAP_CHOICES = (0, 1, 24, 72, 168)

# Authenticators and recovery codes are enrolled through a one-time link (or `tillit staff`),
# never shown in the console; groups are the fixed roles.
for model in (TOTPDevice, RecoveryCodes, Group):
    if admin.site.is_registered(model):
        admin.site.unregister(model)
admin.site.unregister(get_user_model())


class InviteForm(forms.ModelForm):
    """A new staff member: who, where to send the link, which role, which language. The
    person chooses their own password and authenticator through the link."""

    role = forms.ChoiceField(label=gettext_lazy("Role"), choices=[(r, r) for r in roles.ROLES])
    language = forms.ChoiceField(label=gettext_lazy("Language"), choices=settings.LANGUAGES)

    class Meta:
        model = get_user_model()
        fields = ["username", "email"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["email"].required = True
        self.fields["language"].initial = settings.CONSOLE_LANGUAGE


class StaffChangeForm(UserChangeForm):
    language = forms.ChoiceField(
        label=gettext_lazy("Language"), choices=settings.LANGUAGES, required=False
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.fields["language"].initial = language_of(self.instance)


@admin.register(get_user_model())
class StaffAdmin(UserAdmin):
    """Staff accounts: who, which role, active or not, enrolled or not. No superuser flag, no
    loose permissions and no password set by someone else: a role is the only way to grant
    anything, an administrator the only one who may, and each person sets their own password
    and authenticator through a one-time link (console/enrolment.py)."""

    list_display = ["username", "email", "role_names", "enrolment", "is_active", "last_login"]
    list_filter = ["is_active", "groups"]
    form = StaffChangeForm
    add_form = InviteForm
    fieldsets = (
        (None, {"fields": ("username",)}),
        (gettext_lazy("Person"), {"fields": ("first_name", "last_name", "email", "language")}),
        (gettext_lazy("Access"), {"fields": ("is_active", "groups")}),
        (gettext_lazy("Dates"), {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = ((None, {"fields": ("username", "email", "role", "language")}),)
    readonly_fields = ["last_login", "date_joined"]
    filter_horizontal = ()
    actions = ["send_invitation", "reset_authenticator"]

    @admin.display(description=gettext_lazy("role"))
    def role_names(self, obj: Any) -> str:
        return ", ".join(roles.of(obj)) or "-"

    @admin.display(description=gettext_lazy("enrolment"))
    def enrolment(self, obj: Any) -> str:
        return str(enrolment.STATES[enrolment.state(obj)])

    def user_change_password(self, request: HttpRequest, id: str, form_url: str = "") -> Any:
        raise Http404("no page where one person sets another's password")

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        return super().get_queryset(request).filter(is_superuser=False)

    def formfield_for_manytomany(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name == "groups":
            kwargs["queryset"] = Group.objects.filter(name__in=roles.ROLES)
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        actor = f"staff:{request.user.pk}"
        if not change:
            data = form.cleaned_data
            enrolment.invite(obj, data["role"], data["language"], by=actor)
            messages.success(request, _("The invitation is on its way to %s.") % obj.email)
            return
        obj.is_staff = True
        # Active or not is the account's state (staff.STAFF): changed by its move, audited.
        wanted = obj.is_active
        if "is_active" in form.changed_data:
            obj.is_active = not wanted
        super().save_model(request, obj, form, change)
        if form.cleaned_data.get("language"):
            StaffProfile.objects.update_or_create(
                user=obj, defaults={"language": form.cleaned_data["language"]}
            )
        record("staff.changed", actor=actor, target=f"staff:{obj.pk}")
        if "is_active" in form.changed_data:
            staff.set_active(obj, wanted, actor)

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        if change:  # an invitation's role is given by enrolment.invite
            super().save_related(request, form, formsets, change)

    @admin.action(
        description=gettext_lazy("Send a new invitation (new password and authenticator)"),
        permissions=["change"],
    )
    def send_invitation(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        self._links(request, queryset, LinkKind.INVITE)

    @admin.action(
        description=gettext_lazy("Reset the authenticator (for a lost phone)"),
        permissions=["change"],
    )
    def reset_authenticator(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        self._links(request, queryset, LinkKind.RESET)

    def _links(self, request: HttpRequest, queryset: QuerySet[Any], kind: str) -> None:
        actor = f"staff:{request.user.pk}"
        sent = []
        for user in queryset.filter(is_active=True).exclude(email=""):
            if user.pk == request.user.pk:
                continue  # who replaces their own sign-in must ask another administrator
            enrolment.new_link(user, kind, by=actor)
            sent.append(user.username)
        if sent:
            messages.success(request, _("A link is on its way to %s.") % ", ".join(sent))
        else:
            messages.warning(
                request,
                _("No link sent: choose active staff with an e-mail address, other than you."),
            )


class ConsoleAdmin(admin.ModelAdmin):
    def changelist_view(self, request: HttpRequest, extra_context: Any = None) -> Any:
        """An action the role may not take is refused (403, audited), not quietly ignored."""
        action = request.POST.get("action")
        if request.method == "POST" and action and action not in self.get_actions(request):
            raise PermissionDenied(f"the action {action!r} is not for this role")
        return super().changelist_view(request, extra_context)


class Referenced:
    """The short reference a case is known by (a property of the model, which Django would
    label in English only)."""

    @admin.display(description=gettext_lazy("reference"))
    def reference(self, obj: Any) -> str:
        return str(obj.reference)


class ReadOnly(ConsoleAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class PartnerForm(forms.ModelForm):
    """The partner form. Unticking *testing* is going live, under the same rule as the Go live
    button (partners/sandbox.py): refused, with what keeps the partner from it."""

    class Meta:
        model = Partner
        fields = [
            "slug", "name", "privacy_policy_url", "endpoint", "embed_url", "privacy_email",
            "language", "rights_api", "countries", "weight", "daily_cap", "dpa_signed_on",
            "dpa_reference", "compliance_attested_on", "active", "testing", "created_at",
        ]  # fmt: skip

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        adding = self.instance._state.adding
        if "testing" not in self.fields or data.get("testing", True):
            return data
        if adding:
            self.add_error(
                "testing",
                _(
                    "A new partner starts in testing: it goes live from its page once its "
                    "conformance report passed."
                ),
            )
        elif self.instance.testing:
            # The partner as it would be saved: a new endpoint needs a report of its own.
            candidate = copy.copy(self.instance)
            for name in ("endpoint", "dpa_signed_on", "compliance_attested_on"):
                if name in data:
                    setattr(candidate, name, data[name])
            if blockers := sandbox.go_live_blockers(candidate):
                self.add_error("testing", blockers)
        return data


def _shown(value: Any) -> str:
    """A value of a conformance report as a person reads it: text as it is, the rest as
    indented JSON."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True)


def _report(check: PartnerCheck) -> dict[str, Any]:
    failures = [
        {key: _shown(result.get(key)) for key in ("id", "title", "sent", "received", "required")}
        for result in check.failures()
    ]
    return {"check": check, "counts": check.counts(), "failures": failures}


@admin.register(Partner)
class PartnerAdmin(ConsoleAdmin):
    form = PartnerForm
    change_form_template = "console/partner_change_form.html"
    list_display = [
        "name",
        "slug",
        "state",
        "last_check",
        "dpa_signed_on",
        "compliance_attested_on",
        "weight",
        "daily_cap",
        "endpoint",
        "rights_api",
    ]
    list_filter = ["testing", "active", "rights_api"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}
    actions = ["go_live", "back_to_testing", "pause", "resume", "check_partner", "rotate_secret"]
    # The reports shown on a partner's page, latest first.
    REPORTS_SHOWN = 5

    @admin.display(description=gettext_lazy("state"))
    def state(self, obj: Partner) -> str:
        return str(obj.state.label)

    @admin.display(description=gettext_lazy("last conformance report"))
    def last_check(self, obj: Partner) -> str:
        check = obj.last_check()
        if check is None:
            return "-"
        said = _("passed %(when)s") if check.passed else _("failed %(when)s")
        return said % {"when": f"{check.ran_at:%Y-%m-%d %H:%M}"}

    def get_changeform_initial_data(self, request: HttpRequest) -> dict[str, Any]:
        # A partner added here starts in testing: it gets test traffic only until it goes live.
        return {"testing": True, **super().get_changeform_initial_data(request)}

    def get_urls(self) -> list[Any]:
        def on(view: Any, name: str) -> URLPattern:
            return path(
                f"<path:object_id>/{name}/",
                self.admin_site.admin_view(view),
                name=f"partners_partner_{name.replace('-', '_')}",
            )

        return [on(self.go_live_view, "go-live"), on(self.testing_view, "testing"),
                on(self.conformance_view, "conformance"), *super().get_urls()]  # fmt: skip

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: Any = None
    ) -> Any:
        partner = self.get_object(request, admin.utils.unquote(object_id))
        extra = dict(extra_context or {})
        if partner is not None:
            checks = partner.checks.all()[: self.REPORTS_SHOWN]
            extra["sandbox"] = {
                "state": partner.state,
                "live": partner.state == PartnerState.LIVE,
                "testing": partner.testing,
                "blockers": sandbox.go_live_blockers(partner),
                "reports": [_report(check) for check in checks],
                "may_change": self.has_change_permission(request, partner),
            }
        return super().change_view(request, object_id, form_url, extra)

    def go_live_view(self, request: HttpRequest, object_id: str) -> Any:
        return self._on_page(request, object_id, self._go_live)

    def testing_view(self, request: HttpRequest, object_id: str) -> Any:
        return self._on_page(request, object_id, self._to_testing)

    def conformance_view(self, request: HttpRequest, object_id: str) -> Any:
        return self._on_page(request, object_id, self._run_conformance)

    def _run_conformance(self, request: HttpRequest, queryset: QuerySet[Partner]) -> None:
        """The suite takes seconds and waits for the partner's callbacks: the worker runs it,
        and its report appears on the partner's page."""
        from tillit.partners.tasks import conformance_check

        actor = f"staff:{request.user.pk}"
        for partner in queryset:
            conformance_check.enqueue(partner.pk, actor, translation.get_language() or "en")
            record("partner.conformance_requested", actor=actor, target=f"partner:{partner.slug}")
            said = _(
                "%(name)s: the conformance suite runs in the background (a few seconds); "
                "reload this page for its report."
            )
            self.message_user(request, said % {"name": partner.name})

    def _on_page(self, request: HttpRequest, object_id: str, act: Any) -> Any:
        """A button on the partner's page: the same as its action in the list, for this one."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        partner = self.get_object(request, admin.utils.unquote(object_id))
        if partner is None:
            raise Http404("no such partner")
        if not self.has_change_permission(request, partner):
            raise PermissionDenied("not for this role")
        act(request, Partner.objects.filter(pk=partner.pk))
        return redirect(reverse("admin:partners_partner_change", args=[partner.pk]))

    @admin.action(
        description=gettext_lazy("Go live (once the last conformance report passed)"),
        permissions=["change"],
    )
    def go_live(self, request: HttpRequest, queryset: QuerySet[Partner]) -> None:
        self._go_live(request, queryset)

    @admin.action(
        description=gettext_lazy("Back to testing: assign these partners nobody new"),
        permissions=["change"],
    )
    def back_to_testing(self, request: HttpRequest, queryset: QuerySet[Partner]) -> None:
        self._to_testing(request, queryset)

    def _go_live(self, request: HttpRequest, queryset: QuerySet[Partner]) -> None:
        for partner in queryset:
            try:
                went = sandbox.go_live(partner, f"staff:{request.user.pk}")
            except sandbox.CannotGoLive as refusal:
                said = _("%(name)s stays in testing: %(blockers)s")
                blockers = " ".join(refusal.blockers)
                self.message_user(
                    request, said % {"name": partner.name, "blockers": blockers}, messages.ERROR
                )
                continue
            said = _("%(name)s: live, it receives leads") if went else _("%(name)s: live already")
            self.message_user(request, said % {"name": partner.name})

    def _to_testing(self, request: HttpRequest, queryset: QuerySet[Partner]) -> None:
        for partner in queryset:
            moved = sandbox.to_testing(partner, f"staff:{request.user.pk}")
            said = (
                _("%(name)s: in testing, nobody new is assigned to it")
                if moved
                else _("%(name)s: in testing already")
            )
            self.message_user(request, said % {"name": partner.name})

    def save_model(self, request: HttpRequest, obj: Partner, form: Any, change: bool) -> None:
        actor = f"staff:{request.user.pk}"
        if change:
            # Only what the form changed: a rotation committed while the form was open (its
            # secrets are not on the form) must not be written back over. Testing and active
            # are the partner's state (PARTNER): changed by its moves, after the rest (a new
            # endpoint, agreements) is saved.
            moves = {"testing", "active"}
            obj.save(update_fields=[f for f in form.changed_data if f not in moves])
        else:
            super().save_model(request, obj, form, change)
            # A new partner gets its signing secret now; response_add shows it once.
            request.new_partner_secret = obj.set_secret()  # type: ignore[attr-defined]
        record(
            "partner.changed" if change else "partner.added",
            actor=actor,
            target=f"partner:{obj.slug}",
            fields=",".join(sorted(form.changed_data)),
            **({} if change else {"testing": obj.testing}),
        )
        if change and "active" in form.changed_data:
            self._set_active(request, Partner.objects.filter(pk=obj.pk), obj.active)
        if change and "testing" in form.changed_data:
            if obj.testing:
                self._to_testing(request, Partner.objects.filter(pk=obj.pk))
            else:
                self._go_live(request, Partner.objects.filter(pk=obj.pk))

    def response_add(
        self, request: HttpRequest, obj: Partner, post_url_continue: Any = None
    ) -> Any:
        secret = getattr(request, "new_partner_secret", None)
        if secret is None:
            return super().response_add(request, obj, post_url_continue)
        response = render(
            request,
            "console/rotate_secret.html",
            {
                **self.admin_site.each_context(request),
                "title": _("The new partner's secret"),
                "rotated": [(obj, secret, _("none: a new partner"))],
            },
        )
        response["Cache-Control"] = "no-store"
        return response

    @admin.action(
        description=gettext_lazy("Pause: send these partners nothing new"), permissions=["change"]
    )
    def pause(self, request: HttpRequest, queryset: QuerySet[Partner]) -> None:
        self._set_active(request, queryset, False)

    @admin.action(description=gettext_lazy("Resume"), permissions=["change"])
    def resume(self, request: HttpRequest, queryset: QuerySet[Partner]) -> None:
        self._set_active(request, queryset, True)

    def _set_active(self, request: HttpRequest, queryset: QuerySet[Partner], on: bool) -> None:
        for partner in queryset:
            sandbox.set_active(partner, on, f"staff:{request.user.pk}")
            done = _("%(name)s: resumed") if on else _("%(name)s: paused")
            self.message_user(request, done % {"name": partner.name})
            if on and partner.testing:
                self.message_user(
                    request,
                    _("%(name)s is in testing: it receives no leads until it goes live")
                    % {"name": partner.name},
                    messages.WARNING,
                )

    @admin.action(
        description=gettext_lazy("Check: health, signed discovery, agreements"),
        permissions=["view"],
    )
    def check_partner(self, request: HttpRequest, queryset: QuerySet[Partner]) -> None:
        for partner in queryset:
            for ok, text in checks.run(partner):
                self.message_user(
                    request, f"{partner.name}: {text}", messages.SUCCESS if ok else messages.ERROR
                )

    @admin.action(
        description=gettext_lazy("Rotate the signing secret (shown once; give it to the partner)"),
        permissions=["change"],
    )
    def rotate_secret(self, request: HttpRequest, queryset: QuerySet[Partner]) -> Any:
        if "confirm" not in request.POST:
            return render(
                request,
                "console/rotate_secret.html",
                {
                    **self.admin_site.each_context(request),
                    "title": _("Rotate signing secrets"),
                    "partners": queryset,
                    "overlap_choices": OVERLAP_CHOICES,
                    "overlap_default": DEFAULT_SECRET_OVERLAP_HOURS,
                    "overlapping": [p for p in queryset if p.in_overlap()],
                    "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
                },
            )
        try:
            hours = int(request.POST.get("overlap_hours", ""))
        except ValueError:
            hours = -1
        if hours not in OVERLAP_CHOICES:
            self.message_user(
                request, _("Choose how long the old secret stays good."), messages.ERROR
            )
            return None
        rotated = []
        for partner in queryset:
            secret = partner.set_secret(overlap=timedelta(hours=hours))
            rotated.append((partner, secret, overlap_text(partner)))
            record(
                "partner.secret_rotated",
                actor=f"staff:{request.user.pk}",
                target=f"partner:{partner.slug}",
                overlap_hours=hours,
            )
        response = render(
            request,
            "console/rotate_secret.html",
            {
                **self.admin_site.each_context(request),
                "title": _("New secrets"),
                "rotated": rotated,
            },
        )
        response["Cache-Control"] = "no-store"
        return response


@admin.register(Delivery)
class DeliveryAdmin(ReadOnly):
    list_display = [
        "id",
        "partner",
        "state",
        "attempts",
        "created_at",
        "delivered_at",
        "last_error",
    ]
    list_filter = ["state", "partner"]
    exclude = ["envelope", "lease_token"]


@admin.register(Subject)
class SubjectAdmin(ReadOnly):
    list_display = ["id", "state", "country", "partner", "created_at", "confirmed_at"]
    list_filter = ["state", "country", "partner"]
    exclude = ["email_index", "phone_index"]


@admin.register(ConsentRecord)
class ConsentRecordAdmin(ReadOnly):
    list_display = ["subject", "purpose", "action", "policy_version", "at"]
    list_filter = ["purpose", "action", "policy_version"]


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnly):
    """The audit viewer: filter by action, actor and date; search by target. The log's state
    and its verification are one click away (Audit → The consent log)."""

    list_display = ["seq", "leaf_index", "at", "action", "actor", "target"]
    list_filter = ["action", "actor", ("at", admin.DateFieldListFilter)]
    search_fields = ["target", "actor"]
    date_hierarchy = "at"


class WitnessForm(forms.ModelForm):
    class Meta:
        model = Witness
        fields = ["name", "url", "vkey", "partner", "active"]
        help_texts = {
            "url": gettext_lazy("The witness's address; checkpoints go to <url>/add-checkpoint."),
            "vkey": gettext_lazy("Its cosignature verifier key: name+key id+base64 key."),
        }

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        try:
            verifier = note.CosignatureVerifier.from_vkey(data.get("vkey", ""))
        except note.NoteError as error:
            raise forms.ValidationError(
                {"vkey": _("not a witness verifier key: %(error)s") % {"error": error}}
            ) from None
        if verifier.name != data.get("name"):
            raise forms.ValidationError(
                {"vkey": _("this key is named %(name)r") % {"name": verifier.name}}
            )
        return data


@admin.register(Witness)
class WitnessAdmin(admin.ModelAdmin):
    """Witnesses of the consent log: added by an administrator with the key the witness
    publishes; each is then sent every new checkpoint (audit/witnesses.py)."""

    form = WitnessForm
    list_display = ["name", "url", "active", "size", "cosigned_at", "last_error"]
    readonly_fields = ["size", "cosigned_at", "last_error", "added_at"]

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # its cosignatures refer to it: deactivate it instead

    def save_model(self, request: HttpRequest, obj: Witness, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        action = "log.witness_changed" if change else "log.witness_added"
        record(action, actor=f"staff:{request.user.pk}", target=f"witness:{obj.name}")


class PartnerTaskInline(admin.TabularInline):
    model = PartnerTask
    fields = [
        "partner",
        "state",
        "attempts",
        "reminders",
        "sent_at",
        "completed_at",
        "answer",
        "last_error",
    ]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(RightsRequest)
class RightsRequestAdmin(Referenced, ReadOnly):
    """The queue: what was asked, by when, and how far each partner has got. No address, no
    corrected values, no export: those stay sealed in the vault."""

    list_display = [
        "reference",
        "kind",
        "state",
        "received_at",
        "deadline",
        "days_left",
        "partners",
    ]
    list_filter = ["state", "kind"]
    ordering = ["completed_at", "due_at"]
    fields = [
        "reference",
        "kind",
        "state",
        "outcome",
        "received_at",
        "due_at",
        "extended_until",
        "extension_reason",
        "refusal_reason",
        "completed_at",
        "overdue_alarm_at",
    ]
    readonly_fields = fields
    inlines = [PartnerTaskInline]
    actions = ["extend_deadline", "refuse_request", "complete_by_hand"]

    @admin.action(
        description=gettext_lazy(
            "Mark the e-mail partners' parts done (they answered outside their link)"
        ),
        permissions=["act"],
    )
    def complete_by_hand(self, request: HttpRequest, queryset: Any) -> None:
        for rights_request in queryset:
            waiting = rights_request.tasks.select_related("partner", "request").filter(
                partner__rights_api=False,
                state__in=[TaskState.WAITING, TaskState.PENDING, TaskState.FAILED],
            )
            if not waiting:
                self.message_user(
                    request,
                    _("%(ref)s: no e-mail partner's part is open")
                    % {"ref": rights_request.reference},
                    messages.WARNING,
                )
            for task in waiting:
                fanout.answered(task, "done", None, actor=f"staff:{request.user.pk}")
                self.message_user(
                    request,
                    _("%(ref)s: %(partner)s marked done")
                    % {"ref": rights_request.reference, "partner": task.partner.name},
                )

    def has_act_permission(self, request: HttpRequest) -> bool:
        """Extending and refusing: for roles that may change requests (the page stays
        read-only for everyone)."""
        return request.user.has_perm("rights.change_rightsrequest")

    @admin.display(description=gettext_lazy("deadline"))
    def deadline(self, obj: RightsRequest) -> Any:
        return obj.deadline

    @admin.display(description=gettext_lazy("days left"))
    def days_left(self, obj: RightsRequest) -> str:
        if obj.completed_at:
            return _("done")
        left = (obj.deadline - timezone.now()).total_seconds() / 86400
        if left >= 0:
            return f"{left:.0f}"
        return _("OVERDUE by %(days).0f") % {"days": -left}

    @admin.display(description=gettext_lazy("partners done"))
    def partners(self, obj: RightsRequest) -> str:
        tasks = list(obj.tasks.all())
        done = sum(t.state == TaskState.COMPLETED for t in tasks)
        failed = sum(t.state == TaskState.FAILED for t in tasks)
        shown = f"{done}/{len(tasks)}"
        return shown + " " + _("(%(n)d failed)") % {"n": failed} if failed else shown

    @admin.action(
        description=gettext_lazy(
            "Extend the deadline as far as the person's law allows "
            "(with a reason the person is told)"
        ),
        permissions=["act"],
    )
    def extend_deadline(self, request: HttpRequest, queryset: Any) -> Any:
        return self._with_reason(
            request, queryset, "extend_deadline", actions.extend, actions.CannotExtend,
            title=_("Extend the deadline"), button=_("Extend and tell the person"),
            intro=_("Extend by up to two more months (Art. 12(3)). The person is told the new "
                    "date and this reason by e-mail; it is possible only within the first month."),
            done=_("extended, person told"),
        )  # fmt: skip

    @admin.action(
        description=gettext_lazy("Refuse as manifestly unfounded or excessive (with a reason)"),
        permissions=["act"],
    )
    def refuse_request(self, request: HttpRequest, queryset: Any) -> Any:
        return self._with_reason(
            request, queryset, "refuse_request", actions.refuse, actions.CannotRefuse,
            title=_("Refuse a request"), button=_("Refuse and tell the person"),
            intro=_("Refuse a manifestly unfounded or excessive request (Art. 12(5)); the burden "
                    "of showing that is the operator's. The person is told this reason and how "
                    "to complain (Art. 12(4)). Partners that have not yet acted are told to "
                    "withdraw it; what already took effect (withdrawn consents, an erasure here "
                    "or at a partner) stays."),
            done=_("refused, person told"),
        )  # fmt: skip

    def _with_reason(
        self,
        request: HttpRequest,
        queryset: Any,
        action: str,
        act: Any,
        refused: type[Exception],
        *,
        title: str,
        button: str,
        intro: str,
        done: str,
    ) -> Any:
        """An action that needs a reason the person is told: first the form asking for it,
        then the action on each request, with a message for each."""
        if "reason" not in request.POST:
            return render(
                request,
                "console/with_reason.html",
                {
                    **self.admin_site.each_context(request),
                    "title": title,
                    "intro": intro,
                    "action": action,
                    "button": button,
                    "requests": queryset,
                    "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
                },
            )
        for rights_request in queryset:
            try:
                act(rights_request, request.POST["reason"], f"staff:{request.user.pk}")
            except refused as refusal:
                self.message_user(request, f"{rights_request.reference}: {refusal}", messages.ERROR)
            else:
                self.message_user(request, f"{rights_request.reference}: {done}")
        return None


@admin.register(ContactMessage)
class ContactMessageAdmin(Referenced, ReadOnly):
    """The support queue. The list shows no one's name, address or words; opening a case
    decrypts it, and that is an audit event. Support answers by e-mail from here, or calls."""

    list_display = ["reference", "state", "created_at", "language", "by_email", "by_phone"]
    list_filter = ["state", "by_email", "by_phone"]
    ordering = ["closed_at", "-created_at"]

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: Any = None
    ) -> Any:
        message = self.get_object(request, object_id)
        if message is None or not self.has_view_permission(request, message):
            raise PermissionDenied("not for this role")
        form = ReplyForm(request.POST or None, initial={"version": message.version})
        if request.method == "POST":
            if not request.user.has_perm("contact.change_contactmessage"):
                raise PermissionDenied("not for this role")
            try:
                version = int(request.POST.get("version", "-1"))
                if "close" in request.POST:
                    cases.close(message, version, request.user.pk)
                    self.message_user(request, _("%(ref)s: closed") % {"ref": message.reference})
                elif form.is_valid():
                    cases.reply(message, form.cleaned_data["reply"], version, request.user.pk)
                    self.message_user(
                        request, _("%(ref)s: answer sent by e-mail") % {"ref": message.reference}
                    )
                else:
                    raise ValueError(_("write an answer first"))
            except (cases.StaleCase, ValueError) as problem:
                self.message_user(request, f"{message.reference}: {problem}", messages.ERROR)
            return redirect(request.path)
        return render(
            request,
            "console/contact_message.html",
            {
                **self.admin_site.each_context(request),
                "title": _("Message %(ref)s") % {"ref": message.reference},
                "m": message,
                "case": cases.read(message, request.user.pk),
                "form": form,
                "can_answer": request.user.has_perm("contact.change_contactmessage"),
                "opts": self.model._meta,
            },
        )


@admin.register(Offer)
class OfferAdmin(ConsoleAdmin):
    """A privacy officer writes a time-limited offer in both languages and sends it to the
    people whose consent to offers is active, through their partners. Once sent it is fixed."""

    list_display = ["title_en", "valid_until", "sent_at", "recipients", "progress"]
    fields = ["title_nb", "body_nb", "title_en", "body_en", "valid_until"]
    actions = ["send_offer"]

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if obj is not None and obj.sent_at:
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description=gettext_lazy("messages"))
    def progress(self, obj: Offer) -> str:
        counts = dict(
            obj.messages.values("state").annotate(n=Count("id")).values_list("state", "n")
        )
        return (
            ", ".join(f"{n} {MessageState(state).label}" for state, n in sorted(counts.items()))
            or "-"
        )

    def save_model(self, request: HttpRequest, obj: Offer, form: Any, change: bool) -> None:
        obj.created_by = obj.created_by or f"staff:{request.user.pk}"
        super().save_model(request, obj, form, change)
        record(
            "offer.changed" if change else "offer.written",
            actor=f"staff:{request.user.pk}",
            target=f"offer:{obj.pk}",
        )

    @admin.action(
        description=gettext_lazy("Send to everyone whose consent to offers is active"),
        permissions=["send"],
    )
    def send_offer(self, request: HttpRequest, queryset: QuerySet[Offer]) -> None:
        for offer in queryset:
            try:
                count = sending.launch(offer, f"staff:{request.user.pk}")
            except sending.CannotSend as refusal:
                self.message_user(request, f"{offer}: {refusal}", messages.ERROR)
            else:
                self.message_user(
                    request,
                    ngettext(
                        "%(offer)s: on its way to %(count)d person",
                        "%(offer)s: on its way to %(count)d people",
                        count,
                    )
                    % {"offer": offer, "count": count},
                )

    def has_send_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("offers.change_offer")


class DisclosureCaseForm(forms.ModelForm):
    """Registering a request: who asks, on what basis, for what, by when, and about whom (by
    tillit's pseudonymous id, or by an e-mail address looked up by its blind index and not
    kept)."""

    subject_ref = forms.UUIDField(
        required=False, label=gettext_lazy("The person's pseudonymous id")
    )
    email = forms.EmailField(
        required=False, label=gettext_lazy("Or the person's e-mail address (not kept)")
    )

    class Meta:
        model = DisclosureCase
        fields = ["requester_kind", "requester", "legal_basis", "scope", "deadline"]

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        ref, email = data.get("subject_ref"), data.get("email")
        subject = None
        if ref:
            subject = Subject.objects.filter(id=ref).first()
        elif email:
            subject = Subject.objects.filter(email_index=email_index(Pii(email))).first()
        if (ref or email) and subject is None:
            raise forms.ValidationError(_("Nobody with that id or address is in tillit's records."))
        self.instance.subject = subject
        data.pop("email", None)
        return data


@admin.register(DisclosureCase)
class DisclosureCaseAdmin(Referenced, ConsoleAdmin):
    """Requests from authorities and third parties, handled step by step (see the case
    page); support may register them, the privacy officer weighs, decides and discloses."""

    form = DisclosureCaseForm
    list_display = ["reference", "requester_kind", "requester", "step", "deadline"]
    list_filter = ["step", "requester_kind"]

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        # Only new cases come here: a case's page (change_view) moves it by its steps.
        disclosure.register(obj, actor=f"staff:{request.user.pk}")

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: Any = None
    ) -> Any:
        case = self.get_object(request, object_id)
        if case is None or not self.has_view_permission(request, case):
            raise PermissionDenied("not for this role")
        may_act = request.user.has_perm("disclosure.change_disclosurecase")
        if request.method == "POST":
            if not may_act:
                raise PermissionDenied("not for this role")
            post, actor = request.POST, f"staff:{request.user.pk}"
            try:
                version = int(post.get("version", "-1"))
                step = post.get("step")
                if step == "weigh":
                    disclosure.weigh(case, version, post.get("balancing", ""), actor)
                elif step == "decide":
                    disclosure.decide(
                        case, version, post.get("decision", ""), post.get("reason", ""), actor
                    )
                elif step == "notify":
                    disclosure.notify(case, version, actor)
                elif step == "withhold":
                    disclosure.withhold(case, version, post.get("prohibition", ""), actor)
                elif step == "take_back":
                    disclosure.take_back(case, version, actor)
                elif step == "disclose":
                    disclosure.disclose(case, version, actor)
                elif step == "close":
                    disclosure.close(case, version, actor)
                else:
                    raise disclosure.StepRefused(_("no such step"))
                self.message_user(request, f"{case.reference}: {case.get_step_display()}")
            except (disclosure.StepRefused, ValueError) as refusal:
                self.message_user(request, f"{case.reference}: {refusal}", messages.ERROR)
            return redirect(request.path)
        record(
            "disclosure.opened", actor=f"staff:{request.user.pk}", target=f"disclosure:{case.pk}"
        )
        return render(
            request,
            "console/disclosure_case.html",
            {
                **self.admin_site.each_context(request),
                "title": _("Disclosure case %(ref)s") % {"ref": case.reference},
                "case": case,
                "may_act": may_act,
                "disclosed": json.dumps(case.disclosed, indent=2) if case.disclosed else "",
                "events": AuditEvent.objects.filter(target=f"disclosure:{case.pk}").order_by("seq"),
                "opts": self.model._meta,
            },
        )


class PublishForm(forms.ModelForm):
    """Publishing: the data map and partners as they are now become the next version."""

    class Meta:
        model = PolicyVersion
        fields = ["summary_nb", "summary_en", "material"]

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        latest = versions.current()
        if latest is not None and latest.text_hash == versions.digest(versions.snapshot()):
            raise forms.ValidationError(
                _(
                    "Nothing in the policy has changed since version %(number)s: change the "
                    "data map or the partners first."
                )
                % {"number": latest.number}
            )
        return data


@admin.register(PolicyVersion)
class PolicyVersionAdmin(ReadOnly):
    """Published versions, never changed. "Add" publishes the next one, in force at once."""

    list_display = ["number", "published_at", "material", "published_by", "summary_en"]
    form = PublishForm

    def has_add_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("policy.add_policyversion")

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        try:
            published = versions.publish(
                obj.summary_nb, obj.summary_en, f"staff:{request.user.pk}", obj.material
            )
        except versions.NothingChanged as refusal:
            raise PermissionDenied(str(refusal)) from None
        obj.pk, obj.number = published.pk, published.number
        obj._state.adding = False
