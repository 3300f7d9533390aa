"""The cookie scanner: what a browser really gets from the site, held against the data map.

`observe()` opens the site in headless Chromium in one of three states (no choice, after
"Reject all", after "Accept all") and notes every cookie, every storage entry and every request
to another host. `judge()` gives each a verdict: declared and allowed in that state, declared
but present before its category was accepted, or not declared at all.
"""

from __future__ import annotations

import asyncio
import fnmatch
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from tillit import datamap

STATES = ("no choice", "reject all", "accept all")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@dataclass
class Observation:
    state: str
    cookies: list[dict[str, Any]] = field(default_factory=list)
    storage: list[tuple[str, str]] = field(default_factory=list)  # (local|session, key)
    requests: list[str] = field(default_factory=list)
    trouble: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Finding:
    state: str
    kind: str  # cookie, storage, request
    name: str
    where: str
    category: str  # "" when undeclared
    verdict: str  # ok, UNDECLARED, BEFORE CONSENT

    @property
    def bad(self) -> bool:
        return self.verdict != "ok"


def allowed(state: str, dm: datamap.DataMap) -> set[str]:
    return (
        {"essential", *dm.optional_cookie_categories()} if state == "accept all" else {"essential"}
    )


def _host_port(url: str) -> str:
    parts = urlsplit(url)
    return parts.netloc.rsplit("@", 1)[-1].lower()


def third_party_category(
    netloc: str, dm: datamap.DataMap, extra: list[dict[str, str]] | None = None
) -> str:
    """The category of a declared third-party host ('' if undeclared). A declared host
    without a port matches any port; a cookie's domain (no port) matches any declared port."""
    host = netloc.split(":")[0]
    for entry in [*dm.third_parties, *(extra or [])]:
        pattern = entry["host"].lower()
        if ":" in pattern and ":" not in netloc:
            pattern = pattern.split(":")[0]
        target = netloc if ":" in pattern else host
        if fnmatch.fnmatchcase(target, pattern) or (
            pattern.startswith("*.") and target == pattern[2:]
        ):
            return entry["category"]
    return ""


def cookie_category(name: str, dm: datamap.DataMap) -> str:
    for declared in dm.cookies:
        if fnmatch.fnmatchcase(name, declared["name"]):
            return str(declared["category"])
    return ""


def _verdict(category: str, state: str, dm: datamap.DataMap) -> str:
    if not category:
        return "UNDECLARED"
    return "ok" if category in allowed(state, dm) else "BEFORE CONSENT"


def judge(
    site_url: str,
    observation: Observation,
    dm: datamap.DataMap,
    extra_hosts: list[dict[str, str]] | None = None,
) -> list[Finding]:
    site = _host_port(site_url)
    site_host = site.split(":")[0]
    state = observation.state
    found: list[Finding] = []
    for cookie in observation.cookies:
        domain = cookie.get("domain", "").lstrip(".")
        # The site's own: on its host, or on a parent domain of it (as Google's tag sets _ga).
        if domain in (site_host, "") or site_host.endswith("." + domain):
            category = cookie_category(cookie["name"], dm)
        else:
            category = third_party_category(domain, dm, extra_hosts)
        verdict = _verdict(category, state, dm)
        found.append(Finding(state, "cookie", cookie["name"], domain, category, verdict))
    for area, key in observation.storage:
        category = cookie_category(key, dm)
        verdict = _verdict(category, state, dm)
        found.append(Finding(state, "storage", key, f"{area}Storage", category, verdict))
    seen: set[str] = set()
    for url in observation.requests:
        netloc = _host_port(url)
        if netloc == site or netloc in seen or not url.startswith(("http:", "https:")):
            continue
        seen.add(netloc)
        category = third_party_category(netloc, dm, extra_hosts)
        found.append(
            Finding(state, "request", netloc, url[:80], category, _verdict(category, state, dm))
        )
    return found


def observe(
    site_url: str, paths: list[str], chromium: str, timeout_ms: int = 15_000
) -> list[Observation]:
    """Visit `paths` once per state, each in a fresh browser profile, after answering the
    banner as the state says. The three profiles browse side by side in one browser."""
    return asyncio.run(_observe(site_url.rstrip("/"), paths, chromium, timeout_ms))


async def _observe(
    base: str, paths: list[str], chromium: str, timeout_ms: int
) -> list[Observation]:
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(
            executable_path=chromium, args=CHROMIUM_ARGS, headless=True
        )
        try:
            # A task group: if one state fails unexpectedly, the others are stopped before the
            # browser closes, and the error is raised as it was.
            async with asyncio.TaskGroup() as group:
                tasks = [
                    group.create_task(_observe_state(browser, base, paths, state, timeout_ms))
                    for state in STATES
                ]
        except ExceptionGroup as failed:
            raise failed.exceptions[0] from None
        finally:
            await browser.close()
    return [task.result() for task in tasks]


async def _observe_state(
    browser: Any, base: str, paths: list[str], state: str, timeout_ms: int
) -> Observation:
    from playwright.async_api import Error as PlaywrightError

    seen = Observation(state)
    context = await browser.new_context(locale="nb-NO")
    try:
        context.set_default_timeout(timeout_ms)
        context.on("request", lambda request: seen.requests.append(request.url))
        try:
            await _visit(await context.new_page(), base, paths, state, seen)
        except PlaywrightError as error:
            seen.trouble.append(f"{state}: {str(error).splitlines()[0]}")
        seen.cookies = await context.cookies()
    finally:
        await context.close()
    return seen


STORAGE_KEYS = """() => [
  ...Object.keys(localStorage).map(k => ["local", k]),
  ...Object.keys(sessionStorage).map(k => ["session", k]),
]"""


async def _visit(page: Any, base: str, paths: list[str], state: str, seen: Observation) -> None:
    await page.goto(base + paths[0], wait_until="networkidle")
    if state != "no choice":
        button = page.locator(f'#cc [data-cc="{"accept" if state == "accept all" else "reject"}"]')
        if not await button.is_visible():
            seen.trouble.append(f"{state}: the cookie banner was not shown on {paths[0]}")
        else:
            async with page.expect_response(lambda r: r.request.method == "POST"):
                await button.click()
            await page.wait_for_load_state("networkidle")
    for path in paths:
        await page.goto(base + path, wait_until="networkidle")
        for area, key in await page.evaluate(STORAGE_KEYS):
            if (area, key) not in seen.storage:
                seen.storage.append((area, key))
