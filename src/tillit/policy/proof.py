"""`tillit check`: the privacy policy proven true of the running system. Each proof gives the
problems it found (an empty list when it holds)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from django.utils.translation import gettext as _

from tillit import datamap
from tillit.partners.models import Partner

PROMISE = re.compile(r"^- \*\*(P\d+) ([^*]+?)\.?\*\*|\*\*(P\d+) ([^*]+?)\.?\*\*", re.M)
MARK = re.compile(r'@pytest\.mark\.promise\("(P\d+)"\)')
TEST = re.compile(r"^\s*(?:async\s+)?def (test_\w+)", re.M)


@dataclass
class Report:
    problems: list[str] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)


def purposes() -> list[str]:
    """Every purpose has a lawful basis, a written balancing when that basis is legitimate
    interest, and a retention period in both languages."""
    found = []
    for p in datamap.load().purposes.values():
        if p.lawful_basis not in datamap.LAWFUL_BASES:
            found.append(
                _("purpose %(purpose)s has no lawful basis (got %(basis)s)")
                % {"purpose": repr(p.id), "basis": repr(p.lawful_basis)}
            )
        if p.lawful_basis == "legitimate_interest" and not (p.balancing and all(
            p.balancing.get(lang) for lang in datamap.LANGS
        )):  # fmt: skip
            found.append(
                _("purpose %(purpose)s rests on legitimate interest with no balancing test")
                % {"purpose": repr(p.id)}
            )
        if not all((p.retention or {}).get(lang, "").strip() for lang in datamap.LANGS):
            found.append(
                _("purpose %(purpose)s has no retention period (in nb and en)")
                % {"purpose": repr(p.id)}
            )
    return found


def partners() -> list[str]:
    """Every live partner (active, not testing) has a data processing agreement and a
    compliance attestation. A partner in testing receives no one's data (partners/sandbox.py)
    and cannot go live without them."""
    return [
        _("active partner %(partner)s has no DPA or compliance attestation on record")
        % {"partner": repr(p.slug)}
        for p in Partner.objects.filter(active=True, testing=False)
        if not p.has_agreements()
    ]


def promises(spec: Path | None, tests: Path) -> tuple[list[str], list[str]]:
    """Every promise has at least one test naming it: (problems, report lines)."""
    titles: dict[str, str] = {}
    if spec is not None and spec.exists():
        for m in PROMISE.finditer(spec.read_text(encoding="utf-8")):
            pid, title = (m.group(1), m.group(2)) if m.group(1) else (m.group(3), m.group(4))
            titles.setdefault(pid, title.strip())
    if not titles:
        titles = {f"P{n}": "" for n in range(1, 36)}
    proving: dict[str, list[str]] = {pid: [] for pid in titles}
    for path in sorted(tests.rglob("test_*.py")):
        text = path.read_text(encoding="utf-8")
        pending: list[str] = []
        for line in text.splitlines():
            pending += MARK.findall(line)
            test = TEST.match(line)
            if test:
                for pid in pending:
                    proving.setdefault(pid, []).append(f"{path.relative_to(tests)}::{test[1]}")
                pending = []
            elif line.strip() and not line.lstrip().startswith(("@", "#")):
                pending = [] if not line.startswith((" ", ")", "]")) else pending
    lines, problems = [], []
    for pid in sorted(proving, key=lambda p: int(p[1:])):
        names = proving[pid]
        title = titles.get(pid, "")
        example = "  " + _("e.g. %(test)s") % {"test": names[0]} if names else ""
        lines.append(f"{pid:4} {title[:40]:40} {len(names):3} " + _("test(s)") + example)
        if not names:
            problems.append(
                _("promise %(promise)s (%(title)s) has no test that names it")
                % {"promise": pid, "title": title}
            )
    return problems, lines
