"""The lifecycle tables themselves (core/lifecycle.py): each model's states in one place, the
moves between them, and a clear refusal for a move its state cannot start."""

import os
from pathlib import Path

import pytest
from django.db import models
from django.utils import translation

from tests.conftest import make_partner
from tillit.core.lifecycle import REGISTRY, Lifecycle, Move, Refused
from tillit.partners.models import DELIVERY, Delivery, DeliveryState
from tillit.subjects.models import Subject


class Door(models.TextChoices):
    SHUT = "shut", "shut"
    OPEN = "open", "open"
    GONE = "gone", "gone"


def test_every_lifecycle_covers_its_models_states_and_reaches_them_all():
    from django.apps import apps

    assert {"partners.Delivery", "subjects.Subject"} <= set(REGISTRY)
    # Derived from flags, not a column: their tables map each state and move onto the flags
    # (partners/models/partner.py move_partner, console/staff.py set_active).
    derived = {"partners.Partner", "auth.User"}
    for label, lifecycle in REGISTRY.items():
        if label in derived:
            continue
        field = apps.get_model(label)._meta.get_field(lifecycle.field)
        assert [c[0] for c in field.choices] == list(lifecycle.states.values), label
    assert all(lifecycle.finals for label, lifecycle in REGISTRY.items() if label not in derived)


def test_a_table_that_cannot_be_right_stops_the_start():
    with pytest.raises(ValueError, match="no move reaches"):
        Lifecycle("x.Door", Door, [Door.SHUT], [Move("open", (Door.SHUT,), Door.OPEN, "d.open")])
    with pytest.raises(ValueError, match="no audit event, and no reason why"):
        Lifecycle(
            "x.Door",
            Door,
            [Door.SHUT],
            [Move("open", (Door.SHUT,), Door.OPEN), Move("go", (Door.OPEN,), Door.GONE, "d.go")],
        )
    REGISTRY.pop("x.Door", None)


def test_a_move_its_state_cannot_start_is_refused_in_words():
    with translation.override("en"):
        with pytest.raises(Refused) as refused:
            DELIVERY.check(DeliveryState.DELIVERED, "retry")
        assert str(refused.value) == (
            "“retry” is for a delivery that is being sent; this one is delivered."
        )
    with translation.override("nb"):
        with pytest.raises(Refused) as refused:
            DELIVERY.check(DeliveryState.WAITING, "fail")
        assert "«fail»" in str(refused.value) and " eller " in str(refused.value)


@pytest.mark.django_db
def test_of_two_callers_making_one_move_one_wins_and_the_other_is_refused():
    partner = make_partner()
    subject = Subject.objects.create(email_index="x", country="NO", partner=partner)
    delivery = Delivery.objects.create(subject=subject, partner=partner)
    stale = Delivery.objects.get(id=delivery.id)
    DELIVERY.take(delivery, "release")
    assert delivery.state == DeliveryState.PENDING
    with pytest.raises(Refused):
        DELIVERY.take(stale, "release")  # it still reads "waiting"; the database says otherwise
    assert DELIVERY.apply(Delivery.objects.filter(id=delivery.id), "release") == 0
    assert Delivery.objects.get(id=delivery.id).state == DeliveryState.PENDING


def test_the_table_reads_as_rows_of_move_from_to_and_event():
    rows = {r[0]: r for r in DELIVERY.table()}
    assert rows["deliver"] == ("deliver", "leased", "delivered", "lead.delivered")
    assert rows["claim"][3].startswith("(a lease")
    assert DELIVERY.finals == {"delivered", "failed", "cancelled"}


DOC = Path(__file__).parent.parent / "docs" / "lifecycles.md"
BEGIN, END = "<!-- tables: begin -->", "<!-- tables: end -->"


def tables() -> str:
    """The tables of docs/lifecycles.md, as the code has them."""
    from django.apps import apps

    parts = []
    for label, lifecycle in sorted(REGISTRY.items()):
        model = apps.get_model(label)
        with translation.override("en"):
            name = "Staff account" if label == "auth.User" else model._meta.verbose_name
            name = str(name).capitalize()
            states = ", ".join(f"`{s}` ({lifecycle.label(s)})" for s in lifecycle.states.values)
        parts += [
            f"### {name} (`{label}`)",
            "",
            f"States: {states}. Begins {' or '.join(f'`{s}`' for s in lifecycle.initial)}; "
            + (
                f"ends {', '.join(f'`{s}`' for s in sorted(lifecycle.finals))}."
                if lifecycle.finals
                else "never ends (it moves between its states for as long as it exists)."
            ),
            "",
            "| move | from | to | recorded by |",
            "|---|---|---|---|",
            *(
                f"| `{move}` | {sources} | {target} | "
                + (f"`{event}`" if not event.startswith("(") else event[1:-1])
                + " |"
                for move, sources, target, event in lifecycle.table()
            ),
            "",
        ]
    return "\n".join(parts)


def test_the_lifecycles_page_shows_the_tables_the_code_has():
    """Rewrite it with TILLIT_WRITE_DOCS=1."""
    text = DOC.read_text()
    head, _, rest = text.partition(BEGIN + "\n")
    _, _, tail = rest.partition(END)
    wanted = f"{head}{BEGIN}\n{tables()}{END}{tail}"
    if os.environ.get("TILLIT_WRITE_DOCS"):
        DOC.write_text(wanted)
    assert text == wanted, "docs/lifecycles.md is behind the code: TILLIT_WRITE_DOCS=1 rewrites it"
