"""Log entries are RFC 8785 canonical JSON: the fast path (Python's json) and the rfc8785
package agree on every event the log accepts, and what it cannot encode for certain is refused."""

from __future__ import annotations

import datetime as dt

import pytest
import rfc8785
from hypothesis import given
from hypothesis import strategies as st

from tillit.audit import entries

pytestmark = pytest.mark.promise("P24")

text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=20)
scalars = (
    st.none()
    | st.booleans()
    | text
    | st.integers(-entries.MAX_SAFE_INTEGER, entries.MAX_SAFE_INTEGER)
)
keys = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=12)
values = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=4)
)


@given(st.dictionaries(keys, values, max_size=6))
def test_the_fast_path_is_rfc_8785(data):
    assert entries.canonical(data) == rfc8785.dumps(data)


@given(st.dictionaries(keys, values | st.floats(allow_nan=False, allow_infinity=False)))
def test_fractions_take_the_rfc_8785_path(data):
    assert entries.canonical(data) == rfc8785.dumps(data)


def test_a_whole_float_is_written_as_the_database_may_give_it_back():
    assert entries.canonical({"hours": 24.0}) == entries.canonical({"hours": 24}) == b'{"hours":24}'


@pytest.mark.parametrize(
    "data",
    [
        {"n": 2**53},
        {"x": float("nan")},
        {"å": 1},
        {"when": dt.date(2026, 1, 1)},
        {1: "key is not a string"},
    ],
)
def test_what_has_no_certain_form_is_refused(data):
    with pytest.raises(entries.UnloggableValue):
        entries.canonical(data)


def test_an_entry_decodes_only_when_canonical():
    entry = entries.encode(
        at=dt.datetime(2026, 12, 6, 19, 38, tzinfo=dt.UTC),
        action="subject.confirmed",
        actor="visitor",
        target="subject:x",
        data={},
        nonce="00" * 16,
    )
    assert b'"at":"2026-12-06T19:38:00.000000Z"' in entry
    assert entries.decode(entry)["action"] == "subject.confirmed"
    with pytest.raises(ValueError):
        entries.decode(entry.replace(b",", b", ", 1))
