"""The data map's [brand]: what an operator's brand may be. Colours that meet WCAG 2.2 AA
(contrast.py), its texts in both languages, and a logo that is an image (PNG, JPEG, WebP or
SVG, by its first bytes) of at most 200 kB next to operator.toml. core/brand.py applies the same
rules to what an administrator sets in the console."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.utils import translation

from tillit.datamap.contrast import Palette
from tillit.datamap.model import check_text

LOGO_MAX_BYTES = 200_000
LOGO_TYPES = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".webp": "image/webp",
    ".svg": "image/svg+xml",
}


def sniff(data: bytes) -> str:
    """The image type the bytes are, or '' for anything else (a logo must be an image)."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    head = data[:1024].lstrip().lower()
    if (head.startswith(b"<svg") or head.startswith(b"<?xml")) and b"<svg" in head:
        return "image/svg+xml"
    return ""


BRAND_TEXTS = ("lede", "thanks", "signature")


def check_brand(brand: Any, bad: Any) -> None:
    """The operator's brand (core/brand.py): colours that meet WCAG AA, texts in both
    languages, and a logo that is an image of at most 200 kB next to this file."""
    if not isinstance(brand, dict):
        bad(("brand",), "[brand] must be a table")
        return
    for key in BRAND_TEXTS:
        if key in brand:
            check_text(brand[key], ("brand", key), f"brand.{key}", bad)
    colours = brand.get("colours")
    if colours is not None:
        names = ("background", "text", "accent", "accent_text")
        if not isinstance(colours, dict) or set(colours) != set(names):
            bad(("brand", "colours"), f"brand.colours must give {', '.join(names)}")
        else:
            with translation.override("en"):  # a check's words are the command's: English
                found = Palette(**{n: colours[n] for n in names}).problems()
            for name, problem in found:
                bad(("brand", "colours"), f"brand.colours.{name}: {problem}")
    logo = brand.get("logo")
    if logo is not None:
        path = Path(settings.OPERATOR_FILE).parent / str(logo)
        if Path(str(logo)).suffix.lower() not in LOGO_TYPES:
            bad(("brand", "logo"), "brand.logo must be a .png, .jpg, .webp or .svg file")
        elif not path.is_file():
            bad(("brand", "logo"), f"brand.logo: no file {path}")
        elif path.stat().st_size > LOGO_MAX_BYTES or not sniff(path.read_bytes()):
            bad(("brand", "logo"), "brand.logo must be an image of at most 200 kB")
