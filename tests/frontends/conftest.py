"""A real browser for the frontends' tests: Debian's Chromium, headless, driven by Playwright.

A test that takes ``page`` is marked ``services("chromium")`` (by
:func:`pytest_collection_modifyitems`): it is skipped where Chromium is missing, and fails
under ``ATOLL_REQUIRE_SERVICES=1`` (CI).
Each test gets a browser of its own, with an empty profile, started with the flags a machine
without a network beyond its own needs (no background connections, no component updates).

What the page's Content-Security-Policy refuses is in ``page.violations``, what its scripts
threw in ``page.errors``.

``screenshot(page, name)`` keeps a picture of what the test saw under
``build/test-artifacts/screenshots/``.
"""

from __future__ import annotations

import asyncio
import importlib
import sys
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
FLAGS = [
    "--no-sandbox",  # the tests run as root, where Chromium's sandbox refuses to start
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
COMPONENTS = Path(__file__).resolve().parent / "components"
"""The example components the tests build (modules of their own, not tests)."""
SCREENSHOTS = Path(__file__).resolve().parents[2] / "build" / "test-artifacts" / "screenshots"
VIOLATION = "CSP violation:"
REPORT_VIOLATIONS = f"""
globalThis.atollViolations = [];
document.addEventListener('securitypolicyviolation', (event) => {{
  const said = event.effectiveDirective + ' refused ' + event.blockedURI;
  globalThis.atollViolations.push(said);
  console.error('{VIOLATION} ' + said);
}}, true);
"""
"""Run in each document before its scripts: says each Content-Security-Policy violation on the
console, where the ``page`` fixture collects it (``page.violations``), and keeps it in the
page's ``atollViolations``, for a test to wait on."""
WAIT_MS = 60_000
"""How long a browser test waits for what it expects, in milliseconds: generous, never a pause."""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "page" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.services("chromium"))


@pytest.fixture(scope="module")
def examples():
    """What imports an example module of ``components/`` by name, for the module's tests.

    The directory is on ``sys.path`` while they run, as a project's own is: the build
    compiles the modules as it finds them there.
    """
    sys.path.insert(0, str(COMPONENTS))
    try:
        yield importlib.import_module
    finally:
        sys.path.remove(str(COMPONENTS))


@pytest.fixture(scope="module")
def mything(examples):
    """microthings' examples: ``Hello``, ``Counter``, ``Visits``, ``Tally``, ``Greeting``."""
    return examples("mything")


@pytest.fixture
async def page():
    """A new page of a headless Chromium started for the test, closed after it."""
    from playwright.async_api import async_playwright  # noqa: PLC0415 - only where a test asks

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            context = await browser.new_context()
            context.set_default_timeout(WAIT_MS)
            opened = await context.new_page()
            errors: list[str] = []
            opened.on("pageerror", lambda error: errors.append(str(error)))
            opened.errors = errors  # what the page's scripts threw, for the test to assert on
            violations: list[str] = []
            await context.add_init_script(REPORT_VIOLATIONS)
            opened.on(
                "console",
                lambda message: (
                    violations.append(message.text)
                    if message.text.startswith(VIOLATION)
                    or "Content Security Policy" in message.text
                    else None
                ),
            )
            opened.violations = violations  # what the page's policy refused, as the console said
            yield opened
        finally:
            await browser.close()


async def screenshot(page, name: str) -> Path:
    """Keep a picture of ``page`` as ``build/test-artifacts/screenshots/<name>.png``."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    await page.screenshot(path=str(path), full_page=True)
    return path


async def until(page, predicate: str, arg: object = None) -> None:
    """Wait until ``predicate(arg)``, an async JavaScript function, resolves to a true value.

    ``page.wait_for_function`` takes a promise for a true value and returns at once: this
    asks again in the page, every 50 ms, within :data:`WAIT_MS`.
    """
    async with asyncio.timeout(WAIT_MS / 1000):
        await page.evaluate(
            f"async (arg) => {{ const predicate = {predicate};"
            " while (!(await predicate(arg))) {"
            " await new Promise((resolve) => setTimeout(resolve, 50)); } }",
            arg,
        )
