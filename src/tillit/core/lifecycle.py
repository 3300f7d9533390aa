"""Lifecycles: each long-lived thing's states and the moves between them, in one place.

A move has a name (`deliver`, `retry`), one or more states it may start from and the one state
it leads to. It is made by a conditional UPDATE whose WHERE names the states it may start
from, so of two callers racing for the same row one wins and the other's row count is 0
(STYLE 6): `apply` on a set of rows, `take` on one thing. A move asked of a thing in a state
it cannot start from is refused with an error that says which states it can start from.

A move names the audit event that records it. The few moves without one are a queue's own
mechanics (a lease taken or given back), told by the row itself (its attempts, its last
error); they say why in `unaudited`. The model-checking tests (tests/machines.py) read these
tables: a move the code makes that is not declared here fails them, and so does a declared
move whose event does not appear.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.db import models
from django.utils.translation import gettext


@dataclass(frozen=True)
class Move:
    name: str
    sources: tuple[str, ...]
    target: str
    event: str = ""  # the audit event that records it
    unaudited: str = ""  # why no event records it (a queue's own mechanics)
    # A move that stays in its state (an extension) changes this field instead: the model
    # checks watch it, as they watch the state.
    marks: str = ""


class Refused(Exception):
    """A move asked of a thing in a state it cannot start from."""

    def __init__(self, lifecycle: Lifecycle, move: Move, state: str) -> None:
        self.lifecycle, self.move, self.state = lifecycle, move, state
        super().__init__(
            gettext("“%(move)s” is for a %(thing)s that is %(from)s; this one is %(state)s.")
            % {
                "thing": lifecycle.thing,
                "state": lifecycle.label(state),
                "move": move.name,
                "from": gettext(" or ").join(lifecycle.label(s) for s in move.sources),
            }
        )


class Lifecycle:
    """The states of one model's `field` (its TextChoices) and the moves between them."""

    def __init__(
        self,
        model: str,
        states: type[models.TextChoices],
        initial: Iterable[str],
        moves: Iterable[Move],
        field: str = "state",
    ) -> None:
        self.model, self.states, self.field = model, states, field
        self.initial = tuple(initial)
        self.moves = {m.name: m for m in moves}
        self._check()
        REGISTRY[model] = self

    @property
    def thing(self) -> str:
        from django.apps import apps

        return str(apps.get_model(self.model)._meta.verbose_name)

    def label(self, state: str) -> str:
        return str(self.states(state).label)

    @property
    def finals(self) -> set[str]:
        """The states no move leaves."""
        left = {s for m in self.moves.values() for s in m.sources if m.target != s}
        return {s for s in self.states.values if s not in left}

    def move(self, name: str) -> Move:
        return self.moves[name]

    def sources(self, name: str) -> list[str]:
        return list(self.moves[name].sources)

    def allows(self, state: str, name: str) -> bool:
        return state in self.moves[name].sources

    def check(self, state: str, name: str) -> Move:
        """The move, when `state` may start it; Refused otherwise."""
        move = self.moves[name]
        if state not in move.sources:
            raise Refused(self, move, state)
        return move

    def leads(self, state: str, target: str) -> list[Move]:
        """The moves that take a thing in `state` to `target`."""
        return [m for m in self.moves.values() if state in m.sources and m.target == target]

    def apply(self, rows: models.QuerySet[Any], name: str, **fields: Any) -> int:
        """Make the move for every row of `rows` in a state it may start from; the count moved.
        Rows in any other state are left as they are (another caller moved them first)."""
        move = self.moves[name]
        return rows.filter(**{f"{self.field}__in": move.sources}).update(
            **{self.field: move.target}, **fields
        )

    def take(self, thing: models.Model, name: str, **fields: Any) -> None:
        """Make the move for one thing, as it stands in the database: Refused when it is (by
        now) in a state the move cannot start from. `thing` is updated to match."""
        self.check(getattr(thing, self.field), name)
        manager = type(thing)._default_manager
        if not self.apply(manager.filter(pk=thing.pk), name, **fields):
            current = manager.filter(pk=thing.pk).values_list(self.field, flat=True).first()
            raise Refused(self, self.moves[name], current or getattr(thing, self.field))
        for key, value in {self.field: self.moves[name].target, **fields}.items():
            setattr(thing, key, value)

    def _check(self) -> None:
        """A table that cannot be right stops the start: unknown states, a move that records
        nothing without saying why, a state no move reaches."""
        known = set(self.states.values)
        reached = set(self.initial)
        for move in self.moves.values():
            unknown = {*move.sources, move.target} - known
            if unknown:
                raise ValueError(f"{self.model} {move.name}: unknown states {sorted(unknown)}")
            if not (move.event or move.unaudited):
                raise ValueError(f"{self.model} {move.name}: no audit event, and no reason why")
            reached.add(move.target)
        if known - reached:
            raise ValueError(f"{self.model}: no move reaches {sorted(known - reached)}")

    def table(self) -> list[tuple[str, str, str, str]]:
        """(move, from, to, audit event) rows, in declaration order."""
        return [
            (m.name, ", ".join(m.sources), m.target, m.event or f"({m.unaudited})")
            for m in self.moves.values()
        ]


# Every lifecycle, by model label ("partners.Delivery"): filled as the apps' modules load.
REGISTRY: dict[str, Lifecycle] = {}
