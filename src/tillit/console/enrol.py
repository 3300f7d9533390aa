"""The pages of a staff member's one-time link (console/enrolment.py): Start, then a password
(or, after a reset, the old one), then the authenticator by QR code, then the recovery codes,
shown once. None of them needs a signed-in user; each answers a link that cannot be used with
the same page, which says what to do."""

from __future__ import annotations

from typing import Any

import segno
from django import forms
from django.contrib import admin
from django.contrib.auth.forms import SetPasswordForm
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from django.views.decorators.cache import never_cache

from tillit.console import enrolment
from tillit.console.models import Invitation, LinkKind, language_of


class PasswordGiven(forms.Form):
    password = forms.CharField(
        label=gettext_lazy("Your password"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )


class CodeGiven(forms.Form):
    code = forms.CharField(
        label=gettext_lazy("The 6-digit code your app shows now"),
        max_length=8,
        widget=forms.TextInput(
            attrs={"inputmode": "numeric", "autocomplete": "one-time-code", "pattern": "[0-9 ]*"}
        ),
    )


def page(request: HttpRequest, template: str, status: int = 200, **context: Any) -> HttpResponse:
    return render(
        request,
        f"console/{template}",
        {**admin.site.each_context(request), **context},
        status=status,
    )


def gone(request: HttpRequest, forget: bool = False) -> HttpResponse:
    """A link that cannot be used; `forget` drops this browser's claim (its own link died)."""
    if forget:
        request.session.pop(enrolment.SESSION_KEY, None)
    return page(request, "enrol_gone.html", status=410, title=_("This link no longer works"))


@never_cache
def start(request: HttpRequest, token: str) -> HttpResponse:
    """The link from the e-mail: a page with a Start button, so that a mail scanner that
    fetches the link claims nothing."""
    try:
        mine = enrolment.claimed(request.session)
    except enrolment.Refused:
        mine = None
    try:
        link = enrolment.by_token(token)
    except enrolment.Refused:
        return gone(request)
    translation.activate(language_of(link.user))
    if mine is not None and mine.id == link.id:
        return redirect("admin:enrol")
    if link.claim_hash:
        return gone(request)  # another browser started it
    if request.method == "POST":
        try:
            enrolment.claim(token, request.session)
        except enrolment.Refused:
            return gone(request)
        return redirect("admin:enrol")
    return page(
        request,
        "enrol_start.html",
        title=_("Set up your console account"),
        link=link,
        reset=link.kind == LinkKind.RESET,
    )


@never_cache
def steps(request: HttpRequest) -> HttpResponse:
    try:
        link = enrolment.claimed(request.session)
    except enrolment.Refused:
        return gone(request, forget=True)
    translation.activate(language_of(link.user))
    if link.proven_at is None:
        return first_step(request, link)
    return authenticator_step(request, link)


def first_step(request: HttpRequest, link: Invitation) -> HttpResponse:
    """A new password (Django's validators), or after a reset the one the person has."""
    data = request.POST if request.method == "POST" else None
    if link.kind == LinkKind.INVITE:
        form: forms.Form = SetPasswordForm(link.user, data)
        if form.is_valid():
            enrolment.proven(link, form.cleaned_data["new_password1"])
            return redirect("admin:enrol")
    else:
        form = PasswordGiven(data)
        if form.is_valid():
            if link.user.check_password(form.cleaned_data["password"]):
                enrolment.proven(link)
                return redirect("admin:enrol")
            left = enrolment.failed(link)
            if not left:
                return gone(request, forget=True)
            form.add_error("password", tries_left(_("That is not your password."), left))
    return page(
        request,
        "enrol_password.html",
        title=_("Choose your password") if link.kind == LinkKind.INVITE else _("Your password"),
        form=form,
        link=link,
        step=1,
    )


def authenticator_step(request: HttpRequest, link: Invitation) -> HttpResponse:
    secret = enrolment.authenticator(link)
    form = CodeGiven(request.POST if request.method == "POST" else None)
    if form.is_valid():
        try:
            codes = enrolment.confirm(link, form.cleaned_data["code"])
        except enrolment.TooSoon:
            codes = []
            form.add_error("code", _("Wait a few seconds after a wrong code, then try again."))
        if codes:
            request.session.pop(enrolment.SESSION_KEY, None)
            return page(
                request, "enrol_done.html", title=_("Your recovery codes"), codes=codes, link=link
            )
        if codes is None:
            left = enrolment.failed(link)
            if not left:
                return gone(request, forget=True)
            form.add_error("code", tries_left(_("That code is not the one your app shows."), left))
    qr = segno.make(secret.otpauth, error="m").svg_inline(
        scale=5, border=2, title=_("QR code for your authenticator app")
    )
    return page(
        request,
        "enrol_authenticator.html",
        title=_("Set up your authenticator app"),
        form=form,
        qr=qr,
        secret=secret,
        link=link,
        step=2,
    )


def tries_left(message: str, left: int) -> str:
    text = ngettext(
        "%(message)s %(left)d try left before the link stops working.",
        "%(message)s %(left)d tries left before the link stops working.",
        left,
    )
    return text % {"message": message, "left": left}
