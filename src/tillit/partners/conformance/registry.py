"""The checks, in the order the report lists them, and the stage each runs in.

A check is a function of the session that returns a note (or nothing) when it passes and
raises Failed or Skipped otherwise. The stages run one after the other: FIRST (the endpoint
and whether it answers at all), MAIN (the protocol's checks, concurrently, each with test
identities of its own), WITNESS (one after the other in the calling thread, which may read
the database), AFTER (what the earlier checks saw: refusals' signatures, callbacks),
CLEANUP (every test identity erased) and LAST (how long the answers took).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from django.utils.functional import Promise

    from tillit.partners.conformance.session import Session

FIRST, MAIN, WITNESS, AFTER, CLEANUP, LAST = "first", "main", "witness", "after", "cleanup", "last"
STAGES = (FIRST, MAIN, WITNESS, AFTER, CLEANUP, LAST)
RIGHTS = "rights"  # needs the partner's rights API


@dataclass(frozen=True)
class Check:
    id: str
    title: Promise | str
    func: Callable[[Session], str | None]
    needs: str = ""
    stage: str = MAIN


CHECKS: list[Check] = []


def check(
    check_id: str, title: Promise | str, *, needs: str = "", stage: str = MAIN
) -> Callable[[Callable[[Session], str | None]], Callable[[Session], str | None]]:
    def register(func: Callable[[Session], str | None]) -> Callable[[Session], str | None]:
        CHECKS.append(Check(check_id, title, func, needs, stage))
        return func

    return register
