"""Starting a WSGI app under a production server (granian by default, gunicorn on request).

Measured on 2 cores (bench/signup.py): granian with a few blocking threads per worker gives
the most sign-ups per second; gunicorn's sync workers have the narrower tail. Both are here.
"""

from __future__ import annotations

import os
import sys

SERVERS = ("granian", "gunicorn")


def command(
    app: str, *, host: str, port: int, workers: int, threads: int, server: str = "granian"
) -> list[str]:
    if server == "gunicorn":
        return [
            sys.executable,
            "-m",
            "gunicorn",
            app,
            "--bind",
            f"{host}:{port}",
            "--workers",
            str(workers),
            "--threads",
            str(threads),
            "--worker-class",
            "gthread" if threads > 1 else "sync",
            "--access-logfile",
            "-",
            "--access-logformat",
            "%(m)s %(U)s %(s)s %(M)sms",
            "--graceful-timeout",
            "20",
        ]
    # No access log: request lines carry paths with tokens, and volume costs throughput.
    return [
        sys.executable,
        "-m",
        "granian",
        "--interface",
        "wsgi",
        app,
        "--host",
        host,
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--blocking-threads",
        str(threads),
        "--no-ws",
        "--log-level",
        "warning",
    ]


def exec_server(app: str, **kwargs: object) -> None:
    """Replace this process with the server, so signals reach it directly."""
    argv = command(app, **kwargs)  # type: ignore[arg-type]
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(argv[0], argv)
