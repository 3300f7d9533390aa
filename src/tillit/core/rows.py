"""Writing rows without the ORM's per-call compiling, for the hottest paths.

`insert` writes one model instance (the visitor's paths: a sign-up's intake, a cookie
choice) as one statement in autocommit mode, committed before it returns (no BEGIN, no
separate COMMIT: one round trip on PostgreSQL, with server-side binding), run by tillit's
backends straight on the driver; on SQLite it holds the writers' queue (core/sqlite) around
the statement rather than polling SQLite's lock. (Group commit, the rows of several request
threads in one transaction, was tried and measured slower: with four
threads a batch is rarely more than one row, and on PostgreSQL it serialises commits that
the database runs side by side.) `returning` runs one statement of the caller's (an
INSERT … ON CONFLICT … RETURNING) the same way and gives its row. `update_many` sets the
same columns of many rows by primary key to values of their own, one statement run for every
row (a worker's batch), and `delete_unreferenced` deletes rows by primary key in one
statement. The statements are made from the model's own metadata, and each value is prepared
by its field (so JSON, UUIDs and dates are stored as each database wants them).
"""

from __future__ import annotations

from functools import cache

from django.db import connections, models, router
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
    """Write `instance` as a new row: committed when this returns, or, inside a transaction,
    with it."""
    model = type(instance)
    connection = connections[router.db_for_write(model)]
    sql = _statement(model, connection)
    params = [
        f.get_db_prep_save(f.pre_save(instance, add=True), connection) for f in _fields(model)
    ]
    alone = not connection.in_atomic_block and connection.get_autocommit()
    if alone and hasattr(connection, "execute_alone"):
        # tillit's backends run it straight on the driver (core/sqlite, core/postgresql).
        connection.execute_alone(sql, params)
    else:
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
    instance._state.adding = False
    instance._state.db = connection.alias


def returning(model: type[models.Model], sql: str, params: list[object]) -> tuple[object, ...]:
    """Run one statement on `model`'s database that returns one row (`%s` placeholders), and
    give the row: committed when this returns or, inside a transaction, with it."""
    connection = connections[router.db_for_write(model)]
    alone = not connection.in_atomic_block and connection.get_autocommit()
    if alone and hasattr(connection, "execute_alone"):
        row = connection.execute_alone(sql, params)
    else:
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            row = cursor.fetchone()
    if row is None:
        raise ValueError("the statement returned no row")
    return tuple(row)


def update_many(
    model: type[models.Model], names: list[str], values: list[tuple[object, list[object]]]
) -> None:
    """For each (primary key, values): set the fields `names` of that row to the values, in the
    caller's transaction."""
    if not values:
        return
    connection = connections[router.db_for_write(model)]
    fields = [model._meta.get_field(name) for name in names]
    quote = connection.ops.quote_name
    pk = model._meta.pk
    # Only quoted names from the model's own metadata go into the text; values are parameters.
    sql = "UPDATE {} SET {} WHERE {} = %s".format(  # noqa: S608
        quote(model._meta.db_table),
        ", ".join(f"{quote(f.column)} = %s" for f in fields),  # type: ignore[union-attr]
        quote(pk.column),
    )
    params = [
        [f.get_db_prep_save(v, connection) for f, v in zip(fields, row, strict=True)]  # type: ignore[union-attr]
        + [pk.get_db_prep_save(key, connection)]
        for key, row in values
    ]
    with connection.cursor() as cursor:
        cursor.executemany(sql, params)


def delete_unreferenced(model: type[models.Model], keys: list[object]) -> int:
    """Delete the rows with these primary keys in one statement, in the caller's transaction,
    without Django's collector (which would first read every row and every relation): only for
    rows that no other row points to any more."""
    if not keys:
        return 0
    connection = connections[router.db_for_write(model)]
    quote, pk = connection.ops.quote_name, model._meta.pk
    sql = "DELETE FROM {} WHERE {} IN ({})".format(  # noqa: S608
        quote(model._meta.db_table), quote(pk.column), ", ".join(["%s"] * len(keys))
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [pk.get_db_prep_save(key, connection) for key in keys])
        return cursor.rowcount
