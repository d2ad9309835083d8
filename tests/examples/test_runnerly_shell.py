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
from tests.examples.test_runnerly import MEMORY, MONDAY, PASSWORD, ada
from tests.frontends.conftest import page, screenshot  # noqa: F401 - the fixture, for this module
from tests.rpc_doubles import served_here

pytestmark = pytest.mark.services("chromium", "node")


@contextlib.asynccontextmanager
async def runnerly_page(page, tmp_path, *flags: str):  # noqa: F811 - the fixture imported above
    """The system in memory, Ada registered, its page loaded in ``page`` over real HTTP."""
    flags = (*MEMORY, "--ui-build-dir", str(tmp_path), *flags)
    async with atoll.testing.run(system(), argv=list(flags)) as harness:
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

        await submit_login(page, "ada@example.org", PASSWORD)
        await page.wait_for_function(f"() => {shadow('users-login-form')}.includes('logged in')")
        await page.wait_for_function(
            f"() => {shadow('users-profile-card')}.includes('Hello, Ada!')"
        )

        await record_on_page(page)
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
        await submit_login(page, "ada@example.org", "not hers")
        alert = page.locator("users-login-form [role=alert]")
        await alert.wait_for()
        assert await alert.inner_text()
        assert await page.evaluate("localStorage.getItem('atoll.token')") is None
        assert "Hello, runner!" in await page.evaluate(shadow("users-profile-card"))
        assert page.errors == []
        assert page.violations == []


async def test_a_run_recorded_elsewhere_shows_in_the_chart_as_its_change_arrives(page, tmp_path):  # noqa: F811 - the fixture imported above
    """Nothing on the page asks: stats' change, published as it counts the run, is pushed."""
    flags = [*MEMORY, "--ui-build-dir", str(tmp_path)]
    async with atoll.testing.run(system(), argv=flags) as harness:
        await harness.send(ada())
        async with served_here(harness.http.entry) as base:
            await page.goto(base + "/")
            await page.wait_for_function("() => document.documentElement.dataset.atollLoaded")
            token = await log_in(page)
            await page.wait_for_function(
                f"() => {shadow('stats-weekly-chart')}.includes('No runs')"
            )
            run = {"meters": 7300.0, "seconds": 2400, "started_at": MONDAY.isoformat()}
            answer = await harness.client.post(
                "/runs", json=run, headers={"authorization": f"Bearer {token}"}
            )
            assert answer.status_code == 201, answer.text
            await page.wait_for_function(f"() => {shadow('stats-weekly-chart')}.includes('7.3')")
            assert page.errors == []
            assert page.violations == []


SHORT_LIVED = ("--tokens-lifetime", "3", "--auth-jwt-leeway", "0")
"""Tokens valid for three seconds, checked without leeway: they expire within the test."""


async def submit_login(page, email: str, password: str) -> None:  # noqa: F811 - the fixture imported above
    """Type ``email`` and ``password`` in the page's login form, and submit it."""
    await page.locator("users-login-form input[name=email]").fill(email)
    await page.locator("users-login-form input[name=password]").fill(password)
    await page.locator("users-login-form button").click()


async def record_on_page(page, distance: str = "5.2", duration: str = "26:00") -> None:  # noqa: F811 - the fixture imported above
    """Type a run in the page's record form, and submit it."""
    await page.locator("runs-record-form input[name=distance]").fill(distance)
    await page.locator("runs-record-form input[name=duration]").fill(duration)
    await page.locator("runs-record-form button").click()


async def log_in(page) -> str:  # noqa: F811 - the fixture imported above
    """Log Ada in on the page; the access token it kept."""
    await submit_login(page, "ada@example.org", PASSWORD)
    await page.wait_for_function(f"() => {shadow('users-profile-card')}.includes('Hello, Ada!')")
    return await page.evaluate("localStorage.getItem('atoll.token')")


async def until_expired(page, token: str) -> None:  # noqa: F811 - the fixture imported above
    """Wait for the moment ``token`` expires, by its own ``exp``."""
    exp = await page.evaluate(
        "(t) => JSON.parse(atob(t.split('.')[1].replace(/-/g, '+').replace(/_/g, '/'))).exp",
        token,
    )
    await page.wait_for_function(f"() => Date.now() / 1000 > {exp} + 0.5")


async def test_a_call_refused_for_an_expired_token_is_sent_again_with_the_next(page, tmp_path):  # noqa: F811 - the fixture imported above
    async with runnerly_page(page, tmp_path, *SHORT_LIVED):
        first = await log_in(page)
        refresh = await page.evaluate("localStorage.getItem('atoll.refresh')")
        assert refresh
        await until_expired(page, first)
        await record_on_page(page)
        await page.wait_for_function(
            f"() => {shadow('runs-record-form')}.includes('Recorded 5.2 km in 26:00.')"
        )
        assert await page.evaluate("localStorage.getItem('atoll.token')") != first
        assert await page.evaluate("localStorage.getItem('atoll.refresh')") not in {None, refresh}
        assert page.errors == []
        assert page.violations == []


async def test_a_session_that_ended_is_forgotten_and_the_runner_asked_to_log_in(page, tmp_path):  # noqa: F811 - the fixture imported above
    async with runnerly_page(page, tmp_path, *SHORT_LIVED):
        first = await log_in(page)
        await page.evaluate("localStorage.setItem('atoll.refresh', 'spent-or-revoked')")
        await until_expired(page, first)
        await record_on_page(page)
        await page.wait_for_function(
            f"() => {shadow('users-login-form')}.includes('Your session ended: log in again.')"
        )
        assert await page.evaluate("localStorage.getItem('atoll.token')") is None
        assert await page.evaluate("localStorage.getItem('atoll.refresh')") is None
        assert "Recorded" not in await page.evaluate(shadow("runs-record-form"))


async def test_the_login_form_submitted_without_javascript_keeps_the_password_out_of_the_address(
    tmp_path,
):
    """The first paint is the server's: submitted before any script, the form posts."""
    from playwright.async_api import async_playwright  # noqa: PLC0415 - where it is needed

    from tests.frontends.conftest import CHROMIUM, FLAGS  # noqa: PLC0415 - a browser of its own

    flags = [*MEMORY, "--ui-build-dir", str(tmp_path)]
    async with (
        atoll.testing.run(system(), argv=flags) as harness,
        served_here(harness.http.entry) as base,
        async_playwright() as playwright,
    ):
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            context = await browser.new_context(java_script_enabled=False)
            page = await context.new_page()
            await page.goto(base + "/")
            await page.locator("users-login-form input[name=email]").fill("ada@example.org")
            await page.locator("users-login-form input[name=password]").fill(PASSWORD)
            async with page.expect_navigation():
                await page.locator("users-login-form button").click()
            assert PASSWORD.split()[0] not in page.url
            assert "password" not in page.url
        finally:
            await browser.close()
