"""Per-IP rate limits on public forms, kept in the cache under a keyed hash of the address.

The cache never holds an IP address: keys are HMAC(SECRET_KEY, ip) and expire with the window.
"""

from __future__ import annotations

import hashlib
import hmac
import time

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest


def client_ip(request: HttpRequest) -> str:
    return request.META.get("REMOTE_ADDR", "")


def hit(request: HttpRequest, scope: str, limit: int, window_seconds: int = 3600) -> bool:
    """Count one attempt; True while the caller is within `limit` per window."""
    window = int(time.time() // window_seconds)
    digest = hmac.new(
        settings.SECRET_KEY.encode(), client_ip(request).encode(), hashlib.sha256
    ).hexdigest()[:32]
    key = f"rl:{scope}:{window}:{digest}"
    cache.add(key, 0, timeout=window_seconds + 60)
    try:
        count = cache.incr(key)
    except ValueError:
        cache.set(key, 1, timeout=window_seconds + 60)
        count = 1
    return count <= limit
