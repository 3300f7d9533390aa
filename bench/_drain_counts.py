"""What bench/drain.py reads while it runs: deliveries by state, and PostgreSQL's sessions.

`counts` and `delivered_count` read tillit's database through Django; `pg_sessions` asks the
PostgreSQL server (the bench database's sessions and backends, and the server's own load).
"""

from __future__ import annotations

import _common as c


def counts() -> dict[str, int]:
    from django.db.models import Count

    from tillit.partners.models import Delivery

    rows = Delivery.objects.values("state").annotate(n=Count("id")).order_by()
    return {r["state"]: r["n"] for r in rows}


def delivered_count() -> int:
    from tillit.partners.models import Delivery

    return Delivery.objects.filter(state="delivered").count()


def pg_sessions(db_name: str) -> tuple[int, int, int, int]:
    """(sessions ever opened, backends connected now) for the bench database, then the
    backends connected to the whole server and its max_connections."""
    import psycopg

    with psycopg.connect(c.PG_ADMIN_URL, autocommit=True) as conn:
        row = conn.execute(
            "select sessions, numbackends from pg_stat_database where datname = %s", (db_name,)
        ).fetchone()
        everyone = conn.execute(
            "select count(*) from pg_stat_activity where backend_type = 'client backend'"
        ).fetchone()[0]
        limit = int(conn.execute("show max_connections").fetchone()[0])
    return int(row[0]), int(row[1]), int(everyone), limit
