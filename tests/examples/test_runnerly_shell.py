"""Runnerly's page, in a real browser: a runner logs in, records a run, and sees it counted.

The system runs in the test's process (its databases in memory) and is served over real HTTP;
the shell at ``/`` composes the components of ``users``, ``runs`` and ``stats``, each built
from the services' ``ui.py`` and calling its own service with the runner's token.
"""

from __future__ import annotations

import contextlib

import pytest

import atoll.testing
from runnerly.app import system
from tests.examples.test_runnerly import MEMORY, PASSWORD, ada
from tests.frontends.conftest import page, screenshot  # noqa: F401 - the fixture, for this module
from tests.rpc_doubles import served_here

pytestmark = pytest.mark.services("chromium", "node")


@contextlib.asynccontextmanager
async def runnerly_page(page, tmp_path):  # noqa: F811 - the fixture imported above
    """The system in memory, Ada registered, its page loaded in ``page`` over real HTTP."""
    flags = [*MEMORY, "--ui-build-dir", str(tmp_path)]
    async with atoll.testing.run(system(), argv=flags) as harness:
        await harness.send(ada())
        async with served_here(harness.http.entry) as base:
            await page.goto(base + "/")
            await page.wait_for_function("() => document.documentElement.dataset.atollLoaded")
            yield


def shadow(tag: str) -> str:
    return f"document.querySelector('{tag}').shadowRoot.textContent"


async def test_a_runner_logs_in_records_a_run_and_sees_the_week_total_change(page, tmp_path):  # noqa: F811 - the fixture imported above
    async with runnerly_page(page, tmp_path):
        assert "Hello, runner!" in await page.evaluate(shadow("users-profile-card"))
        assert "No runs yet" in await page.evaluate(shadow("runs-run-list"))

        await page.locator("users-login-form input[name=email]").fill("ada@example.org")
        await page.locator("users-login-form input[name=password]").fill(PASSWORD)
        await page.locator("users-login-form button").click()
        await page.wait_for_function(f"() => {shadow('users-login-form')}.includes('logged in')")
        await page.wait_for_function(
            f"() => {shadow('users-profile-card')}.includes('Hello, Ada!')"
        )

        await page.locator("runs-record-form input[name=distance]").fill("5.2")
        await page.locator("runs-record-form input[name=duration]").fill("26:00")
        await page.locator("runs-record-form button").click()
        await page.wait_for_function(
            f"() => {shadow('runs-record-form')}.includes('Recorded 5.2 km in 26:00.')"
        )
        await page.wait_for_function(f"() => {shadow('runs-run-list')}.includes('5.2 km')")
        # stats counts the run from its event, a moment later: the chart asks again
        await page.wait_for_function(f"() => {shadow('stats-weekly-chart')}.includes('5.2')")
        await screenshot(page, "runnerly-shell")
        assert page.errors == []
        assert page.violations == []


async def test_a_wrong_password_is_said_and_nothing_is_shown(page, tmp_path):  # noqa: F811 - the fixture imported above
    async with runnerly_page(page, tmp_path):
        await page.locator("users-login-form input[name=email]").fill("ada@example.org")
        await page.locator("users-login-form input[name=password]").fill("not hers")
        await page.locator("users-login-form button").click()
        alert = page.locator("users-login-form [role=alert]")
        await alert.wait_for()
        assert await alert.inner_text()
        assert await page.evaluate("localStorage.getItem('atoll.token')") is None
        assert "Hello, runner!" in await page.evaluate(shadow("users-profile-card"))
        assert page.errors == []
        assert page.violations == []
