"""Model checking: Hypothesis state machines run against the real database.

A machine (a `Machine` subclass) drives one long-lived thing through the product's own
functions, with rules that stand for people, workers, partners, crashes and the clock, and
checks its invariants after every step. Two invariants hold for every machine and are checked
here, from the rows it `watches`:

- every change of state is a move its lifecycle declares (src/tillit/core/lifecycle.py), and a
  new row starts in one of the lifecycle's first states; a move that stays in its state
  (an extension) is seen by the field it `marks`;
- every move that names an audit event left that event in the audit log in the same step.

`explore(Machine, record_property)` runs a machine as the test it is called from and adds what
it explored (examples, steps) to the test's report; the run's summary prints them per machine
(tests/conftest.py), on every CI run.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections import Counter
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, ClassVar

import httpcore
import httpx
import time_machine
from django.db import models
from django.utils import timezone
from hypothesis import HealthCheck, Phase, settings
from hypothesis.stateful import RuleBasedStateMachine, invariant, run_state_machine_as_test
from tillit_partner.core import Partner as LibraryPartner
from tillit_partner.core import Request
from tillit_partner.store import MemoryStore

if TYPE_CHECKING:  # the run's summary imports this module before Django's apps are ready
    from tillit.core.lifecycle import Lifecycle

# CI explores a little more than a developer's run; TILLIT_MACHINE_EXAMPLES overrides both.
# CI plays the same orders on every run (a change that breaks one fails every time, and a
# green run is reproducible); elsewhere each run tries new ones.
CI = bool(os.environ.get("CI"))
EXAMPLES = int(os.environ.get("TILLIT_MACHINE_EXAMPLES") or (60 if CI else 25))
STEPS = int(os.environ.get("TILLIT_MACHINE_STEPS") or 30)
SECRET = "a-secret-for-the-machines"


class Machine(RuleBasedStateMachine):
    """A state machine whose rows are checked against their lifecycles after every step.

    Subclasses say what they watch (`watches`: lifecycle and the machine's own rows of it) and
    call `super().__init__()` first; `clock` is the machine's own time (time-machine), which
    rules move forward with `self.clock.shift(...)`.
    """

    examples: ClassVar[int] = 0
    steps: ClassVar[int] = 0
    moves: ClassVar[dict[str, int]] = {}

    def __init__(self) -> None:
        from tillit.audit.models import AuditEvent

        super().__init__()
        type(self).examples += 1
        self._traveller = time_machine.travel(dt.datetime(2026, 3, 2, 9, tzinfo=dt.UTC), tick=True)
        self.clock = self._traveller.start()
        self._seen: dict[tuple[str, object], str] = {}
        self._marks: dict[tuple[str, object, str], object] = {}
        self._last_event = AuditEvent.objects.order_by("-seq").values_list("seq", flat=True).first()
        self._last_event = self._last_event or 0

    def watches(self) -> Iterable[tuple[Lifecycle, models.QuerySet[Any]]]:
        return ()

    def teardown(self) -> None:
        self._traveller.stop()

    @invariant()
    def every_change_is_a_declared_move_and_leaves_its_event(self) -> None:
        from tillit.audit.models import AuditEvent

        type(self).steps += 1
        events = set(
            AuditEvent.objects.filter(seq__gt=self._last_event).values_list("action", flat=True)
        )
        self._last_event = (
            AuditEvent.objects.order_by("-seq").values_list("seq", flat=True).first() or 0
        )
        for lifecycle, rows in self.watches():
            marked = [m for m in lifecycle.moves.values() if m.marks]
            fields = [lifecycle.field, *(m.marks for m in marked)]
            for pk, state, *marks in rows.values_list("pk", *fields):
                key = (lifecycle.model, pk)
                before = self._seen.get(key)
                self._seen[key] = state
                for move, value in zip(marked, marks, strict=True):
                    self._self_move(lifecycle, move, key, before, state, value, events)
                if before == state:
                    continue
                starts = [before] if before else list(lifecycle.initial)
                paths = [p for s in starts for p in paths_between(lifecycle, s, state)]
                assert paths, (
                    f"{lifecycle.model} went {before or 'new'} → {state}: no move does that"
                )
                # One rule may make several moves (a sign-up confirmed at once): some way there
                # must have left the event of each audited move on it.
                told = [p for p in paths if {m.event for m in p if m.event} <= events]
                assert told, (
                    f"{lifecycle.model} went {before or 'new'} → {state} "
                    f"({' or '.join('+'.join(m.name for m in p) for p in paths)}) "
                    "and no audit event says so"
                )
                for move in told[0]:
                    name = f"{lifecycle.model}.{move.name}"
                    type(self).moves[name] = type(self).moves.get(name, 0) + 1

    def _self_move(
        self, lifecycle: Lifecycle, move: Any, key: tuple[str, object], before: str | None,
        state: str, value: object, events: set[str],
    ) -> None:  # fmt: skip
        """A move that stays in its state and changes its field instead (an extension)."""
        mark = (*key, move.marks)
        was = self._marks.get(mark, value if before is None else None)
        self._marks[mark] = value
        if was == value or before is None:
            return
        if before == state == move.target:
            assert state in move.sources, f"{lifecycle.model} {move.name} from {state}"
            assert not move.event or move.event in events, (
                f"{lifecycle.model} {move.name} changed {move.marks} and no audit event says so"
            )
            name = f"{lifecycle.model}.{move.name}"
            type(self).moves[name] = type(self).moves.get(name, 0) + 1


def paths_between(lifecycle: Lifecycle, start: str, end: str, longest: int = 3) -> list[list[Any]]:
    """The ways from `start` to `end` in at most `longest` moves (one, of none, when `start`
    is `end`)."""
    found: list[list[Any]] = [[]] if start == end else []
    frontier: list[tuple[str, list[Any]]] = [(start, [])]
    for _ in range(longest):
        frontier = [
            (m.target, [*path, m])
            for state, path in frontier
            for m in lifecycle.moves.values()
            if state in m.sources and m.target != state
        ]
        found += [path for state, path in frontier if state == end]
    return found


class PartnerHere:
    """A partner made of the partner library's own `Partner` (tillit_partner.core) and its
    memory store, answering in this process, so that it keeps the machine's clock: a partner
    in another process would refuse every signature once the clock had moved five minutes.

    It is a Poster for leads (`post`) and an httpx transport for messages (`transport`), in
    one of its modes: up; down (nothing connects); failing (HTTP 500, nothing kept); losing
    answers (the request is carried out, but the answer never comes back: tillit cannot tell
    this from "down"). `heard` lists what it was sent, as (path, body, time)."""

    def __init__(self) -> None:
        self.partner = LibraryPartner(SECRET, MemoryStore(), callback=lambda *a: None)
        self.mode = "up"
        self.statuses: Counter[int] = Counter()
        self.heard: list[tuple[str, dict[str, Any], dt.datetime]] = []

    def post(self, url: str, body: bytes, headers: dict[str, str], timeout: float) -> Any:
        from tillit.partners.posting import Answer

        if self.mode == "down":
            raise httpcore.ConnectError("the partner is down")
        if self.mode == "failing":
            return Answer(500, {}, b"internal error")
        response = self.partner.handle(Request("POST", "/leads", body, headers))
        self.heard.append(("/leads", json.loads(body), timezone.now()))
        self.statuses[response.status] += 1
        if self.mode == "losing answers":
            raise httpcore.ReadError("the connection dropped before the answer")
        return Answer(
            response.status, {k.lower(): v for k, v in response.headers.items()}, response.body
        )

    def holds(self, subject: Any) -> bool:
        return bool(self.partner.store.leads(str(subject.id)))

    def lead_ids(self) -> list[str]:
        return [s.lead.lead_id for s in self.partner.store._leads.values()]

    def transport(self) -> httpx.MockTransport:
        def handle(request: httpx.Request) -> httpx.Response:
            if self.mode == "down":
                raise httpx.ConnectError("the partner is down", request=request)
            if self.mode == "failing":
                return httpx.Response(500, content=b"internal error")
            path = "/" + request.url.path.rsplit("/", 1)[-1]
            body = request.read()
            self.heard.append((path, json.loads(body), timezone.now()))
            response = self.partner.handle(Request("POST", path, body, dict(request.headers)))
            self.statuses[response.status] += 1
            if self.mode == "losing answers":
                raise httpx.ReadError("the connection dropped before the answer", request=request)
            return httpx.Response(response.status, content=response.body, headers=response.headers)

        return httpx.MockTransport(handle)


def ask(address: str, kind: str, changes: dict[str, str] | None = None) -> Any:
    """A rights request of `kind` from `address`, its code proven: the privacy centre's path
    (rights/verification.py, rights/actions.py) without the e-mail in between."""
    from tillit.rights import verification
    from tillit.rights.actions import open_request

    challenge = verification.start(address, kind, "nb")
    code = "123456"
    type(challenge).objects.filter(id=challenge.id).update(
        code_hash=verification._hash(challenge.id, code)
    )
    return open_request(verification.check(challenge.id, code), kind, changes)


def explore(
    machine: type[Machine],
    record_property: Callable[[str, object], None],
    examples: int = EXAMPLES,
    steps: int = STEPS,
) -> None:
    """Run `machine` as this test, and report what it explored."""
    machine.examples, machine.steps, machine.moves = 0, 0, {}
    run_state_machine_as_test(
        machine,
        settings=settings(
            max_examples=examples,
            stateful_step_count=steps,
            deadline=None,
            database=None,
            derandomize=CI,
            # Not the explain phase: against a real database it takes minutes, past the
            # test's timeout, and the shrunk failing sequence says what is needed.
            phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink],
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )
    record_property(
        "machine",
        {
            "name": machine.__name__,
            "examples": machine.examples,
            # Each example checks its invariants once before its first step.
            "steps": machine.steps - machine.examples,
            "moves": dict(sorted(machine.moves.items())),
        },
    )


def summary(machines: list[dict[str, Any]]) -> str:
    """The lines the test run ends with: each machine, what it explored, the moves it saw."""
    lines = ["state machines explored:"]
    for m in sorted(machines, key=lambda m: m["name"]):
        lines.append(f"  {m['name']}: {m['examples']} examples, {m['steps']} steps")
        models: dict[str, list[str]] = {}
        for key, count in m["moves"].items():
            model, _, move = key.rpartition(".")
            models.setdefault(model.rpartition(".")[2], []).append(f"{move} {count}")
        for model, moves in models.items():
            lines.append(f"    {model} moves seen: {', '.join(moves)}")
    return "\n".join(lines)
