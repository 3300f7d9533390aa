"""The fault campaign's load (bench/faults.py): people signing up, confirming, asking.

Each sign-up is a new person carrying the run's canary values; a person whose sign-up got no
answer or a 5xx presses again. The Mailbox reads the demo outbox as the people's inboxes: each
confirmation link is POSTed, as the person's click, and the codes of the rights flow are read
from it. Every rights-every seconds someone who confirmed asks for access or restriction
through the privacy centre. The Tally keeps what the site answered, for the checks.
"""

from __future__ import annotations

import argparse
import email
import email.policy
import email.utils
import os
import queue
import random
import re
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from _wrk import csrf_pair

LINK = re.compile(r"/(?:[a-z]{2}/)?confirm/[A-Za-z0-9_\-:.]+/")
CODE = re.compile(r"\b(\d{6})\b")
REFERENCE = re.compile(r"R-[0-9A-F]{4}-[0-9A-F]{4}")
CSRF = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


# --- e-mail: the demo outbox, read as the people's inboxes -------------------------------------


class Mailbox(threading.Thread):
    """Reads each new e-mail file once; confirmation links go to `on_link`, the rest is kept by
    address for the rights flow (its codes)."""

    def __init__(self, mail_dir: Path, on_link: Callable[[str, str], None]) -> None:
        super().__init__(name="mailbox", daemon=True)
        self.mail_dir, self.on_link = mail_dir, on_link
        self.seen: set[str] = set()
        self.by_address: dict[str, list[tuple[str, str]]] = {}
        self.lock = threading.Condition()
        self.running = True
        self.linked: set[str] = set()  # addresses that got a confirmation link

    def run(self) -> None:
        while self.running:
            try:
                self.scan()
            except OSError:
                pass  # the disk is being faulted: read it next time
            time.sleep(0.2)

    def scan(self) -> None:
        try:
            names = [e.name for e in os.scandir(self.mail_dir) if e.name.endswith(".eml")]
        except FileNotFoundError:
            return
        for name in sorted(set(names) - self.seen):
            raw = (self.mail_dir / name).read_bytes()
            message = email.message_from_bytes(raw, policy=email.policy.default)
            body = message.get_body(("plain",))
            if body is None:
                if time.time() - (self.mail_dir / name).stat().st_mtime < 5:
                    continue  # still being written
                self.seen.add(name)
                continue
            self.seen.add(name)
            text = str(body.get_content())
            to = [a for _, a in email.utils.getaddresses([str(message["To"])])]
            with self.lock:
                for address in to:
                    self.by_address.setdefault(address, []).append((str(message["Subject"]), text))
                self.lock.notify_all()
            link = LINK.search(text)
            if link:
                self.linked.update(to)
                for address in to:
                    self.on_link(address, link.group(0))

    def count(self, address: str) -> int:
        with self.lock:
            return len(self.by_address.get(address, []))

    def wait_code(self, address: str, after: int, timeout: float) -> str | None:
        deadline = time.monotonic() + timeout
        with self.lock:
            while time.monotonic() < deadline:
                for _, text in self.by_address.get(address, [])[after:]:
                    found = CODE.search(text)
                    if found and not LINK.search(text):
                        return found.group(1)
                self.lock.wait(0.5)
        return None


# --- the load ---------------------------------------------------------------------------------


def canary(run: str) -> dict[str, str]:
    """What every sign-up carries: recognisable, shared by all, never kept by the operator."""
    return {
        "name": f"Åse Kanarifeil{run}",
        "email": f"kanari.{run}",
        "undeclared": f"Kanarimor{run}",
    }


@dataclass
class Tally:
    signups_sent: int = 0
    accepted: set[str] = field(default_factory=set)
    refused: Counter[str] = field(default_factory=Counter)  # the last answer of those given up
    retries: int = 0
    confirmed: set[str] = field(default_factory=set)
    confirm_unsure: set[str] = field(default_factory=set)  # no answer, then 400: perhaps done
    confirm_failed: Counter[str] = field(default_factory=Counter)
    rights: list[tuple[str, str, str]] = field(default_factory=list)  # reference, address, kind
    rights_failed: Counter[str] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)


class Load:
    def __init__(self, args: argparse.Namespace, base: str, run: str, mailbox_dir: Path) -> None:
        self.args, self.base, self.run = args, base, run
        self.canary = canary(run)
        self.cookie, self.token = csrf_pair(base)
        self.tally = Tally()
        self.jobs: queue.Queue = queue.Queue()
        self.confirms: queue.Queue = queue.Queue()
        self.running = True
        self.rng = random.Random(f"{args.seed}-load")
        self.mailbox = Mailbox(mailbox_dir, lambda a, link: self.confirms.put((a, link, 0)))
        self.threads: list[threading.Thread] = []

    def client(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.base, timeout=20, cookies={"csrftoken": self.cookie}, trust_env=False
        )

    def start(self) -> None:
        self.mailbox.start()
        targets = [self.schedule, self.rights_loop]
        targets += [self.signup_worker] * self.args.clients + [self.confirm_worker] * 2
        for n, target in enumerate(targets):
            t = threading.Thread(target=target, name=f"load-{n}", daemon=True)
            t.start()
            self.threads.append(t)

    def stop(self, timeout: float = 60) -> None:
        self.running = False
        deadline = time.monotonic() + timeout
        for t in self.threads:
            t.join(max(0.1, deadline - time.monotonic()))
        self.mailbox.running = False

    def schedule(self) -> None:
        t0, i = time.monotonic(), 0
        while self.running:
            due = t0 + i / self.args.rate
            if due > time.monotonic():
                time.sleep(min(0.05, due - time.monotonic()))
                continue
            self.jobs.put(i)
            i += 1
        for _ in range(self.args.clients):
            self.jobs.put(None)

    def form(self, i: int) -> dict[str, str]:
        return {
            "csrfmiddlewaretoken": self.token,
            "name": f"{self.canary['name']} {i}",
            "email": f"{self.canary['email']}.{i}@example.com",
            "phone": "",
            "country": "NO",
            "consent_partner": "on",
            "mother_maiden_name": self.canary["undeclared"],
        }

    def signup_worker(self) -> None:
        with self.client() as http:
            while (i := self.jobs.get()) is not None:
                self.sign_up(http, i)

    def sign_up(self, http: httpx.Client, i: int) -> None:
        form = self.form(i)
        with self.tally.lock:
            self.tally.signups_sent += 1
        last = ""
        for attempt in range(4):
            if attempt:
                with self.tally.lock:
                    self.tally.retries += 1
                time.sleep(1)
            try:
                answer = http.post("/", data=form)
            except httpx.HTTPError as error:
                last = type(error).__name__
                continue
            if answer.status_code == 302:
                with self.tally.lock:
                    self.tally.accepted.add(form["email"])
                return
            last = f"HTTP {answer.status_code}"
            if answer.status_code < 500:
                break
        with self.tally.lock:
            self.tally.refused[last] += 1

    def confirm_worker(self) -> None:
        with self.client() as http:
            while self.running or not self.confirms.empty():
                try:
                    address, path, tries = self.confirms.get(timeout=0.5)
                except queue.Empty:
                    continue
                self.confirm(http, address, path, tries)

    def confirm(self, http: httpx.Client, address: str, path: str, tries: int) -> None:
        try:
            answer = http.post(path, data={"csrfmiddlewaretoken": self.token})
            status = answer.status_code
        except httpx.HTTPError:
            status = 0
        with self.tally.lock:
            if status == 200:
                self.tally.confirmed.add(address)
                return
            if status == 400:
                if tries and address not in self.tally.confirmed:
                    self.tally.confirm_unsure.add(address)
                elif address not in self.tally.confirmed:
                    self.tally.confirm_failed["HTTP 400"] += 1
                return
        if tries < 3 and self.running:
            time.sleep(1)
            self.confirms.put((address, path, tries + 1))
        else:
            with self.tally.lock:
                self.tally.confirm_failed[f"HTTP {status}" if status else "no answer"] += 1

    def rights_loop(self) -> None:
        n = 0
        while self.running:
            time.sleep(self.args.rights_every)
            with self.tally.lock:
                people = sorted(self.tally.confirmed)
            if not people or not self.running:
                continue
            kind = ("access", "restriction")[n % 2]
            n += 1
            address = self.rng.choice(people)
            try:
                outcome = self.rights_request(address, kind)
            except (httpx.HTTPError, AttributeError, KeyError) as error:
                outcome = type(error).__name__
            with self.tally.lock:
                if outcome.startswith("R-"):
                    self.tally.rights.append((outcome, address, kind))
                else:
                    self.tally.rights_failed[outcome] += 1

    def rights_request(self, address: str, kind: str) -> str:
        """The privacy centre as a person uses it: ask, prove the code, confirm. The reference
        the person is shown, or what went wrong."""
        with httpx.Client(base_url=self.base, timeout=20, trust_env=False) as http:
            before = self.mailbox.count(address)
            started = post_form(http, "/privacy/", {"kind": kind, "email": address})
            if started.status_code != 302:
                return f"ask: HTTP {started.status_code}"
            code = self.mailbox.wait_code(address, before, 30)
            if code is None:
                return "no code e-mail"
            checked = post_form(http, started.headers["location"], {"code": code})
            if checked.status_code != 302:
                return f"code: HTTP {checked.status_code}"
            done = post_form(http, checked.headers["location"], {})
            if done.status_code != 302:
                return f"confirm: HTTP {done.status_code}"
            for _ in range(4):
                try:
                    page = http.get(done.headers["location"])
                    found = REFERENCE.search(page.text)
                    if found:
                        return found.group(0)
                except httpx.HTTPError:
                    pass
                time.sleep(1)
            return "accepted, reference not shown"


def post_form(http: httpx.Client, path: str, data: dict[str, str]) -> httpx.Response:
    page = http.get(path)
    token = CSRF.search(page.text)
    if token is None:
        raise KeyError(f"no form at {path} (HTTP {page.status_code})")
    return http.post(path, data={**data, "csrfmiddlewaretoken": token.group(1)})
