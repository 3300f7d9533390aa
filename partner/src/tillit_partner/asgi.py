"""The partner as an ASGI application, for any ASGI framework or server:

    from starlette.routing import Mount
    routes = [Mount("/tillit", app=App(partner))]

or served alone (`granian --interface asgi module:app`). Under a mount, the path tillit signed
is the one after the mount point (`root_path`). The protocol's work (the store) is blocking, so
each request is handled in a worker thread.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from tillit_partner.core import MAX_BODY, Partner, Request, Response

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


class App:
    def __init__(self, partner: Partner) -> None:
        self.partner = partner

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        body = await _body(receive)
        if body is None:
            answer = Response(413, b"the body is too large\n", "text/plain")
        else:
            answer = await asyncio.to_thread(self.partner.handle, _request(scope, body))
        headers = [(b"content-type", answer.content_type.encode())]
        headers += [(k.lower().encode(), v.encode()) for k, v in answer.headers.items()]
        headers.append((b"content-length", str(len(answer.body)).encode()))
        await send({"type": "http.response.start", "status": answer.status, "headers": headers})
        await send({"type": "http.response.body", "body": answer.body})


def _request(scope: Scope, body: bytes) -> Request:
    root = scope.get("root_path", "")
    path = scope["path"]
    # Servers and frameworks differ on whether `path` includes the mount point; both work.
    relative = path[len(root) :] if root and path.startswith(root) else path
    headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
    host = headers.get("host") or "{}:{}".format(*scope.get("server") or ("localhost", 80))
    return Request(
        method=scope["method"],
        path=relative or "/",
        body=body,
        headers=headers,
        base_url=f"{scope.get('scheme', 'http')}://{host}{root}",
    )


async def _body(receive: Receive) -> bytes | None:
    """The whole body, or None once it passes MAX_BODY (the rest is not read)."""
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return b"".join(chunks)
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY:
            return None
        chunks.append(chunk)
        if not message.get("more_body"):
            return b"".join(chunks)


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
