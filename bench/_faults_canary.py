"""The fault campaign's canary scan (bench/faults.py): no canary value at rest on tillit's side.

Every sign-up carries the run's canary values. With every process stopped they are looked for,
as typed and in the usual encodings (`needles`), in every row of every table, in PostgreSQL's
files, in tillit's data directory (the e-mail spool, which stands for the people's inboxes,
aside) and in the logs; the same scan must find them at the partner, which holds the names.
"""

from __future__ import annotations

import base64
import json
import unicodedata
from pathlib import Path
from urllib.parse import quote, quote_plus

from _faults_checks import Check
from _faults_load import Load
from _faults_site import Site


def needles(marks: list[str], thorough: bool) -> list[tuple[str, bytes]]:
    """Each mark as typed and as the usual encodings would leave it (tests/e2e/test_canary.py
    has the full list); `thorough` adds those only a text dump of the rows would show."""
    out: dict[bytes, str] = {}
    for mark in marks:
        texts = {
            "as typed": mark,
            "lower case": mark.lower(),
            "upper case": mark.upper(),
            "NFD": unicodedata.normalize("NFD", mark),
            "URL-encoded": quote(mark),
            "URL-encoded (plus)": quote_plus(mark),
            "JSON-escaped": json.dumps(mark)[1:-1],
        }
        found = {label: text.encode() for label, text in texts.items()}
        found["UTF-16-LE"] = mark.encode("utf-16-le")
        if thorough:
            raw = mark.encode()
            found["hex"] = raw.hex().encode()
            for lead in range(3):
                padded = b"\0" * lead + raw
                start, end = (1 if lead else 0), len(padded) // 3
                found[f"base64 (offset {lead})"] = base64.b64encode(padded)[4 * start : 4 * end]
        for label, encoded in found.items():
            out.setdefault(encoded, f"{mark!r} ({label})")
    return [(label, encoded) for encoded, label in out.items()]


def scan_bytes(blob: bytes, where: str, search: list[tuple[str, bytes]]) -> list[str]:
    return [f"{where}: {label}" for label, encoded in search if encoded in blob]


def scan_tree(root: Path, search: list[tuple[str, bytes]], skip: tuple[str, ...] = ()) -> tuple:
    found, files, size = [], 0, 0
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        relative = path.relative_to(root)
        if relative.parts[0] in skip or path.name == "filler":
            continue
        blob = path.read_bytes()
        files, size = files + 1, size + len(blob)
        found += scan_bytes(blob, f"{root.name}/{relative}", search)
    return found, files, size


def scan_database(db_url: str, search: list[tuple[str, bytes]]) -> tuple[list[str], int]:
    """Every row of every table as text (PostgreSQL shows bytea as hex)."""
    import psycopg

    found, rows = [], 0
    with psycopg.connect(db_url, autocommit=True) as conn:
        tables = [
            r[0]
            for r in conn.execute("select tablename from pg_tables where schemaname = 'public'")
        ]
        for table in tables:
            texts = [r[0] for r in conn.execute(f'select t::text from "{table}" t')]  # noqa: S608
            rows += len(texts)
            found += scan_bytes("\n".join(texts).encode(), f"table {table}", search)
    return found, rows


def canary_checks(site: Site, load: Load, logdir: Path) -> tuple[Check, dict]:
    """With every process stopped: the rows, PostgreSQL's files, the data directory, logs."""
    marks = list(load.canary.values())
    thorough, quick = needles(marks, True), needles(marks, False)
    found, rows = scan_database(site.db_url, thorough)
    scanned = {"rows": rows}
    if site.pg:
        with site.pg.lock:
            site.pg.held = True
            site.pg.stop("fast")
        files, n, size = scan_tree(site.pg.data, quick)
        found += files
        scanned["postgresql files"] = f"{n} files, {size >> 20} MB"
        log_found, _, _ = scan_tree(site.pg.sockets, quick)
        found += log_found
    files, n, size = scan_tree(site.data_dir, thorough, skip=("demo",))  # type: ignore[attr-defined]
    found += files
    scanned["data directory"] = f"{n} files, {size >> 10} KB (demo/, the e-mail outbox, aside)"
    files, n, size = scan_tree(logdir, thorough)
    found += files
    scanned["logs"] = f"{n} files, {size >> 10} KB"
    # The scan can see: the partner, the processor, holds the people's names.
    seen, _, _ = scan_tree(site.partner_dir, quick)  # type: ignore[attr-defined]
    ok = not found and bool(seen) and rows > 100
    detail = (
        f"{len(found)} found" + (f": {found[:5]}" if found else "")
        + f"; scanned {scanned}; the same scan finds them at the partner: {bool(seen)}"
    )  # fmt: skip
    return Check("no canary at rest on the operator's side", ok, detail), scanned
