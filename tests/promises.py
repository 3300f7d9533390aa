"""Which test proves which promise of shared/spec/PROMISES.md."""

from __future__ import annotations

import re
from pathlib import Path

PROMISES_FILE = Path(__file__).resolve().parents[2] / "shared" / "spec" / "PROMISES.md"


def promise_ids() -> list[str]:
    if PROMISES_FILE.exists():
        found = re.findall(r"\*\*(P\d+)\b", PROMISES_FILE.read_text())
        return sorted(set(found), key=lambda p: int(p[1:]))
    return [f"P{n}" for n in range(1, 36)]


def summary(mapping: dict[str, list[str]]) -> str:
    by_promise: dict[str, int] = {}
    for promises in mapping.values():
        for p in promises:
            by_promise[p] = by_promise.get(p, 0) + 1
    proved = [f"{p}:{by_promise[p]}" for p in promise_ids() if p in by_promise]
    missing = [p for p in promise_ids() if p not in by_promise]
    return (
        f"promises with tests: {' '.join(proved) or '-'}\n"
        f"promises without a test yet: {' '.join(missing) or '-'}"
    )
