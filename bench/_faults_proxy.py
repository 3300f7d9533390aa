"""The fault campaign's TCP proxies (bench/faults.py).

One proxy is the load balancer in front of the two web processes (it stands for nginx); another
stands in front of the reference partner and injects the partner's faults: it answers late,
answers HTTP 500 or drops the connection. Both run on one asyncio event loop in a thread of its
own.
"""

from __future__ import annotations

import asyncio
import random
import threading
from collections import Counter
from collections.abc import Callable

import _common as c

RESPONSE_500 = (
    b"HTTP/1.1 500 Internal Server Error\r\nContent-Type: text/plain\r\n"
    b"Content-Length: 21\r\nConnection: close\r\n\r\ninjected fault: 500\r\n"
)


class Proxy:
    """Listens on `port`; each connection goes to the first of `upstreams()` (round robin) that
    takes it. `mode` (pass, slow, error500, drop) is read for each chunk a client sends."""

    def __init__(self, name: str, upstreams: Callable[[], list[int]], rng: random.Random) -> None:
        self.name, self.upstreams, self.rng = name, upstreams, rng
        self.port = c.free_port()
        self.mode = "pass"
        self.turn = 0
        self.seen: Counter[str] = Counter()

    async def serve(self) -> None:
        self.server = await asyncio.start_server(self.handle, "127.0.0.1", self.port, backlog=512)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        ports = self.upstreams()
        self.turn += 1
        upstream = None
        for k in range(len(ports)):
            try:
                upstream = await asyncio.open_connection(
                    "127.0.0.1", ports[(self.turn + k) % len(ports)]
                )
                break
            except OSError:
                continue
        if upstream is None:
            self.seen["no upstream"] += 1
            writer.close()
            return
        state = {"cut": False, "slow": 0.0}
        tasks = [
            asyncio.create_task(self.forward(reader, upstream[1], writer, state)),
            asyncio.create_task(self.back(upstream[0], writer, state)),
        ]
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in tasks:
            task.cancel()
        for w in (writer, upstream[1]):
            try:
                w.close()
            except Exception:  # noqa: S110 - the peer is gone already
                pass

    async def forward(self, reader, upstream, client, state) -> None:  # noqa: ANN001
        while data := await reader.read(65536):
            mode = self.mode
            if mode == "error500":
                self.seen["answered 500"] += 1
                client.write(RESPONSE_500)
                await client.drain()
                return
            if mode == "drop":
                if self.rng.random() < 0.5:
                    self.seen["dropped before the request"] += 1
                    return
                self.seen["dropped before the answer"] += 1
                state["cut"] = True
            if mode == "slow":
                state["slow"] = self.rng.uniform(1, 14)
                self.seen["slowed"] += 1
            upstream.write(data)
            await upstream.drain()

    async def back(self, upstream, client, state) -> None:  # noqa: ANN001
        while data := await upstream.read(65536):
            if state["cut"]:
                return
            if state["slow"]:
                delay, state["slow"] = state["slow"], 0.0
                await asyncio.sleep(delay)
            client.write(data)
            await client.drain()


class Proxies:
    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        threading.Thread(target=self.loop.run_forever, name="proxies", daemon=True).start()

    def add(self, proxy: Proxy) -> Proxy:
        asyncio.run_coroutine_threadsafe(proxy.serve(), self.loop).result(10)
        return proxy
