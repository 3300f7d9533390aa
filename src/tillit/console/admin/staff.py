"""The staff accounts' screens: inviting a new staff member by a one-time link, their role,
language and state, and sending a new link or resetting a lost authenticator. No page sets
someone else's password (console/enrolment.py).
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.contrib.auth.forms import UserChangeForm
from django.contrib.auth.models import Group
from django.db.models import QuerySet
from django.http import Http404, HttpRequest
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django_otp.plugins.otp_totp.models import TOTPDevice

from tillit.audit.models import record
from tillit.console import enrolment, roles, staff
from tillit.console.models import LinkKind, RecoveryCodes, StaffProfile, language_of

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
