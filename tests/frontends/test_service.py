"""A service ships its components: built as it starts when stale, served at ``/ui/<name>``."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

import atoll
import atoll.testing
from atoll.cli import cli
from atoll.errors import BuildError, ConfigError
from atoll.frontends.build import MANIFEST, read_build
from tests.frontends.conftest import COMPONENTS, screenshot
from tests.rpc_doubles import served_here

pytestmark = pytest.mark.services("node")


def service_of(mything) -> atoll.Service:
    service = atoll.Service("mything")

    @service.rpc
    async def greeting(name: str) -> str:
        return f"Hello {name}!"

    service.components(mything.Hello, mything.Counter)
    return service


async def test_the_service_builds_its_components_as_it_starts_and_serves_them(mything, tmp_path):
    flags = ["--ui-build-dir", str(tmp_path)]
    async with atoll.testing.run(service_of(mything), argv=flags) as harness:
        manifest = (await harness.client.get("/ui/mything/fragments.json")).json()
        page = await harness.client.get("/ui/mything/")
        module = await harness.client.get(manifest["module"])
    assert manifest["service"] == "mything"
    assert manifest["module"] == f"/ui/mything/{manifest['version']}/components.js"
    assert [each["tag"] for each in manifest["components"]] == [
        "mything-hello",
        "mything-counter",
    ]
    assert page.status_code == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert '<mything-hello><template shadowrootmode="open">' in page.text
    assert f'src="/ui/mything/{manifest["version"]}/components.js"' in page.text
    assert module.status_code == 200
    assert "define(m0.Hello);" in module.text
    built = read_build(tmp_path / "mything")
    assert built is not None
    assert built.version == manifest["version"]
    made = (tmp_path / "mything" / MANIFEST).stat().st_mtime_ns
    async with atoll.testing.run(service_of(mything), argv=flags) as harness:
        again = (await harness.client.get("/ui/mything/fragments.json")).json()
    assert again["version"] == manifest["version"]
    assert (tmp_path / "mything" / MANIFEST).stat().st_mtime_ns == made  # not built again


async def test_with_ui_build_never_a_service_without_a_build_does_not_start(mything, tmp_path):
    flags = ["--ui-build-dir", str(tmp_path), "--ui-build", "never"]
    with pytest.raises(BuildError, match="no build of the components in"):
        async with atoll.testing.run(service_of(mything), argv=flags):
            pass


async def test_the_service_page_runs_in_the_browser(mything, tmp_path, page):
    flags = ["--ui-build-dir", str(tmp_path)]
    async with (
        atoll.testing.run(service_of(mything), argv=flags) as harness,
        served_here(harness.http.entry) as base,
    ):
        await page.goto(base + "/ui/mything/")
        await page.locator("mything-counter button").click()
        await page.wait_for_function(
            "() => document.querySelector('mything-counter').shadowRoot.textContent"
            " === 'Clicked 1 times'"
        )
        await screenshot(page, "mything-service-page")
        assert page.errors == []


def test_components_are_declared_once_with_components(mything):
    service = atoll.Service("cards")
    with pytest.raises(ConfigError, match="declares no component"):
        service.components()
    with pytest.raises(ConfigError, match="give subclasses of"):
        service.components(str)  # type: ignore[arg-type]
    service.components(mything.Hello)
    with pytest.raises(ConfigError, match="declared its components already"):
        service.components(mything.Counter)


def test_atoll_frontends_build_builds_each_service_and_says_where(mything, tmp_path, monkeypatch):
    monkeypatch.chdir(COMPONENTS)
    runner = CliRunner()
    built = runner.invoke(
        cli, ["frontends", "build", "mything_service:service", "--ui-build-dir", str(tmp_path)]
    )
    assert built.exit_code == 0, built.output
    version = read_build(tmp_path / "mything").version
    assert built.stdout.strip() == f"mything: {tmp_path}/mything/{version}/components.js"
    assert "mything: building 2 component(s)..." in built.stderr
    bare = runner.invoke(cli, ["frontends", "build", "mything_service:bare"])
    assert bare.exit_code == 1
    assert "no service of it ships components" in bare.stderr
    wrong = runner.invoke(cli, ["frontends", "build", "mything_service"])
    assert wrong.exit_code == 2
    assert "is not MODULE:OBJECT" in wrong.stderr


async def test_a_component_calls_its_service_through_the_typed_client(examples, tmp_path, page):
    mything_service = examples("mything_service")
    flags = ["--ui-build-dir", str(tmp_path)]
    async with (
        atoll.testing.run(mything_service.greeter, argv=flags) as harness,
        served_here(harness.http.entry) as base,
    ):
        await page.goto(base + "/ui/greeter/")
        await page.evaluate(
            "document.querySelector('mything-greeting').setAttribute('name', 'Ada')"
        )
        await page.locator("mything-greeting button").click()
        await page.wait_for_function(
            "() => document.querySelector('mything-greeting').shadowRoot"
            ".querySelector('output').textContent === 'Hello Ada!!'"
        )
        assert page.errors == []


def test_the_typed_client_kept_beside_the_components_is_current(monkeypatch):
    monkeypatch.chdir(COMPONENTS)
    runner = CliRunner()
    current = runner.invoke(
        cli, ["frontends", "client", "mything_service:greeter", "--check", "greeter_client.py"]
    )
    assert current.exit_code == 0, current.output
    printed = runner.invoke(cli, ["frontends", "client", "mything_service:greeter"])
    assert printed.stdout == (COMPONENTS / "greeter_client.py").read_text()
    assert "async def hello(self, name: str, punctuation: str | None = None) -> str:" in (
        printed.stdout
    )
    stale = runner.invoke(
        cli, ["frontends", "client", "mything_service:greeter", "--check", "mything.py"]
    )
    assert stale.exit_code == 1
    assert "is not the client of greeter as it is now" in stale.stderr
