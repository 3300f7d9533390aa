"""Rate limits on public forms, per IP address and per e-mail address, that hold across every
web process.

A limit kept in each process's own memory multiplies with the processes: with two, an inbox
would get twice the codes the limit allows. So the counters live where all web processes
look: in Redis when the installation has it (TILLIT_REDIS_URL), otherwise in the database they
share (core.Attempts: one INSERT … ON CONFLICT … RETURNING per attempt, its own small
transaction; UNLOGGED on PostgreSQL). When Redis cannot be reached the database counts
instead, so an outage of the cache neither takes the site down nor lifts the limits.

No counter holds an IP address or an e-mail address: keys are HMAC(SECRET_KEY, value), and a
counter is worthless, and deleted, once its window has passed.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import logging
import time
from datetime import datetime

from django.conf import settings
from django.core.cache import cache
from django.db import connections, router
from django.http import HttpRequest

from tillit.core import rows
from tillit.core.models import Attempts

log = logging.getLogger("tillit.site")


@functools.cache
def cache_down(backend: str) -> tuple[type[Exception], ...]:
    """What the cache backend raises when its server is away (Redis; LocMem never is). The
    redis package (some 20 MB in each process) is imported only where Redis is the cache."""
    if "redis" not in backend.lower():
        return (ConnectionError, TimeoutError)
    from redis.exceptions import RedisError

    return (RedisError, ConnectionError, TimeoutError)


def client_ip(request: HttpRequest) -> str:
    """The visitor's address: the peer's, or behind a reverse proxy (TILLIT_BEHIND_PROXY) the
    address the proxy saw, which it put last in X-Forwarded-For."""
    if settings.BEHIND_PROXY:
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "").rsplit(",", 1)[-1].strip()
        if forwarded:
            return forwarded
    return request.META.get("REMOTE_ADDR", "")


def axes_client_ip(request: HttpRequest, *args: object) -> str:
    """The same client address the rate limits use, for django-axes' lockouts."""
    return client_ip(request)


def hit(request: HttpRequest, scope: str, limit: int, window_seconds: int = 3600) -> bool:
    """Count one attempt from this IP; True while it is within `limit` per window."""
    return hit_key(scope, client_ip(request), limit, window_seconds)


def hit_key(scope: str, value: str, limit: int, window_seconds: int = 3600) -> bool:
    """Count one attempt for `value` (an IP, an address), kept only as a keyed hash."""
    now = time.time()
    window = int(now // window_seconds)
    digest = hmac.new(settings.SECRET_KEY.encode(), value.encode(), hashlib.sha256).hexdigest()[:32]
    key = f"rl:{scope}:{window}:{digest}"
    expires = (window + 1) * window_seconds
    if settings.REDIS_URL:
        try:
            return _in_cache(key, window_seconds + 60) <= limit
        except cache_down(settings.CACHES["default"]["BACKEND"]) as error:
            log.warning(
                "rate limit %s counted in the database: the cache is unavailable (%s)",
                scope,
                type(error).__name__,
            )
    return _in_database(key, expires) <= limit


def _in_cache(key: str, timeout: int) -> int:
    cache.add(key, 0, timeout=timeout)
    try:
        return int(cache.incr(key))
    except ValueError:  # expired between the two calls
        cache.set(key, 1, timeout=timeout)
        return 1


_UPSERT: dict[str, str] = {}


def _in_database(key: str, expires: int) -> int:
    """One more attempt on the counter `key`, and the count: one statement, atomic in both
    databases, so two processes counting at once get two different counts."""
    connection = connections[router.db_for_write(Attempts)]
    if connection.vendor not in _UPSERT:
        q = connection.ops.quote_name
        table, k, n, e = q(Attempts._meta.db_table), q("key"), q("count"), q("expires")
        # Only the model's own quoted names go into the text; values are parameters.
        _UPSERT[connection.vendor] = (
            f"INSERT INTO {table} ({k}, {n}, {e}) VALUES (%s, 1, %s) "  # noqa: S608
            f"ON CONFLICT ({k}) DO UPDATE SET {n} = {table}.{n} + 1 RETURNING {n}"
        )
    (count,) = rows.returning(Attempts, _UPSERT[connection.vendor], [key, expires])
    return int(count)  # type: ignore[call-overload]


def forget_spent_attempts(now: datetime) -> int:
    """Delete the counters whose window has passed (a retention rule, run by the worker)."""
    return Attempts.objects.filter(expires__lt=now.timestamp()).delete()[0]
