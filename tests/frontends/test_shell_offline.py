"""A shell works offline: its worker precaches the page and the builds, and keeps the reads.

A system of two services: ``lagoon`` ships ``<lagoon-level>``, which reads the level of its
gauge from its service as it connects (``level_of``, a query), and has a command
(``record_level``); ``gateway`` serves the shell. The browser's tests serve it over real HTTP
and go offline for real: the server stops, and nothing answers on its port.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import socket
from dataclasses import dataclass

import httpx
import msgspec
import pytest

import atoll
import atoll.testing
from atoll.frontends.offline import ShellWorker
from atoll.frontends.shell import Shell, Slot
from tests.frontends.conftest import WAIT_MS, screenshot, until
from tests.rpc_doubles import served_here

OWN = ["/", "/offline.js", "/manifest.webmanifest", "/icon.svg"]

pytestmark = pytest.mark.services("node")


@pytest.fixture(scope="module")
def lagoon(examples):
    return examples("lagoon")


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """One build directory for the tests serving the lagoon's first version."""
    return ["--ui-build-dir", str(tmp_path_factory.mktemp("ui"))]


@dataclass(frozen=True)
class LevelOf:
    """The level of a gauge, in centimetres."""

    gauge: str


@dataclass(frozen=True)
class RecordLevel:
    """Record a gauge's level."""

    gauge: str
    cm: int


class Gauges:
    """What the lagoon's service knows: each gauge's level, and the levels recorded."""

    def __init__(self) -> None:
        self.levels = {"north": 120}
        self.recorded: list[RecordLevel] = []


def lagoon_service(gauges: Gauges, *components) -> atoll.Service:
    service = atoll.Service("lagoon")

    @service.query(LevelOf)
    async def level_of(query: LevelOf) -> int:
        return gauges.levels[query.gauge]

    @service.command(RecordLevel)
    async def record_level(command: RecordLevel) -> None:
        gauges.recorded.append(command)
        gauges.levels[command.gauge] = command.cm

    @service.rpc
    @service.get("/gauges")
    async def gauge_names() -> list[str]:
        """Read only, as its GET route says."""
        return sorted(gauges.levels)

    @service.rpc
    async def forget() -> None:
        """Neither a query nor a GET: not a read."""
        gauges.levels.clear()

    service.components(*components)
    return service


def gateway(path: str = "/", *, offline: bool = True) -> atoll.Service:
    service = atoll.Service("gateway")
    service.shell(
        "Lagoon", [Slot("lagoon", "lagoon-level", {"gauge": "north"})], path=path, offline=offline
    )
    return service


def system(gauges: Gauges, *components, path: str = "/") -> atoll.System:
    return atoll.System(lagoon_service(gauges, *components), gateway(path), name="atoll-lagoon")


@contextlib.asynccontextmanager
async def serving(service, flags, sock=None):
    async with (
        atoll.testing.run(service, argv=flags) as harness,
        served_here(harness.http.entry, sock) as base,
    ):
        yield base


def configuration(script: bytes) -> dict:
    first = script.partition(b"\n")[0]
    return msgspec.json.decode(first.removeprefix(b"const ATOLL = ").removesuffix(b";"))


# The manifest and the worker's configuration


async def test_the_manifest_lists_the_build_s_files_and_the_methods_that_only_read(lagoon, built):
    async with atoll.testing.run(system(Gauges(), lagoon.Level), argv=built) as harness:
        manifest = (await harness.client.get("/ui/lagoon/fragments.json")).json()
        for address in manifest["files"]:
            assert (await harness.client.head(address)).status_code == 200
    # a query, and a method a GET route serves; not the command, nor a plain method
    assert manifest["reads"] == ["lagoon.gauge_names", "lagoon.level_of"]
    version = manifest["version"]
    assert f"/ui/lagoon/{version}/components.js" in manifest["files"]
    assert all(address.startswith(f"/ui/lagoon/{version}/") for address in manifest["files"])


async def test_a_service_alone_names_its_reads_without_a_prefix(lagoon, built):
    async with atoll.testing.run(lagoon_service(Gauges(), lagoon.Level), argv=built) as harness:
        manifest = (await harness.client.get("/ui/lagoon/fragments.json")).json()
    assert manifest["reads"] == ["gauge_names", "level_of"]


async def test_the_worker_precaches_the_shell_and_the_builds_and_keeps_the_reads(lagoon, built):
    async with atoll.testing.run(system(Gauges(), lagoon.Level), argv=built) as harness:
        worker = await harness.client.get("/sw.js")
        manifest = (await harness.client.get("/ui/lagoon/fragments.json")).json()
        page = (await harness.client.get("/")).text
        for path in OWN[1:]:
            assert (await harness.client.get(path)).status_code == 200
    assert worker.headers["service-worker-allowed"] == "/"
    config = configuration(worker.content)
    loaded = [name for name in manifest["files"] if not name.endswith((".map", ".py"))]
    assert config["precache"] == [*OWN, "/ui/lagoon/fragments.json", *loaded]
    assert f"/ui/lagoon/{manifest['version']}/components.js" in loaded
    assert len(loaded) < len(manifest["files"])  # the source maps and sources are left out
    assert config["rpc"] == {"/rpc": ["lagoon.gauge_names", "lagoon.level_of"]}
    assert config["fallback"] == "/"
    assert len(config["version"]) == 12
    assert '<link rel="manifest" href="/manifest.webmanifest">' in page
    assert '<meta name="theme-color" content="#0b7285">' in page
    assert 'registerWorker("/sw.js", { scope: "/" });' in page


async def test_a_shell_at_a_path_serves_its_offline_files_under_it(lagoon, built):
    async with atoll.testing.run(system(Gauges(), lagoon.Level, path="/app"), argv=built) as app:
        worker = await app.client.get("/app/sw.js")
        manifest = (await app.client.get("/app/manifest.webmanifest")).json()
        page = (await app.client.get("/app")).text
        assert (await app.client.get("/sw.js")).status_code == 404
    assert worker.headers["service-worker-allowed"] == "/app"
    assert configuration(worker.content)["precache"][:4] == [
        "/app",
        "/app/offline.js",
        "/app/manifest.webmanifest",
        "/app/icon.svg",
    ]
    assert configuration(worker.content)["fallback"] == "/app"
    assert (manifest["start_url"], manifest["scope"]) == ("/app", "/app")
    assert 'registerWorker("/app/sw.js", { scope: "/app" });' in page


async def test_a_shell_not_offline_serves_no_worker(lagoon, built):
    services = atoll.System(
        lagoon_service(Gauges(), lagoon.Level), gateway(offline=False), name="atoll-lagoon"
    )
    async with atoll.testing.run(services, argv=built) as harness:
        worker = await harness.client.get("/sw.js")
        page = (await harness.client.get("/")).text
    assert worker.status_code == 404
    assert 'rel="manifest"' not in page
    assert "registerWorker" not in page


async def test_a_service_of_another_origin_is_neither_precached_nor_its_reads_kept(lagoon, built):
    async with serving(lagoon_service(Gauges(), lagoon.Level), built) as elsewhere:
        flags = ["--ui-fragments", f"lagoon={elsewhere}"]
        async with atoll.testing.run(gateway(), argv=flags) as harness:
            config = configuration((await harness.client.get("/sw.js")).content)
            page = (await harness.client.get("/")).text
    assert f'"@lagoon/":"{elsewhere}/ui/lagoon/' in page  # shown, loaded from its origin
    assert config["precache"] == OWN
    assert config["rpc"] == {}


class Found:
    """A service's manifest as the shell reads it: each of ``manifests`` in turn, again and
    again (an instance of a service elsewhere, then another; None when none answered)."""

    def __init__(self, *manifests: dict | None) -> None:
        self.manifests = itertools.cycle(manifests)

    async def manifest(self) -> dict | None:
        return next(self.manifests)

    async def paint(self, slots: list[Slot], manifest: dict) -> list[None]:
        del manifest
        return [None] * len(slots)


def build_of(service: str, version: str, base: str = "") -> dict:
    """The manifest of ``service``'s build ``version``, as read from ``base`` ("" here)."""
    module = f"{base}/ui/{service}/{version}/components.js"
    return {
        "service": service,
        "version": version,
        "module": module,
        "files": [module],
        "rpc": {"url": "/rpc", "prefix": f"{service}."},
        "reads": [f"{service}.level_of"],
        "components": [{"name": "Level", "tag": f"{service}-level", "observed": ["gauge"]}],
    }


def shell_of(here: Found, elsewhere: Found, title: str = "Lagoon", gauge: str = "north") -> Shell:
    """A shell of ``lagoon``, served on its origin, and ``reef``, served elsewhere."""
    slots = [Slot("lagoon", "lagoon-level", {"gauge": gauge}), Slot("reef", "reef-level")]
    return Shell(title, slots, {"lagoon": here, "reef": elsewhere})


async def test_the_shell_s_worker_stays_the_same_while_nothing_is_deployed():
    """Two instances of one build elsewhere, given in turn (a registry picks one each time),
    and an outage: the same script each time, so no update is offered, nor precache lost."""
    instances = [build_of("reef", "0f0f0f0f0f0f", base) for base in ("http://a:1", "http://b:1")]
    shell = shell_of(Found(build_of("lagoon", "111111111111")), Found(*instances, None))
    worker = ShellWorker(shell, "/", OWN[1:])
    pages = {await shell.page() for _ in range(3)}
    assert len(pages) == 3  # each composed with what it found
    scripts = {(await worker()).script() for _ in range(6)}
    assert len(scripts) == 1


async def test_a_new_build_here_or_a_new_shell_is_a_new_worker():
    async def version(here: str, elsewhere: str = "0" * 12, **shell: str) -> str:
        lagoon = Found(build_of("lagoon", here))
        reef = Found(build_of("reef", elsewhere, "http://a:1"))
        return (await ShellWorker(shell_of(lagoon, reef, **shell), "/", OWN[1:])()).version

    first = await version("1" * 12)
    assert await version("2" * 12) != first
    assert await version("1" * 12, title="Reef") != first
    assert await version("1" * 12, gauge="south") != first
    # a new build elsewhere is not: the worker keeps nothing of it
    assert await version("1" * 12, elsewhere="e" * 12) == first


# In the browser


async def until_controlled(page) -> None:
    """Wait for the worker to take the page: its ``controllerchange``, unless it has already."""
    async with asyncio.timeout(WAIT_MS / 1000):
        await page.evaluate(
            "new Promise((resolve) => navigator.serviceWorker.controller ? resolve()"
            " : navigator.serviceWorker.addEventListener('controllerchange', resolve))"
        )


async def shows_level(page, text: str) -> None:
    await page.wait_for_function(
        "(text) => document.querySelector('lagoon-level')?.shadowRoot.textContent === text",
        arg=text,
    )


async def until_kept(page, method: str) -> None:
    """Wait until the worker keeps an answer of ``method``, in its API cache."""
    await until(
        page,
        """async (method) => {
          for (const name of await caches.keys()) {
            if (name.endsWith(' api')) {
              const keys = await (await caches.open(name)).keys();
              if (keys.some((key) => new URL(key.url).searchParams.get('atoll-rpc') === method)) {
                return true;
              }
            }
          }
          return false;
        }""",
        arg=method,
    )


CALL = """([method, params]) => document.querySelector('lagoon-level').call(method, params)
  .then((result) => 'answered ' + JSON.stringify(result), (error) => 'failed: ' + error.message)"""


async def test_after_one_online_load_an_offline_reload_shows_the_shell_and_the_last_data(
    lagoon, built, page
):
    gauges = Gauges()
    sock = socket.create_server(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    async with serving(system(gauges, lagoon.Level), built, sock) as base:
        await page.goto(base + "/")
        await until_controlled(page)
        await shows_level(page, "Level 120 cm")
        # read before the worker was there, and read again through it once it is
        await until_kept(page, "lagoon.level_of")
        await screenshot(page, "shell-offline-online")
    async with httpx.AsyncClient() as client:
        with pytest.raises(httpx.ConnectError):  # offline for real: nothing on the port
            await client.get(base + "/")

    await page.reload()
    await page.wait_for_function("() => document.documentElement.dataset.atollLoaded")
    assert await page.locator("header h1").inner_text() == "Lagoon"
    await shows_level(page, "Level 120 cm")  # the worker's last answer
    assert await page.locator(".atoll-placeholder").count() == 0
    # a command is never answered from a cache, nor a read the worker never saw answered
    recording = await page.evaluate(CALL, ["record_level", {"gauge": "north", "cm": 135}])
    assert recording.startswith("failed: ")
    unseen = await page.evaluate(CALL, ["level_of", {"gauge": "south"}])
    assert unseen.startswith("failed: ")
    # the kept answer, given back with the call's own id
    answer = await page.evaluate(
        """async () => {
          const answer = await fetch('/rpc', {method: 'POST', body: JSON.stringify(
            {jsonrpc: '2.0', id: 77, method: 'lagoon.level_of', params: {gauge: 'north'}})});
          return [answer.headers.get('x-atoll-offline'), await answer.json()];
        }"""
    )
    assert answer[0] is not None
    assert answer[1] == {"jsonrpc": "2.0", "id": 77, "result": 120}
    await screenshot(page, "shell-offline-reloaded")

    # back online, the network comes first again
    gauges.levels["north"] = 135
    back = socket.create_server(("127.0.0.1", port))
    async with serving(system(gauges, lagoon.Level), built, back):
        await page.reload()
        await shows_level(page, "Level 135 cm")
    assert gauges.recorded == []
    assert page.errors == []
    assert page.violations == []


KEPT = """async () => {
  const name = (await caches.keys()).find((each) => each.endsWith(' api'));
  return name === undefined ? 0 : (await (await caches.open(name)).keys()).length;
}"""

LOGIN = "(token) => document.querySelector('lagoon-level').remember_token(token)"


async def test_a_logout_deletes_every_answer_the_worker_kept(lagoon, built, page):
    async with serving(system(Gauges(), lagoon.Level), built) as base:
        await page.goto(base + "/")
        await until_controlled(page)
        await until_kept(page, "lagoon.level_of")  # the page's own read, without a token
        await page.evaluate(LOGIN, "alice-token")
        assert await page.evaluate(CALL, ["level_of", {"gauge": "north"}]) == "answered 120"
        await until(page, f"async () => (await ({KEPT})()) === 2")  # Alice's answer too

        await page.evaluate(LOGIN, None)
        await until(page, f"async () => (await ({KEPT})()) === 0")

    # offline, even Alice, logged in again, is given nothing of what she read before
    await page.evaluate(LOGIN, "alice-token")
    again = await page.evaluate(CALL, ["level_of", {"gauge": "north"}])
    assert again.startswith("failed: ")
    assert page.errors == []


async def test_a_new_build_is_a_new_worker_offered_to_the_page_through_the_shell(
    lagoon, tmp_path, page
):
    flags = ["--ui-build-dir", str(tmp_path)]
    gauges = Gauges()
    sock = socket.create_server(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    async with serving(system(gauges, lagoon.Level), flags, sock) as base:
        await page.goto(base + "/")
        await until_controlled(page)
        await shows_level(page, "Level 120 cm")
        async with httpx.AsyncClient() as client:
            first = configuration((await client.get(base + "/sw.js")).content)["version"]

    # the lagoon's second version ships one more component: a new build, so a new worker
    second_version = system(gauges, lagoon.Level, lagoon.Tide)
    async with serving(second_version, flags, socket.create_server(("127.0.0.1", port))):
        async with httpx.AsyncClient() as client:
            second = configuration((await client.get(base + "/sw.js")).content)["version"]
            built = (await client.get(base + "/ui/lagoon/fragments.json")).json()["version"]
        assert second != first
        await page.evaluate(
            "navigator.serviceWorker.getRegistration().then((registration) =>"
            " registration.update())"
        )
        prompt = page.locator("#atoll-update")
        await prompt.wait_for(state="visible")
        await shows_level(page, "Level 120 cm")  # the page runs its version meanwhile
        await screenshot(page, "shell-offline-update-offered")

        async with page.expect_navigation():
            await prompt.get_by_role("button", name="Reload to update").click()
        await page.wait_for_function(
            "(version) => JSON.parse(document.getElementById('atoll-fragments').textContent)"
            ".lagoon.version === version",
            arg=built,
        )
        await shows_level(page, "Level 120 cm")
        assert await prompt.count() == 0
        names = await page.evaluate("caches.keys()")
        assert sorted(names) == [f"atoll {base}/ api", f"atoll {base}/ precache {second}"]
        await screenshot(page, "shell-offline-updated")
    assert page.errors == []
    assert page.violations == []
