"""Per-IP rate limits on public forms, kept in the cache under a keyed hash of the address.

The cache never holds an IP address or an e-mail address: keys are HMAC(SECRET_KEY, value)
and expire with the window.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import logging
import time

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest

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
    window = int(time.time() // window_seconds)
    digest = hmac.new(settings.SECRET_KEY.encode(), value.encode(), hashlib.sha256).hexdigest()[:32]
    key = f"rl:{scope}:{window}:{digest}"
    try:
        cache.add(key, 0, timeout=window_seconds + 60)
        try:
            count = cache.incr(key)
        except ValueError:
            cache.set(key, 1, timeout=window_seconds + 60)
            count = 1
    except cache_down(settings.CACHES["default"]["BACKEND"]) as error:
        # A shared cache (Redis) that cannot be reached must not take the site down with it:
        # the limit is lifted until it is back, and the operator is told. The limits that guard
        # secrets (a code's own attempts, staff lockouts) are kept in the database.
        log.warning(
            "rate limit %s not applied: the cache is unavailable (%s)", scope, type(error).__name__
        )
        return True
    return count <= limit
