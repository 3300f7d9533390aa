"""OpenDSR status callbacks: the partner tells tillit that a rights request changed status.

The body is the status object plus `status_callback_url` (the URL it is posted to, which tillit
checks is its own), signed with the purpose `dsr-callback`. tillit also polls every five
minutes, so a callback that cannot be delivered after a few tries is given up, not queued.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import urllib.error
import urllib.request
from urllib.parse import urlsplit

from tillit_partner import signing

log = logging.getLogger("tillit_partner.callbacks")
TIMEOUT_SECONDS = 10
# Seconds to wait before each further try.
RETRIES = (1, 5)


def body(status: dict[str, object], url: str) -> bytes:
    return json.dumps({**status, "status_callback_url": url}).encode()


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A callback goes to the URL tillit signed, not wherever an answer points."""

    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


_opener = urllib.request.build_opener(_NoRedirects)


def post(url: str, data: bytes, header: str) -> int:
    """POST one callback; the status tillit answered (202), or raise OSError."""
    if urlsplit(url).scheme not in ("http", "https"):
        raise OSError("a callback URL must be http or https")
    request = urllib.request.Request(  # noqa: S310  (the scheme is checked above)
        url,
        data=data,
        method="POST",
        headers={"Content-Type": "application/json", signing.HEADER: header},
    )
    try:
        with _opener.open(request, timeout=TIMEOUT_SECONDS) as answer:
            return answer.status
    except urllib.error.HTTPError as error:
        return error.code


def send(url: str, data: bytes, header: str) -> bool:
    """Post with a few retries on a failed connection or a 5xx; whether tillit took it."""
    for wait in (0, *RETRIES):
        time.sleep(wait)
        try:
            status = post(url, data, header)
        except OSError as error:
            log.warning("status callback not delivered: %s", error.__class__.__name__)
            continue
        if status < 500:
            return 200 <= status < 300
    return False


def send_in_background(url: str, data: bytes, header: str) -> None:
    """The default: the answer to tillit's request does not wait for the callback."""
    threading.Thread(target=send, args=(url, data, header), daemon=True).start()
