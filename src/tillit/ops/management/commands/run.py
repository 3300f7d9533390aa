from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from typing import Any

import httpx
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser
from django.utils.translation import gettext as _


class Command(BaseCommand):
    help = (
        "Run the whole product: the site, the worker, and in demo mode the reference partner "
        "(on the next port) with e-mail written to files. Stops all of them on Ctrl-C."
    )

    # It runs `init` first; the web and worker processes it starts run the checks.
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--demo", action="store_true")
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)

    def handle(self, *args: object, **options: Any) -> None:
        port, demo = options["port"], options["demo"]
        if not settings.LOG_ORIGIN_SET:  # a new log is named after the site it runs as
            settings.LOG_ORIGIN = f"{options['host']}:{port}/consent-log"
        call_command("init", demo=demo, partner_port=port + 1)
        env = {**os.environ, "TILLIT_DEMO": "true" if demo else os.environ.get("TILLIT_DEMO", "")}
        env.setdefault("TILLIT_SITE_URL", f"http://{options['host']}:{port}")
        me = [sys.executable, "-m", "tillit"]
        commands = {
            "web": [*me, "web", "--host", options["host"], "--port", str(port), "--no-migrate"],
            "worker": [*me, "worker"],
        }
        if demo:
            commands["partner"] = [*me, "reference-partner", "--port", str(port + 1)]
        procs = {name: subprocess.Popen(cmd, env=env) for name, cmd in commands.items()}
        self.stop_on_signal(procs)
        self.wait_until_up(env["TILLIT_SITE_URL"])
        self.banner(env["TILLIT_SITE_URL"], port, demo)
        while True:
            for name, proc in procs.items():
                if proc.poll() is not None:
                    self.stderr.write(
                        _("%(name)s stopped (exit %(code)s); stopping the rest")
                        % {"name": name, "code": proc.returncode}
                    )
                    self.stop(procs)
                    sys.exit(proc.returncode or 1)
            time.sleep(0.5)

    def wait_until_up(self, url: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                httpx.get(url + "/", timeout=1)
                return
            except httpx.HTTPError:
                time.sleep(0.2)

    def banner(self, url: str, port: int, demo: bool) -> None:
        # Each row: its label, what it points to, and any lines under it; the values start in
        # one column whatever the labels' language.
        console = _(
            "user 'admin' (its password and authenticator were printed when the data directory "
            "was made)"
        )
        under: list[str] = []
        staff_file = settings.DATA_DIR / "demo" / "staff.txt"
        if demo and staff_file.exists():
            console = _("sign in as one of:")
            command = f"TILLIT_DATA_DIR={settings.DATA_DIR} {sys.argv[0]} staff code USER"
            under = [f"  {line}" for line in staff_file.read_text().splitlines()]
            under += [
                _("and the code that prints (demo only; in real use, an authenticator app):"),
                f"  {command}",
            ]
        rows: list[tuple[str, str, list[str]]] = [
            (_("site:"), f"{url}/   " + _("(English: %(url)s/en/)") % {"url": url}, []),
            (_("staff console:"), f"{url}/console/   {console}", under),
            (
                _("your own site:"),
                f"{url}/console/your-site/   " + _("(the snippets; or `tillit embed`)"),
                [],
            ),
        ]
        if demo:
            rows += [
                (
                    _("demo partner:"),
                    f"http://127.0.0.1:{port + 1}/   " + _("(its leads: /leads.json)"),
                    [],
                ),
                (_("demo e-mails:"), f"{settings.DEMO_MAIL_DIR}/*.eml", []),
            ]
        rows.append((_("data directory:"), str(settings.DATA_DIR), []))
        width = max(len(label) for label, _value, _under in rows) + 1
        lines = ["", _("tillit is running.")]
        for label, value, below in rows:
            lines.append(f"  {label:{width}}{value}")
            lines += [" " * (2 + width) + line for line in below]
        lines += [_("Stop with Ctrl-C."), ""]
        self.stdout.write("\n".join(lines))

    def stop_on_signal(self, procs: dict[str, subprocess.Popen[bytes]]) -> None:
        def handler(signum: int, frame: object) -> None:
            self.stop(procs)
            sys.exit(0)

        signal.signal(signal.SIGINT, handler)
        signal.signal(signal.SIGTERM, handler)

    def stop(self, procs: dict[str, subprocess.Popen[bytes]]) -> None:
        for proc in procs.values():
            if proc.poll() is None:
                proc.terminate()
        deadline = time.monotonic() + 15
        for proc in procs.values():
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
