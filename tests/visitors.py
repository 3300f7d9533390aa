"""A test client for the visitor's pages with the worker beside it.

A sign-up is recorded in two halves (subjects/intake.py): the request seals it, the worker
records it within a step. `WorkerClient` runs that step, the real one, after each POST, as a
running worker would half a second later, so a test can look at what a sign-up made. The tests
of the halves themselves (tests/test_intake.py) use Django's plain Client.
"""

from __future__ import annotations

from typing import Any

from django.test import Client


def record_signups() -> int:
    """What the worker's step does with the sign-ups waiting: record them all."""
    from tillit.subjects import intake

    total = 0
    while taken := intake.process():
        total += taken
    return total


class WorkerClient(Client):
    def post(self, *args: Any, **kwargs: Any) -> Any:
        response = super().post(*args, **kwargs)
        record_signups()
        return response
