"""The service worker, its page module and the web app manifest: written, served, and run.

The browser's tests serve a page over real HTTP (its shell precached, a counter under
``/api`` answered network first) and go offline for real: the server stops, and nothing
answers on its port.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import socket
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import httpx
import msgspec
import pytest

from atoll.errors import ConfigError
from atoll.frontends.offline import OfflineAssets, icon_svg, service_worker, web_manifest
from atoll.frontends.serving import answer
from tests.frontends.conftest import WAIT_MS, screenshot, until
from tests.rpc_doubles import served_here

STATIC = Path(__file__).resolve().parents[2] / "src" / "atoll" / "frontends" / "static"
SHELL = ["/", "/offline.js", "/manifest.webmanifest", "/icon.svg"]


def configuration(script: bytes) -> dict:
    first = script.partition(b"\n")[0]
    assert first.startswith(b"const ATOLL = ")
    assert first.endswith(b";")
    return msgspec.json.decode(first.removeprefix(b"const ATOLL = ").removesuffix(b";"))


# The generator


def test_the_first_line_is_the_configuration_and_the_rest_is_the_template():
    script = service_worker("3f2a9c0d17be", ["/", "/offline.js"], ["/api", "/runs"], "/")
    assert configuration(script) == {
        "version": "3f2a9c0d17be",
        "precache": ["/", "/offline.js"],
        "api": ["/api", "/runs"],
        "fallback": "/",
        "rpc": {},
        "fresh": [],
        "kept": 200,
    }
    template = (STATIC / "service-worker.js").read_bytes()
    assert script.partition(b"\n")[2] == template.partition(b"\n")[2]


def test_the_template_s_own_first_line_is_a_configuration_too():
    """The file runs as it is (``node --check``, a reader): its placeholder is a valid one."""
    template = (STATIC / "service-worker.js").read_bytes()
    keys = {"version", "precache", "api", "fallback", "rpc", "fresh", "kept"}
    assert set(configuration(template)) == keys


@pytest.mark.services("node")
def test_the_worker_written_is_javascript(tmp_path):
    node = shutil.which("node")
    assert node is not None
    script = tmp_path / "sw.js"
    script.write_bytes(service_worker("v1", ["/", "/ui/a b.js"], ["/api"], "/"))
    subprocess.run([node, "--check", str(script)], check=True)
    module = (STATIC / "offline.js").read_bytes()
    subprocess.run([node, "--input-type=module", "--check"], input=module, check=True)


@pytest.mark.parametrize(
    ("precache", "api", "fallback", "says"),
    [
        (["/", "index.html"], [], "/", "'index.html', which is not a path of this origin"),
        (["/", "https://cdn.example/x.js"], [], "/", "not a path of this origin"),
        (["/", "//cdn.example/x.js"], [], "/", "not a path of this origin"),
        (["/", "/app.js", "/app.js"], [], "/", "precache holds '/app.js' twice"),
        (["/"], ["/api", "/api"], "/", "api holds '/api' twice"),
        (["/"], ["api"], "/", "api holds 'api', which is not a path"),
        (["/"], "/api", "/", "api is the string '/api', where a list of paths is expected"),
        (["/"], [], "/offline.html", "'/offline.html' is not precached"),
        (["/", "/api/today"], ["/api"], "/", "'/api/today' is both precached and under"),
    ],
)
def test_a_bad_configuration_is_refused_with_the_fix(precache, api, fallback, says):
    with pytest.raises(ConfigError) as raised:
        service_worker("v1", precache, api, fallback)
    assert says in str(raised.value)
    assert isinstance(raised.value, ValueError)


def test_an_api_prefix_covers_its_paths_not_its_namesakes():
    """``/api`` covers ``/api/x``, not ``/apiary``, so ``/apiary`` may be precached."""
    service_worker("v1", ["/", "/apiary"], ["/api"])


def test_a_fresh_page_must_be_precached_and_an_rpc_endpoint_be_a_path():
    with pytest.raises(ConfigError, match="the fresh page '/app' is not precached"):
        service_worker("v1", ["/"], [], fresh=["/app"])
    with pytest.raises(ConfigError, match="rpc holds 'rpc', which is not a path"):
        service_worker("v1", ["/"], [], rpc={"rpc": ["runs.list_runs"]})
    script = service_worker("v1", ["/", "/app"], [], rpc={"/rpc": ["b", "a", "b"]}, fresh=["/app"])
    assert configuration(script)["rpc"] == {"/rpc": ["a", "b"]}
    assert configuration(script)["fresh"] == ["/app"]


@pytest.mark.parametrize("version", ["", "  ", " v1"])
def test_a_version_must_be_given(version):
    with pytest.raises(ConfigError, match="give a non-empty one"):
        service_worker(version, ["/"], [])


def test_the_answers_kept_are_counted_and_at_least_one():
    assert configuration(service_worker("v1", ["/"], ["/api"], kept=3))["kept"] == 3
    with pytest.raises(ConfigError, match="to keep 0 answers: give a whole number of at least 1"):
        service_worker("v1", ["/"], ["/api"], kept=0)


def test_the_registration_s_values_cannot_end_its_script_nor_escape_it():
    """A value holding ``<!--<script>`` would keep the real ``</script>`` from ending it."""
    at = "/a<!--<script>&</script>"
    links = OfflineAssets("Runs", version="v1", precache=["/"], scope=at + "/", at=at).links()
    script = links[links.index('<script type="module">\n') + 23 : links.rindex("</script>")]
    assert not set("<>&") & set(script)
    literals = re.findall(r'"(?:[^"\\]|\\.)*"', script)
    assert [msgspec.json.decode(each) for each in literals] == [
        at + "/offline.js",
        at + "/sw.js",
        at + "/",
    ]


# The manifest and the icon


def test_the_manifest_has_the_w3c_members_and_opens_standalone():
    icon = {"src": "icon.svg", "sizes": "any", "type": "image/svg+xml"}
    manifest = web_manifest(
        "Runnerly, the running log", short_name="Runnerly", theme_color="#123456", icons=[icon]
    )
    assert manifest == {
        "name": "Runnerly, the running log",
        "short_name": "Runnerly",
        "start_url": "/",
        "scope": "/",
        "display": "standalone",
        "theme_color": "#123456",
        "background_color": "#ffffff",
        "icons": [icon],
    }
    assert web_manifest("Runs")["short_name"] == "Runs"


def test_a_start_url_outside_the_scope_is_refused():
    with pytest.raises(ConfigError, match="outside the scope '/runs/'"):
        web_manifest("Runs", start_url="/", scope="/runs/")
    with pytest.raises(ConfigError, match="name is empty"):
        web_manifest(" ")


def test_the_icon_is_an_svg_in_the_theme_s_colours():
    svg = ET.fromstring(icon_svg("#123456", "#fedcba"))  # noqa: S314 - our own string
    assert svg.tag == "{http://www.w3.org/2000/svg}svg"
    assert svg.get("viewBox") == "0 0 96 96"
    colours = {each.get("fill") for each in svg} | {each.get("stroke") for each in svg}
    assert {"#123456", "#fedcba"} <= colours
    with pytest.raises(ConfigError, match="is not one"):
        icon_svg('red" onload="alert(1)')


# Served


async def test_the_assets_are_served_with_their_types_and_headers():
    assets = OfflineAssets("Runs", version="v1", precache=SHELL, api=["/api"], scope="/")
    transport = httpx.ASGITransport(app=assets)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        worker = await client.get("/sw.js")
        assert worker.headers["content-type"] == "text/javascript; charset=utf-8"
        assert worker.headers["cache-control"] == "no-cache"
        assert worker.headers["service-worker-allowed"] == "/"
        assert configuration(worker.content)["version"] == "v1"
        module = await client.get("/offline.js")
        assert module.headers["content-type"] == "text/javascript; charset=utf-8"
        assert b"export async function registerWorker" in module.content
        manifest = await client.get("/manifest.webmanifest")
        assert manifest.headers["content-type"] == "application/manifest+json"
        assert manifest.json()["icons"] == [
            {"src": "icon.svg", "sizes": "any", "type": "image/svg+xml", "purpose": "any"}
        ]
        icon = await client.get("/icon.svg")
        assert icon.headers["content-type"] == "image/svg+xml"
        assert icon.content.startswith(b"<svg ")
        head = await client.head("/sw.js")
        assert head.content == b""
        assert head.headers["content-length"] == worker.headers["content-length"]
        missing = await client.get("/service-worker.js")
        assert missing.status_code == 404
        assert "/manifest.webmanifest" in missing.text
        refused = await client.post("/sw.js")
        assert refused.status_code == 405


def test_the_assets_refuse_a_bad_configuration_when_made():
    with pytest.raises(ConfigError, match="not precached"):
        OfflineAssets("Runs", version="v1", precache=["/offline.js"])
    with pytest.raises(ConfigError, match="given no version: give version= and precache="):
        OfflineAssets("Runs")


# In the browser

PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Runs</title>
<link rel="manifest" href="/manifest.webmanifest">
<script type="module">
import { controlled, registerWorker } from '/offline.js';

async function show() {
  const response = await fetch('/api/counter');
  document.querySelector('#count').textContent = (await response.json()).count;
}

const wasControlled = navigator.serviceWorker.controller !== null;
registerWorker('/sw.js');
await show();
// A first visit fetched before the worker was there: again through it, to keep the answer.
if (!wasControlled) {
  await controlled();
  await show();
}
</script>
</head>
<body>
<h1>Runs</h1>
<p>Version <span id="version">{version}</span>, count <output id="count">none yet</output></p>
</body>
</html>
"""


class Site:
    """A service's page at a version, its offline assets, and a counter under ``/api``."""

    def __init__(self, version: str) -> None:
        self.count = 0
        self.deploy(version)

    def deploy(self, version: str) -> None:
        self.version = version
        self.assets = OfflineAssets("Runs", version=version, precache=SHELL, api=["/api"])

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return
        if scope["path"] == "/":
            page = PAGE.replace("{version}", self.version).encode()
            await answer(send, 200, b"text/html; charset=utf-8", page, [])
        elif scope["path"] == "/api/counter":
            self.count += 1
            body = msgspec.json.encode({"count": self.count})
            # no-cache: not from the HTTP cache without asking, but kept (no-store is not)
            await answer(send, 200, b"application/json", body, [(b"cache-control", b"no-cache")])
        else:
            await self.assets(scope, receive, send)


async def until_controlled(page) -> None:
    """Wait for the worker to take the page: its ``controllerchange``, unless it has already."""
    async with asyncio.timeout(WAIT_MS / 1000):
        await page.evaluate(
            "new Promise((resolve) => navigator.serviceWorker.controller ? resolve()"
            " : navigator.serviceWorker.addEventListener('controllerchange', resolve))"
        )


async def shows(page, selector: str, text: str) -> None:
    await page.wait_for_function(
        "([selector, text]) => document.querySelector(selector)?.textContent === text",
        arg=[selector, text],
    )


async def test_after_one_online_load_an_offline_reload_shows_the_shell_and_the_last_data(page):
    site = Site("1")
    sock = socket.create_server(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    async with served_here(site, sock) as base:
        await page.goto(base + "/")
        await until_controlled(page)
        await shows(page, "#count", "2")  # the second answer, kept by the worker
    async with httpx.AsyncClient() as client:
        with pytest.raises(httpx.ConnectError):  # offline for real: nothing on the port
            await client.get(base + "/api/counter")

    await page.reload()
    await shows(page, "h1", "Runs")
    await shows(page, "#version", "1")
    await shows(page, "#count", "2")
    await screenshot(page, "offline-reload")

    # back online, the network comes first again
    async with served_here(site, socket.create_server(("127.0.0.1", port))):
        await page.reload()
        await shows(page, "#count", "3")
    assert page.errors == []


async def test_a_navigation_not_precached_gets_the_fallback_page_offline(page):
    site = Site("1")
    async with served_here(site) as base:
        await page.goto(base + "/")
        await until_controlled(page)
        await shows(page, "#count", "2")
    await page.goto(base + "/runs/7")
    await shows(page, "h1", "Runs")
    await shows(page, "#count", "2")
    assert page.errors == []


async def test_a_new_version_waits_for_the_page_to_take_it_then_the_page_reloads_under_it(page):
    site = Site("1")
    async with served_here(site) as base:
        await page.goto(base + "/")
        await until_controlled(page)
        await shows(page, "#version", "1")
        site.deploy("2")
        await page.evaluate(
            "navigator.serviceWorker.getRegistration().then((registration) =>"
            " registration.update())"
        )
        prompt = page.locator("#atoll-update")
        await prompt.wait_for(state="visible")
        await screenshot(page, "offline-update-offered")

        # a reload is not enough: the new worker waits, the page is version 1's, and offered
        await page.reload()
        await shows(page, "#version", "1")
        await prompt.wait_for(state="visible")

        await page.evaluate("window.before = 'the update'")
        async with page.expect_navigation():
            await prompt.get_by_role("button", name="Reload to update").click()
        await shows(page, "#version", "2")
        assert await page.evaluate("window.before") is None
        assert await prompt.count() == 0
        names = await page.evaluate("caches.keys()")
        scope = base + "/"
        assert sorted(names) == [f"atoll {scope} api", f"atoll {scope} precache 2"]
        await screenshot(page, "offline-updated")
    assert page.errors == []


class Callers:
    """A page whose callers read ``/api/me`` (``private``: each caller's own) and
    ``/api/secret`` (``no-store``), with a worker keeping ``kept`` answers at most."""

    PAGE = (
        b'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Me</title>'
        b'<script type="module">import { registerWorker } from "/offline.js";'
        b'registerWorker("/sw.js");</script></head><body><h1>Me</h1></body></html>'
    )

    def __init__(self, kept: int = 200) -> None:
        self.assets = OfflineAssets(
            "Me", version="1", precache=["/", "/offline.js"], api=["/api"], kept=kept
        )

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return
        caller = dict(scope["headers"]).get(b"authorization", b"nobody").decode()
        if scope["path"] == "/":
            await answer(send, 200, b"text/html; charset=utf-8", self.PAGE, [])
        elif scope["path"] == "/api/secret":
            body = msgspec.json.encode({"secret of": caller})
            await answer(send, 200, b"application/json", body, [(b"cache-control", b"no-store")])
        elif scope["path"].startswith("/api/"):
            body = msgspec.json.encode({"path": scope["path"], "of": caller})
            await answer(send, 200, b"application/json", body, [(b"cache-control", b"private")])
        else:
            await self.assets(scope, receive, send)


READ = """([path, token]) => fetch(path, { headers: token ? { authorization: token } : {} })
  .then((response) => response.json(), (error) => 'failed')"""

KEPT = """async () => {
  const name = (await caches.keys()).find((each) => each.endsWith(' api'));
  if (name === undefined) {
    return [];
  }
  return (await (await caches.open(name)).keys()).map((key) => {
    const asked = new URL(key.url).searchParams.get('atoll-get');
    return asked === null ? key.url : new URL(asked).pathname;
  });
}"""


async def until_kept(page, paths: list[str]) -> None:
    """Wait until the worker's API cache holds the answers to ``paths``, oldest first."""
    await until(
        page, f"async (paths) => ({KEPT})().then((kept) => kept.join() === paths.join())", paths
    )


async def test_offline_a_caller_is_given_its_own_kept_answers_only(page):
    async with served_here(Callers()) as base:
        await page.goto(base + "/")
        await until_controlled(page)
        assert await page.evaluate(READ, ["/api/secret", "Bearer alice"]) == {
            "secret of": "Bearer alice"
        }
        alice = {"path": "/api/me", "of": "Bearer alice"}
        assert await page.evaluate(READ, ["/api/me", "Bearer alice"]) == alice
        nobody = {"path": "/api/me", "of": "nobody"}
        assert await page.evaluate(READ, ["/api/me", None]) == nobody
        await until_kept(page, ["/api/me", "/api/me"])  # Alice's, and the one without a token

    assert await page.evaluate(READ, ["/api/me", "Bearer alice"]) == alice
    assert await page.evaluate(READ, ["/api/me", None]) == nobody  # kept without a token
    assert await page.evaluate(READ, ["/api/me", "Bearer bob"]) == "failed"  # never Alice's
    assert await page.evaluate(READ, ["/api/secret", "Bearer alice"]) == "failed"  # no-store
    assert page.errors == []


async def test_the_worker_keeps_its_latest_answers_only(page):
    async with served_here(Callers(kept=3)) as base:
        await page.goto(base + "/")
        await until_controlled(page)
        runs = [f"/api/runs/{number}" for number in range(6)]
        for number, path in enumerate(runs[:5]):
            await page.evaluate(READ, [path, "Bearer alice"])
            await until_kept(page, runs[max(0, number - 2) : number + 1])
        # asked again, an answer is the latest: the oldest goes next
        await page.evaluate(READ, [runs[2], "Bearer alice"])
        await until_kept(page, [runs[3], runs[4], runs[2]])
        await page.evaluate(READ, [runs[5], "Bearer alice"])
        await until_kept(page, [runs[4], runs[2], runs[5]])
    assert page.errors == []


# The reference page


def test_the_reference_page_s_examples_run_as_shown():
    page = (Path(__file__).parents[2] / "docs" / "reference" / "frontends.md").read_text()
    section = page[page.index("## Offline: the service worker") :]
    code, shown = re.search(
        r"\$ python -c '\n(.*?)'\n(const ATOLL.*?)\n", section, re.DOTALL
    ).groups()
    printed = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert printed.strip() == shown
    example = re.search(r"```python\n(.*?)```", section, re.DOTALL).group(1)
    exec(example, {})  # noqa: S102 - the page's own example
