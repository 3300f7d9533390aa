"""The operator's brand (issue 15, point 4): name, logo, colours, contact details and own texts
from the data map or the console, on every public page and e-mail; colours refused unless they
meet WCAG 2.2 AA; a preview that saves nothing; every change audited."""

from __future__ import annotations

import re

import pytest

from tests.conftest import sign_in
from tillit import datamap
from tillit.audit.models import AuditEvent
from tillit.core import brand
from tillit.core.models import Brand
from tillit.datamap.contrast import Palette, ratio
from tillit.subjects.confirmation import confirmation_token
from tillit.subjects.models import Subject
from tillit.worker.loop import Loop

pytestmark = pytest.mark.django_db

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
GOOD = {"background": "#102030", "text": "#f5f5f0", "accent": "#ffd166", "accent_text": "#102030"}


@pytest.fixture(autouse=True)
def _no_kept_brand():
    brand.forget()
    yield
    brand.forget()


def form(**overrides: str) -> dict[str, str]:
    return {
        "name": "Lysning Henvisning AS",
        "email": "",
        "phone": "",
        "address": "Lysveien 2, 0151 Oslo",
        **GOOD,
        "lede_nb": "Bli med hos Lysning.",
        "lede_en": "Join Lysning.",
        "thanks_nb": "Takk, og velkommen!",
        "thanks_en": "Thank you, and welcome!",
        "signature_nb": "Hilsen Lysning",
        "signature_en": "Regards, Lysning",
        "save": "1",
        **overrides,
    }


def test_contrast_is_measured_as_wcag_measures_it():
    assert ratio("#000000", "#ffffff") == pytest.approx(21)
    assert ratio("#767676", "#ffffff") == pytest.approx(4.54, abs=0.01)  # the AA edge on white
    assert Palette(**GOOD).problems() == []
    grey = Palette(background="#ffffff", text="#777777", accent="#0b5cad", accent_text="#1060b0")
    assert [field for field, _ in grey.problems()] == ["text", "accent_text"]
    assert "4.47:1" in grey.problems()[0][1]  # 4.48 rounded up would hide that it fails
    assert [f for f, _ in Palette("#fff", "#000000", "#000000", "#ffffff").problems()] == [
        "background"
    ]


def test_derived_colours_fall_back_to_the_text_colour_when_they_would_fail():
    derived = Palette(**GOOD).derived()
    assert ratio(derived["--muted"], GOOD["background"]) >= 4.5
    assert ratio(derived["--bad"], GOOD["background"]) >= 4.5
    assert ratio(derived["--focus"], GOOD["background"]) >= 3
    assert ratio(derived["--field-line"], GOOD["background"]) >= 3


@pytest.mark.promise("P3")
@pytest.mark.django_db(transaction=True)  # the worker's job loop runs (see test_console_home)
def test_the_console_saves_a_brand_every_public_page_and_e_mail_shows(
    client, administrator, partner, visitor, mailoutbox
):
    sign_in(client, administrator)
    saved = client.post("/console/brand/", form())
    assert saved.status_code == 302, saved.content.decode()[:3000]
    event = AuditEvent.objects.filter(action="brand.changed").get()
    assert event.actor == f"staff:{administrator.pk}" and "accent" in event.data["fields"]
    client.logout()

    page = client.get("/").content.decode()
    assert "Lysning Henvisning AS" in page and "Bli med hos Lysning." in page
    assert "Lysveien 2, 0151 Oslo" in page
    css_url = re.search(r'href="(/brand\.css\?v=[0-9a-f]+)"', page).group(1)
    css = client.get(css_url)
    assert "--bg:#102030" in css.content.decode() and "--on-accent:#102030" in css.content.decode()
    assert "immutable" in css["Cache-Control"]
    assert "Join Lysning." in client.get("/en/").content.decode()

    client.post("/", visitor)
    Loop().run_tasks()
    [message] = mailoutbox
    assert "Hilsen Lysning" in message.body and "Lysning Henvisning AS" in message.body
    assert "Hilsen Lysning" in message.alternatives[0][0]
    subject = Subject.objects.get()
    welcome = client.post(f"/confirm/{confirmation_token(subject)}/").content.decode()
    assert "Takk, og velkommen!" in welcome


def test_colours_below_aa_are_refused_naming_the_pair_and_nothing_is_saved(client, administrator):
    sign_in(client, administrator)
    answer = client.post("/console/brand/", form(accent="#102030"))
    page = answer.content.decode()
    assert answer.status_code == 200
    assert "Links (the accent) on the background: the contrast is 1.00:1" in page
    assert "WCAG 2.2 AA asks for at least 4.5:1" in page
    assert not Brand.objects.exists()
    assert not AuditEvent.objects.filter(action="brand.changed").exists()


def test_the_preview_shows_the_brand_without_saving_it(client, administrator):
    sign_in(client, administrator)
    answer = client.post("/console/brand/", {**form(), "preview": "1", "save": ""})
    page = answer.content.decode()
    assert answer.status_code == 200 and not Brand.objects.exists()
    url = re.search(r'<iframe src="([^"]+)&amp;lang=nb"', page).group(1).replace("&amp;", "&")
    framed = client.get(url + "&lang=nb")
    assert framed.status_code == 200 and "Bli med hos Lysning." in framed.content.decode()
    assert framed["X-Frame-Options"] == "SAMEORIGIN"
    assert "Join Lysning." in client.get(url + "&lang=en").content.decode()
    css_url = re.search(r'href="([^"]*preview\.css[^"]*)"', framed.content.decode()).group(1)
    assert "--bg:#102030" in client.get(css_url.replace("&amp;", "&")).content.decode()
    assert client.get(url.split("?")[0] + "?t=forged").status_code == 400
    # The public pages still show the data map's brand.
    assert "Bli med hos Lysning." not in client.get("/").content.decode()


def test_a_logo_is_an_image_and_is_served_so_that_it_cannot_run(client, administrator):
    from django.core.files.uploadedfile import SimpleUploadedFile

    sign_in(client, administrator)
    fake = SimpleUploadedFile("logo.png", b"<html><script>alert(1)</script>", "image/png")
    refused = client.post("/console/brand/", {**form(), "upload": fake})
    assert refused.status_code == 200 and not Brand.objects.exists()
    svg = b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"></svg>'
    upload = SimpleUploadedFile("logo.svg", svg, "image/svg+xml")
    assert client.post("/console/brand/", {**form(), "upload": upload}).status_code == 302
    page = client.get("/").content.decode()
    logo_url = re.search(r'src="(/brand/logo\?v=[0-9a-f]+)"', page).group(1)
    logo = client.get(logo_url)
    assert logo.content == svg and logo["Content-Type"] == "image/svg+xml"
    assert "sandbox" in logo["Content-Security-Policy"]


@pytest.mark.promise("P21")
def test_support_may_not_change_the_brand(client, support):
    sign_in(client, support)
    assert client.get("/console/brand/").status_code == 403
    assert client.post("/console/brand/", form()).status_code == 403
    assert not Brand.objects.exists()


def test_the_data_maps_brand_is_checked_and_applied(client, tmp_path, settings):
    text = settings.OPERATOR_FILE.read_text(encoding="utf-8")
    (tmp_path / "logo.png").write_bytes(PNG)
    good = (
        "\n[brand]\n"
        'logo = "logo.png"\n'
        'colours = { background = "#ffffff", text = "#111111", accent = "#0b5cad", '
        'accent_text = "#ffffff" }\n'
        'lede = { nb = "Velkommen til oss.", en = "Welcome to us." }\n'
    )
    changed = tmp_path / "operator.toml"
    changed.write_text(text + good, encoding="utf-8")
    settings.OPERATOR_FILE = changed
    assert datamap.problems(changed) == []
    page = client.get("/").content.decode()
    assert "Velkommen til oss." in page and 'src="/brand/logo?v=' in page
    bad = good.replace('accent = "#0b5cad"', 'accent = "#ffff00"').replace("logo.png", "no.png")
    changed.write_text(text + bad, encoding="utf-8")
    found = [message for _, message in datamap.problems(changed)]
    assert any("brand.colours.accent" in m and "contrast" in m for m in found), found
    assert any("brand.logo: no file" in m for m in found), found


def test_a_line_break_in_the_name_is_refused_so_that_e_mails_still_go(client, administrator):
    sign_in(client, administrator)
    answer = client.post("/console/brand/", form(name="Lysning\r\nBcc: x@example.com"))
    assert answer.status_code == 200 and not Brand.objects.exists()
    assert "line breaks" in answer.content.decode()


def test_colours_left_as_the_data_maps_stay_the_data_maps(client, administrator, settings):
    sign_in(client, administrator)
    fallback = brand.build(datamap.load(), None).palette
    untouched = {c: getattr(fallback, c) for c in ("background", "text", "accent", "accent_text")}
    assert client.post("/console/brand/", form(**untouched)).status_code == 302
    assert Brand.objects.get().background == ""  # the data map's colours still apply
    assert client.post("/console/brand/", form()).status_code == 302
    assert Brand.objects.get().background == GOOD["background"]


def test_the_brand_last_read_holds_while_the_database_is_away(client, administrator, monkeypatch):
    from django.db import DatabaseError

    sign_in(client, administrator)
    client.post("/console/brand/", form())
    brand.forget()
    assert brand.current().operator["name"] == "Lysning Henvisning AS"
    brand._kept["until"] = 0.0

    def away(*args, **kwargs):
        raise DatabaseError("the database is away")

    monkeypatch.setattr(Brand.objects, "filter", away)
    assert brand.current().operator["name"] == "Lysning Henvisning AS"
