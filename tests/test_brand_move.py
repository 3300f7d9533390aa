"""The brand and the rate limits' counters moved from the site app to core (core/migrations/0001):
an installation that set its brand before the move keeps it, and the administrators keep the
right to change it (the permission follows its content type, it is not made anew)."""

from __future__ import annotations

import pytest
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

BEFORE = [("site", "0002_attempts"), ("core", None)]


def before_the_move():
    """The database as the release before the move left it: its apps, as they were then."""
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    executor.loader.build_graph()
    return executor.loader.project_state(list(executor.loader.applied_migrations)).apps


def grant_change_brand(old, brand_type):
    """A group holding `change_brand` on `brand_type`; the permission."""
    permission = old.get_model("auth", "Permission").objects.get_or_create(
        content_type_id=brand_type.id,
        codename="change_brand",
        defaults={"name": "Can change brand"},
    )[0]
    old.get_model("auth", "Group").objects.create(name="brand-keepers").permissions.add(permission)
    return permission


def after_the_move():
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())
    ContentType.objects.clear_cache()


@pytest.mark.promise("P21")
@pytest.mark.django_db(transaction=True)
def test_a_brand_set_before_the_move_keeps_its_rows_and_its_administrators():
    old = before_the_move()
    old.get_model("site", "Brand").objects.create(pk=1, name="Example Brokers AS")
    old.get_model("site", "Attempts").objects.create(key="k" * 64, count=3, expires=2**40)
    old_type = old.get_model("contenttypes", "ContentType").objects.get_or_create(
        app_label="site", model="brand"
    )[0]
    permission = grant_change_brand(old, old_type)

    after_the_move()

    from django.contrib.auth.models import Group

    from tillit.core.models import Attempts, Brand

    assert Brand.objects.get(pk=1).name == "Example Brokers AS"
    assert Attempts.objects.get(key="k" * 64).count == 3
    kept = Group.objects.get(name="brand-keepers").permissions.get()
    assert (kept.id, kept.content_type.app_label, kept.codename) == (
        permission.id,
        "core",
        "change_brand",
    )
    assert not ContentType.objects.filter(app_label="site", model="brand").exists()


@pytest.mark.promise("P21")
@pytest.mark.django_db(transaction=True)
def test_core_content_types_made_before_the_move_give_way_to_the_granted_ones():
    """Should core's content type for the brand exist already when the move runs (made by
    something that ran before `migrate`), the one whose permission was granted is kept."""
    old = before_the_move()
    types = old.get_model("contenttypes", "ContentType").objects
    site_type = types.get_or_create(app_label="site", model="brand")[0]
    types.get_or_create(app_label="core", model="brand")  # made early, granted to nobody
    permission = grant_change_brand(old, site_type)

    after_the_move()

    from django.contrib.auth.models import Group

    kept = Group.objects.get(name="brand-keepers").permissions.get()
    assert (kept.id, kept.content_type.app_label) == (permission.id, "core")
    assert ContentType.objects.filter(model="brand").count() == 1
