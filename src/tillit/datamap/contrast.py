"""Colour contrast as WCAG 2.2 measures it (relative luminance, success criteria 1.4.3 and
1.4.11), for the operator's brand colours: a palette is saved only when every pair a visitor
reads meets AA, and the colours tillit derives from it (muted text, error text, field borders,
the focus ring) are checked the same way, falling back to the text colour when they would not
meet it."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from django.utils.translation import gettext as _

HEX = re.compile(r"#[0-9a-fA-F]{6}")
TEXT_AA = 4.5  # 1.4.3, body text
NON_TEXT_AA = 3.0  # 1.4.11, borders of fields and the focus ring


def _channel(value: int) -> float:
    c = value / 255
    return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4


def luminance(colour: str) -> float:
    r, g, b = (int(colour[i : i + 2], 16) for i in (1, 3, 5))
    return 0.2126 * _channel(r) + 0.7152 * _channel(g) + 0.0722 * _channel(b)


def ratio(a: str, b: str) -> float:
    """The contrast ratio of two colours, from 1 to 21."""
    high, low = sorted((luminance(a), luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def mix(a: str, b: str, share_of_b: float) -> str:
    channels = [
        round(int(a[i : i + 2], 16) * (1 - share_of_b) + int(b[i : i + 2], 16) * share_of_b)
        for i in (1, 3, 5)
    ]
    return "#" + "".join(f"{c:02x}" for c in channels)


@dataclass(frozen=True)
class Palette:
    """The four colours an operator chooses."""

    background: str
    text: str
    accent: str
    accent_text: str

    def problems(self) -> list[tuple[str, str]]:
        """(field, what is wrong) for each pair below AA; empty when the palette may be used."""
        found = [
            (name, _("Write the colour as #rrggbb, for example #0b5cad."))
            for name, value in vars(self).items()
            if not isinstance(value, str) or not HEX.fullmatch(value)
        ]
        if found:
            return found
        pairs = [
            ("text", self.text, self.background, _("Text on the background")),
            ("accent", self.accent, self.background, _("Links (the accent) on the background")),
            ("accent_text", self.accent_text, self.accent, _("Button labels on the accent")),
        ]
        for field, fore, back, what in pairs:
            measured = ratio(fore, back)
            if measured < TEXT_AA:
                message = _(
                    "%(what)s: the contrast is %(measured).2f:1; WCAG 2.2 AA asks for at "
                    "least %(least)s:1."
                ) % {"what": what, "measured": math.floor(measured * 100) / 100, "least": TEXT_AA}
                found.append((field, message))
        return found

    def derived(self) -> dict[str, str]:
        """Every colour the pages use, as CSS custom properties (site.css names them)."""
        bg, text = self.background.lower(), self.text.lower()

        def readable(candidate: str, least: float) -> str:
            return candidate if ratio(candidate, bg) >= least else text

        return {
            "--bg": bg,
            "--ink": text,
            "--accent": self.accent.lower(),
            "--on-accent": self.accent_text.lower(),
            "--muted": readable(mix(text, bg, 0.3), TEXT_AA),
            "--bad": readable("#b3261e", TEXT_AA),
            "--line": mix(text, bg, 0.75),
            "--field-line": readable(mix(text, bg, 0.45), NON_TEXT_AA),
            "--focus": readable("#f2b600", NON_TEXT_AA),
            "--field-bg": bg,
        }
