"""The `Pii` type: personal data that will not print itself."""

from __future__ import annotations

from typing import Any


class Pii:
    """A personal value that masks itself in str(), repr(), f-strings and log lines.

    Only `reveal()` gives the value back, so every place that needs the readable value says so.
    Pickling is refused, so a Pii can never slip into a cache, a session or a task's arguments.
    """

    __slots__ = ("_value",)

    def __init__(self, value: Any) -> None:
        self._value = value

    def reveal(self) -> Any:
        return self._value

    def __str__(self) -> str:
        return "***"

    def __repr__(self) -> str:
        return "Pii('***')"

    def __format__(self, spec: str) -> str:
        return "***"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Pii) and other._value == self._value

    def __hash__(self) -> int:
        return hash(("Pii", self._value))

    def __bool__(self) -> bool:
        return bool(self._value)

    def __reduce__(self) -> Any:
        raise TypeError("personal data must not be pickled")
