"""Every string marked for translation has an nb translation, and the compiled catalogue is the
one its source says: `make messages` is run over a copy of the code, and a string added to a
template or the code without its nb translation (or with a fuzzy guess, which Django would not
show) fails here, naming the string."""

from __future__ import annotations

import gettext
import os
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest
from babel.messages.pofile import read_po
from django.template.base import Lexer, TokenType

pytestmark = pytest.mark.promise("P10")

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "tillit"
CATALOGUE = PACKAGE / "locale" / "nb" / "LC_MESSAGES"


def untranslated(po: Path) -> list[str]:
    with po.open("rb") as f:
        catalogue = read_po(f)
    missing = []
    for message in catalogue:
        if not message.id:
            continue
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        if message.fuzzy or not all(strings):
            missing.append(str(message.id if isinstance(message.id, str) else message.id[0]))
    return missing


@pytest.mark.skipif(shutil.which("xgettext") is None, reason="gettext is not installed")
def test_every_marked_string_of_code_and_templates_has_an_nb_translation(tmp_path):
    copy = tmp_path / "tillit"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__", "*.mo"))
    env = {**os.environ, "TILLIT_DATA_DIR": str(tmp_path / "data")}
    subprocess.run(
        [sys.executable, "-m", "tillit", "makemessages", "-l", "nb", "--no-location"]
        + ["--ignore", "reference_partner/*"],
        cwd=copy,
        env=env,
        check=True,
        capture_output=True,
    )
    missing = untranslated(copy / "locale" / "nb" / "LC_MESSAGES" / "django.po")
    assert missing == [], f"run `make messages` and translate these in django.po: {missing}"


def test_the_compiled_catalogue_is_the_source_catalogue():
    with (CATALOGUE / "django.po").open("rb") as f:
        source = read_po(f)
    with (CATALOGUE / "django.mo").open("rb") as f:
        compiled = gettext.GNUTranslations(f)
    stale = []
    for message in source:
        if not message.id or message.fuzzy or message.context:
            continue
        if isinstance(message.id, str) and compiled.gettext(message.id) != message.string:
            stale.append(message.id)
    assert stale == [], f"django.mo is stale (run `make messages`): {stale[:5]}"


# The template gate: literal words in a template that no {% translate %} or {% blocktranslate %}
# carries would reach an nb reader in English, and makemessages would never see them.
TEMPLATE_ROOTS = [
    path
    for path in PACKAGE.rglob("*")
    if path.is_file()
    and path.suffix in (".html", ".txt")
    and ("templates" in path.parts or "overrides" in path.parts)
    and "reference_partner" not in path.parts
]

# Text that is not in any language, each with its reason: words set aside wherever they stand
# (so that "tillit" may stand beside translated words), and whole pieces of text.
ALLOWED_WORDS = {
    "tillit": "the product's name",
}
ALLOWED_TEXT = {
    "English": "a language's own name, on the button that switches to it",
    "Norsk": "a language's own name, on the button that switches to it",
    "Website": "the label of the honeypot field, hidden from people: a trap for bots",
    "colM": "the name of a layout of Django's admin, in its coltype block: a CSS class",
}
# Attributes a person reads or hears; `value` only where it is a button's label.
READ_ATTRIBUTES = ("title", "alt", "aria-label", "placeholder")
BUTTON_INPUTS = ("submit", "button", "reset")
# Elements whose content is code (commands, keys, signed notes), not language.
CODE_ELEMENTS = ("script", "style", "code", "pre", "kbd", "samp")
WORDS = re.compile(r"[^\W\d_]")
NOT_LANGUAGE = re.compile(
    r"[\w.+-]+@[\w-]+(\.[\w-]+)+"  # an e-mail address
    r"|https?://\S+"  # an address on the web
)
# A literal string in a filter argument that a person reads: {{ x|default:"never" }}.
LITERAL_DEFAULT = re.compile(r"\|default(?:_if_none)?:(\"[^\"]*\"|'[^']*')")


def _language_in(text: str) -> str:
    """The text, collapsed, if it still holds a letter once the allowed words, addresses and
    everything but letters are set aside; '' if it is not language."""
    text = NOT_LANGUAGE.sub(" ", text)
    for word in ALLOWED_WORDS:
        text = re.sub(rf"(?<!\w){re.escape(word)}(?!\w)", " ", text)
    text = " ".join(text.split())
    return text if WORDS.search(text) and text not in ALLOWED_TEXT else ""


class _Reader(HTMLParser):
    """Collects the pieces of text and the read attributes of a template's HTML, outside code
    elements."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []
        self.inside_code = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in CODE_ELEMENTS:
            self.inside_code += 1
        values = dict(attrs)
        read = [name for name in READ_ATTRIBUTES if values.get(name)]
        if tag == "input" and (values.get("type") or "").lower() in BUTTON_INPUTS:
            read.append("value")
        for name in read:
            if words := _language_in(values[name] or ""):
                self.found.append(f'{name}="{words}"')

    def handle_endtag(self, tag: str) -> None:
        if tag in CODE_ELEMENTS and self.inside_code:
            self.inside_code -= 1

    def handle_data(self, data: str) -> None:
        if not self.inside_code and (words := _language_in(data)):
            self.found.append(words)


def untranslated_text(source: str, *, html: bool = True) -> list[str]:
    """The literal text of a template that no translation tag carries: its TEXT tokens outside
    {% blocktranslate %}, {% comment %} and code elements (every other tag stands as a space),
    the attributes a person reads, and literal defaults of variables."""
    kept: list[str] = []
    found: list[str] = []
    skip_until = ""
    for token in Lexer(source).tokenize():
        name = token.contents.split()[0] if token.contents.split() else ""
        if skip_until:
            if token.token_type == TokenType.BLOCK and name == skip_until:
                skip_until = ""
            continue
        if token.token_type == TokenType.TEXT:
            kept.append(token.contents)
            continue
        kept.append(" ")
        if token.token_type == TokenType.BLOCK and name in ("blocktranslate", "blocktrans"):
            skip_until = "end" + name
        elif token.token_type == TokenType.BLOCK and name == "comment":
            skip_until = "endcomment"
        elif token.token_type == TokenType.VAR:
            found += [
                w for m in LITERAL_DEFAULT.findall(token.contents) if (w := _language_in(m[1:-1]))
            ]
    if html:
        reader = _Reader()
        reader.feed("".join(kept))
        reader.close()
        return found + reader.found
    return found + [w for line in "".join(kept).splitlines() if (w := _language_in(line))]


def test_the_template_check_flags_literal_text():
    flagged = untranslated_text(
        '{% load i18n %}<h1>Rights requests</h1><p>{% translate "Fine" %} received {{ at }}</p>'
        '<img alt="A chart"><input type="submit" value="Send it">{{ x|default:"never" }}'
        '<svg aria-label="{{ label }} per day"></svg>'
    )
    assert flagged == ["never", "Rights requests", "received", 'alt="A chart"',
                       'value="Send it"', 'aria-label="per day"']  # fmt: skip
    assert untranslated_text("Hello {{ name }},\n\n{{ link }}\n", html=False) == ["Hello ,"]


def test_the_template_check_passes_marked_text_code_and_allowed_words():
    assert (
        untranslated_text(
            "{% load i18n %}{% comment %}Why this page exists.{% endcomment %}{# a note #}"
            '<h1>{% translate "Rights requests" %}</h1><!-- a comment -->'
            "<p>{% blocktranslate with n=n %}{{ n }} requests{% endblocktranslate %} · 12 %</p>"
            '<input type="hidden" name="action" value="rotate_secret"><script>let a = "b";</script>'
            "<style>p { color: red }</style><code>tillit audit verify</code>"
            '<p title="{% translate "Help" %}">tillit · kari@example.com</p>'
            '<button name="language" value="en" lang="en">English</button>'
            '{{ x|date:"Y-m-d" }}{{ y|default:_("never") }}'
        )
        == []
    )


@pytest.mark.parametrize("template", TEMPLATE_ROOTS, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_every_template_text_is_marked_for_translation(template):
    source = template.read_text(encoding="utf-8")
    flagged = untranslated_text(source, html=template.suffix == ".html")
    assert flagged == [], f"{template.relative_to(PACKAGE)}: mark for translation: {flagged}"
