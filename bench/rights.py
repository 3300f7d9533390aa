"""Seconds from a verified access request to a ready download, across reference partners.

Starts `tillit web`, one `tillit worker` and --partners reference partners (separate
processes, each registered with `tillit partners add`, equal weights; the demo partner is
disabled), in demo mode so that e-mails are files under $TILLIT_DATA_DIR/demo/mail. Then
--people persons sign up and confirm over HTTP, their leads are delivered, and each asks for
their data in the privacy centre: the code is read from its e-mail, proven, and the request
sent. The clock runs from the answer to "send the request" to the moment the e-mail with the
download link is written; the download is then fetched once to check that it is ready.
Printed: median, p95 and max seconds, and the requests per partner. The legal limit is one
calendar month; Fides' default due date is 45 days.
"""

from __future__ import annotations

import argparse
import email
import email.policy
import io
import json
import re
import statistics
import subprocess
import sys
import time
import zipfile
from collections import Counter
from pathlib import Path

import httpx

import _common as c

CSRF = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


def mails(mail_dir: Path, address: str, subject_has: str) -> list[tuple[str, str]]:
    found = []
    for path in sorted(mail_dir.glob("*.eml")):
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        if address in str(message["To"]) and subject_has in str(message["Subject"]):
            body = message.get_body(("plain",))
            found.append((str(message["Subject"]), str(body.get_content()) if body else ""))
    return found


def wait_mail(mail_dir: Path, address: str, subject_has: str, seen: int, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = mails(mail_dir, address, subject_has)
        if len(found) > seen:
            return found[-1][1]
        time.sleep(0.05)
    raise RuntimeError(f"no e-mail {subject_has!r} to {address} within {timeout}s")


def post_form(http: httpx.Client, path: str, data: dict[str, str]) -> httpx.Response:
    page = http.get(path)
    token = CSRF.search(page.text).group(1)
    return http.post(path, data={**data, "csrfmiddlewaretoken": token})


def register_partners(env: dict[str, str], work: Path, count: int) -> list[c.Proc]:
    partners = []
    for n in range(count):
        port = c.free_port()
        secret = f"bench-secret-{n}-{time.time_ns()}"
        data = work / f"partner-{n}"
        data.mkdir()
        penv = {**env, "PARTNER_DATA_DIR": str(data), "PARTNER_SECRET": secret}
        proc = c.PROCS.start(
            f"partner-{n}", [*c.TILLIT, "reference-partner", "--port", str(port)], penv, work
        )
        c.wait_http(f"http://127.0.0.1:{port}/healthz", proc)
        (work / f"secret-{n}").write_text(secret)
        subprocess.run(
            [*c.TILLIT, "partners", "add", f"partner-{n}", "--name", f"Reference partner {n}",
             "--endpoint", f"http://127.0.0.1:{port}", "--privacy-url",
             f"http://127.0.0.1:{port}/privacy", "--countries", "NO", "--dpa-signed-on",
             "2026-01-01", "--compliance-attested-on", "2026-01-01", "--secret-file",
             str(work / f"secret-{n}"), "--live"],
            env=env, check=True, capture_output=True, timeout=60,
        )  # fmt: skip
        partners.append(proc)
    subprocess.run(
        [*c.TILLIT, "partners", "disable", "demo-partner"],
        env=env,
        check=True,
        capture_output=True,
        timeout=60,
    )
    return partners


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=30)
    parser.add_argument("--partners", type=int, default=3)
    parser.add_argument("--probes", type=int, default=200, help="enumeration timing pairs")
    parser.add_argument("--postgres", action="store_true")
    parser.add_argument("--keep", action="store_true")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    c.install_cleanup()
    c.header("bench/rights.py: verified access request -> ready download")
    work = c.temp_dir("tillit-bench-rights-", keep=args.keep)
    db_url = c.create_pg_database()[1] if args.postgres else ""
    env = c.make_env(work, db_url)
    env["TILLIT_RIGHTS_CODES_PER_IP_PER_HOUR"] = "1000000"
    env["TILLIT_RIGHTS_CHECKS_PER_IP_PER_HOUR"] = "1000000"
    env["TILLIT_RIGHTS_CODES_PER_ADDRESS_PER_HOUR"] = "1000000"
    c.run_init(env, partner_port=c.free_port(), logdir=work)
    register_partners(env, work, args.partners)
    port = c.free_port()
    env["TILLIT_SITE_URL"] = f"http://127.0.0.1:{port}"
    web = c.PROCS.start("web", [*c.TILLIT, "web", "--port", str(port)], env, work)
    c.PROCS.start("worker", [*c.TILLIT, "worker"], env, work)
    base = f"http://127.0.0.1:{port}"
    mail_dir = work / "demo" / "mail"
    c.wait_http(base + "/healthz", web)
    people = [f"bench-{n}@example.com" for n in range(args.people)]
    sign_up(base, mail_dir, people)
    print(f"# {len(people)} people signed up and confirmed; waiting for delivery")
    time.sleep(3)
    seconds, by_partner = access_requests(base, mail_dir, people)
    q = statistics.quantiles(seconds, n=20, method="inclusive")
    print(
        c.table(
            [[str(len(seconds)), f"{statistics.median(seconds):.2f}", f"{q[18]:.2f}",
              f"{max(seconds):.2f}"]],
            ["requests", "median s", "p95 s", "max s"],
        )
    )  # fmt: skip
    print(f"# requests per partner (from the exports): {dict(sorted(by_partner.items()))}")
    print("# legal limit: one calendar month (~2,600,000 s); Fides' default due date: 45 days")
    enumeration(base, people, args.probes)


def sign_up(base: str, mail_dir: Path, people: list[str]) -> None:
    """Each person signs up and confirms from their e-mail, over HTTP."""
    for address in people:
        with httpx.Client(base_url=base, timeout=20) as http:
            post_form(http, "/", {"name": "Bench Person", "email": address, "phone": "",
                                  "country": "NO", "consent_partner": "on"})  # fmt: skip
            link = re.search(r"/confirm/[^\s/]+/", wait_mail(mail_dir, address, "", 0, 30))
            post_form(http, link.group(0), {})


def access_requests(
    base: str, mail_dir: Path, people: list[str]
) -> tuple[list[float], Counter[str]]:
    """Each person asks for their data with the code from their e-mail, waits for the link and
    downloads the ZIP: (seconds from the request to the e-mail with the link, for each; the
    requests each partner answered, from the exports)."""
    seconds, by_partner = [], Counter()
    for address in people:
        with httpx.Client(base_url=base, timeout=20) as http:
            codes = len(mails(mail_dir, address, ": "))
            started = post_form(http, "/privacy/", {"kind": "access", "email": address})
            text = wait_mail(mail_dir, address, ": ", codes, 30)
            code = re.search(r"\b(\d{6})\b", text).group(1)
            verify = started.headers["location"]
            confirm = post_form(http, verify, {"code": code}).headers["location"]
            done = post_form(http, confirm, {})
            t0 = time.monotonic()
            page = http.get(done.headers["location"]).text
            reference = re.search(r"R-[0-9A-F]{4}-[0-9A-F]{4}", page).group(0)
            ready = wait_mail(mail_dir, address, f"{reference} er behandlet", 0, 120)
            seconds.append(time.monotonic() - t0)
            link = re.search(r"/privacy/download/[^\s/]+/", ready).group(0)
            archive = post_form(http, link, {})
            assert archive.headers["content-type"] == "application/zip", archive.status_code
            with zipfile.ZipFile(io.BytesIO(archive.content)) as zipped:
                data = json.loads(zipped.read("data.json"))
            for held in data["held_by_partners"] or [{"holder": "none"}]:
                by_partner[held["holder"]] += 1
    return seconds, by_partner


def enumeration(base: str, people: list[str], probes: int) -> None:
    """Can the time to answer "send me a code" tell a known address from an unknown one?
    Alternate the two, same client, and compare the distributions."""
    timings: dict[str, list[float]] = {"known": [], "unknown": []}
    with httpx.Client(base_url=base, timeout=20) as http:
        token = CSRF.search(http.get("/privacy/").text).group(1)
        for n in range(probes):
            for which, address in (
                ("known", people[n % len(people)]),
                ("unknown", f"nobody-{n}@example.com"),
            ):
                t0 = time.perf_counter()
                answer = http.post(
                    "/privacy/",
                    data={"kind": "access", "email": address, "csrfmiddlewaretoken": token},
                )
                timings[which].append((time.perf_counter() - t0) * 1000)
                assert answer.status_code == 302, answer.status_code
    rows = []
    for which, ms in timings.items():
        q = statistics.quantiles(ms, n=10, method="inclusive")
        rows.append([which, str(len(ms)), f"{statistics.median(ms):.2f}", f"{q[8]:.2f}"])
    print(c.table(rows, ["address", "requests", "median ms", "p90 ms"]))
    diff = statistics.median(timings["known"]) - statistics.median(timings["unknown"])
    print(f"# median difference known - unknown: {diff:+.2f} ms (the same SQL runs for both)")


if __name__ == "__main__":
    sys.exit(main())
