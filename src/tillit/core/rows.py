"""One INSERT of one model instance, without the ORM's per-call compiling.

For the visitor's hot paths (a sign-up's intake, a cookie choice): the statement is made once
per model and connection vendor from the model's own metadata, and each value is prepared by
its field (so JSON, UUIDs and dates are stored as each database wants them). The row is
written in its own transaction, so that on SQLite it waits in the writers' queue
(core/sqlite) rather than polling.
"""

from __future__ import annotations

from functools import cache

from django.db import connections, models, router, transaction
from django.db.backends.base.base import BaseDatabaseWrapper

_statements: dict[tuple[type[models.Model], str], str] = {}


def _statement(model: type[models.Model], connection: BaseDatabaseWrapper) -> str:
    key = (model, connection.vendor)
    if key not in _statements:
        fields, quote = _fields(model), connection.ops.quote_name
        # Only quoted names from the model's own metadata go into the text; values are
        # parameters.
        _statements[key] = "INSERT INTO {} ({}) VALUES ({})".format(  # noqa: S608
            quote(model._meta.db_table),
            ", ".join(quote(f.column) for f in fields),
            ", ".join(["%s"] * len(fields)),
        )
    return _statements[key]


@cache
def _fields(model: type[models.Model]) -> list[models.Field]:
    # Every concrete column but an auto-incremented key, which the database numbers.
    return [
        f
        for f in model._meta.concrete_fields
        if not (f.primary_key and isinstance(f, models.AutoField))
    ]


def insert(instance: models.Model) -> None:
    """Write `instance` as a new row, in a transaction of its own."""
    model = type(instance)
    connection = connections[router.db_for_write(model)]
    sql = _statement(model, connection)
    params = [
        f.get_db_prep_save(f.pre_save(instance, add=True), connection) for f in _fields(model)
    ]
    with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
        cursor.execute(sql, params)
    instance._state.adding = False
    instance._state.db = connection.alias
