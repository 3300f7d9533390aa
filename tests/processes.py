"""Starting tillit's processes for tests that need real ones: the reference partner, the web
server and the worker, each a separate process over real HTTP on 127.0.0.1."""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(url: str, proc: subprocess.Popen[bytes] | None = None, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process for {url} exited with {proc.returncode}")
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise TimeoutError(f"{url} did not answer within {timeout}s")


def tillit(*args: str, env: dict[str, str], log: Path | None = None) -> subprocess.Popen[bytes]:
    out = open(log, "ab") if log else subprocess.DEVNULL  # noqa: SIM115
    return subprocess.Popen(
        [sys.executable, "-m", "tillit", *args],
        env=env,
        stdout=out,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def stop(proc: subprocess.Popen[bytes], timeout: float = 10) -> None:
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, 15)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
            proc.wait()


class ReferencePartner:
    def __init__(
        self,
        data_dir: Path,
        secret: str | None = None,
        port: int | None = None,
        extra_env: dict[str, str] | None = None,
    ):
        self.data_dir = data_dir
        self.extra_env = extra_env or {}
        self.secret = secret or secrets.token_urlsafe(32)
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
        return {
            **env,
            "PARTNER_DATA_DIR": str(self.data_dir),
            "PARTNER_SECRET": self.secret,
            **self.extra_env,
        }

    def start(self) -> ReferencePartner:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.proc = tillit(
            "reference-partner",
            "--port",
            str(self.port),
            env=self.env(),
            log=self.data_dir / "partner.log",
        )
        wait_for(self.url + "/healthz", self.proc)
        return self

    def stop(self) -> None:
        if self.proc:
            stop(self.proc)

    def leads(self) -> list[dict[str, object]]:
        return httpx.get(self.url + "/leads.json", timeout=10).json()["leads"]


@contextmanager
def reference_partner(
    data_dir: Path, secret: str | None = None, **extra_env: str
) -> Iterator[ReferencePartner]:
    partner = ReferencePartner(data_dir, secret, extra_env=extra_env).start()
    try:
        yield partner
    finally:
        partner.stop()
