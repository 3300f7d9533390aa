"""The console's brand page: the operator's name, contact details, logo, colours and own texts,
with a preview of the sign-up page before anything is saved. Colours that do not meet WCAG 2.2
AA are refused, naming the pair and its contrast; every change is audited (which fields, by
whom; not the values, which are on the page)."""

from __future__ import annotations

import dataclasses
import unicodedata
from typing import Any

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.auth.decorators import permission_required
from django.core import signing
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.clickjacking import xframe_options_sameorigin

from tillit import datamap
from tillit.audit.models import record
from tillit.core import brand
from tillit.core.models import Brand
from tillit.datamap.brand import LOGO_MAX_BYTES, sniff
from tillit.datamap.contrast import Palette
from tillit.site.forms import signup_form

COLOURS = ("background", "text", "accent", "accent_text")
TEXTS = ("lede_nb", "lede_en", "thanks_nb", "thanks_en", "signature_nb", "signature_en")
PLAIN = ("name", "email", "phone", "address", *COLOURS, *TEXTS)
PREVIEW_SALT = "tillit.console.brand.preview"
PREVIEW_SECONDS = 3600


class BrandForm(forms.ModelForm):
    upload = forms.FileField(
        label=gettext_lazy("New logo"),
        required=False,
        help_text=gettext_lazy(
            "PNG, JPEG, WebP or SVG, at most 200 kB. The preview shows the logo in use; a new "
            "one shows once saved."
        ),
    )
    remove_logo = forms.BooleanField(label=gettext_lazy("Remove the logo"), required=False)

    class Meta:
        model = Brand
        fields = PLAIN
        widgets = {
            **{c: forms.TextInput(attrs={"type": "color"}) for c in COLOURS},
            **{t: forms.Textarea(attrs={"rows": 3, "cols": 60}) for t in TEXTS},
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        current = brand.current()
        for name in ("name", "email", "phone", "address"):
            self.fields[name].help_text = _("Empty: %(value)s (from the data map)") % {
                "value": datamap.load().operator.get(name, "–")
            }
        for name in COLOURS:
            self.fields[name].required = False
            self.initial.setdefault(name, getattr(current.palette, name))

    def clean_upload(self) -> bytes | None:
        upload = self.cleaned_data.get("upload")
        if upload is None:
            return None
        data = upload.read(LOGO_MAX_BYTES + 1)
        if len(data) > LOGO_MAX_BYTES or not sniff(data):
            raise forms.ValidationError(
                _("A logo must be a PNG, JPEG, WebP or SVG image of at most 200 kB.")
            )
        return data

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        for name in ("name", "phone", "address"):
            # Each goes into e-mails' headers or lines: a line break would stop every e-mail.
            if any(unicodedata.category(ch).startswith("C") for ch in data.get(name) or ""):
                self.add_error(name, _("This cannot contain line breaks or control characters."))
        palette = Palette(**{c: (data.get(c) or "").lower() for c in COLOURS})
        for field, problem in palette.problems():
            self.add_error(field, problem)
        return data


@permission_required("core.change_brand", raise_exception=True)
def edit(request: HttpRequest) -> HttpResponse:
    saved = Brand.objects.filter(pk=1).first() or Brand(pk=1)
    form = BrandForm(request.POST or None, request.FILES or None, instance=saved)
    preview = ""
    if request.method == "POST" and form.is_valid():
        if "preview" in request.POST:
            values = {k: form.cleaned_data.get(k) or "" for k in PLAIN}
            preview = signing.dumps(values, salt=PREVIEW_SALT, compress=True)
        else:
            _save(request, form)
            messages.success(request, _("The brand is saved. Every page shows it within a minute."))
            return redirect("admin:brand")
    return render(
        request,
        "console/brand.html",
        {
            **admin.site.each_context(request),
            "title": _("Your brand"),
            "form": form,
            "who": [form[n] for n in ("name", "email", "phone", "address")],
            "colours": [form[n] for n in COLOURS],
            "texts": [form[n] for n in TEXTS],
            "preview_url": reverse("admin:brand-preview") + f"?t={preview}" if preview else "",
            "logo_url": reverse("brand-logo") + f"?v={brand.current().version}",
            "has_logo": bool(brand.current().logo),
        },
    )


def _save(request: HttpRequest, form: BrandForm) -> None:
    with transaction.atomic():
        row = form.save(commit=False)
        row.pk = 1
        if form.cleaned_data.get("upload"):
            row.logo = form.cleaned_data["upload"]
            row.logo_type = sniff(row.logo)
        elif form.cleaned_data.get("remove_logo"):
            row.logo, row.logo_type = b"", ""
        fallback = brand.build(datamap.load(), None).palette
        if all(getattr(row, c).lower() == getattr(fallback, c).lower() for c in COLOURS):
            # The colours offered were the data map's (a colour field always sends one): keep
            # none, so that the data map's colours still apply, and their changes.
            for c in COLOURS:
                setattr(row, c, "")
        row.save()
        changed = sorted(set(form.changed_data) - {"remove_logo"})
        record("brand.changed", actor=f"staff:{request.user.pk}", fields=changed)
    brand.forget()


@xframe_options_sameorigin
@permission_required("core.change_brand", raise_exception=True)
def preview(request: HttpRequest) -> HttpResponse:
    """The sign-up page as it would look with the brand not yet saved (framed by the brand
    page; the values travel signed, nothing is written)."""
    try:
        values = signing.loads(request.GET.get("t", ""), salt=PREVIEW_SALT, max_age=PREVIEW_SECONDS)
    except signing.BadSignature:
        return HttpResponse(status=400)
    row = Brand(**{k: str(values.get(k, "")) for k in PLAIN})
    saved = Brand.objects.filter(pk=1).first()
    if saved and saved.logo:
        row.logo, row.logo_type = saved.logo, saved.logo_type
    shown = brand.build(datamap.load(), row)
    language = request.GET.get("lang")
    with translation.override(language if language in datamap.LANGS else None):
        response = _preview_page(request, shown)
    response._csp_config = {**settings.SECURE_CSP, "frame-ancestors": ["'self'"]}  # type: ignore[attr-defined]
    return response


def _preview_page(request: HttpRequest, shown: brand.Brand) -> HttpResponse:
    return render(
        request,
        "console/brand_preview.html",
        {
            "form": signup_form(),
            "brand": shown,
            "operator": shown.operator,
            "preview_css": reverse("admin:brand-preview-css") + f"?t={request.GET['t']}",
        },
    )


@permission_required("core.change_brand", raise_exception=True)
def preview_css(request: HttpRequest) -> HttpResponse:
    try:
        values = signing.loads(request.GET.get("t", ""), salt=PREVIEW_SALT, max_age=PREVIEW_SECONDS)
    except signing.BadSignature:
        return HttpResponse(status=400)
    palette = Palette(**{c: str(values.get(c, "")) for c in COLOURS})
    if palette.problems():
        palette = brand.DEFAULT
    shown = dataclasses.replace(brand.current(), palette=palette)
    return HttpResponse(shown.css, content_type="text/css")
