"""The shell composes the components of several services, each served by its own process.

Three servers on three ports: ``greeter`` ships ``<mything-hello>``, ``counter`` ships
``<mything-counter>``, and ``gateway`` serves the shell, finding the two through
``--ui-fragments``. Stop one, and the shell shows its placeholder while the other works.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import logging
import re
import socket

import httpx
import msgspec
import pytest

import atoll
import atoll.testing
from atoll.errors import ConfigError
from atoll.frontends.asgi import answer, static
from atoll.frontends.shell import RemoteFragments, Shell, Slot
from tests.frontends.conftest import screenshot
from tests.rpc_doubles import served_here

pytestmark = pytest.mark.services("node")


def shipping(name: str, *components) -> atoll.Service:
    service = atoll.Service(name)

    @service.rpc
    async def hello(name: str) -> str:
        """Greet someone."""
        return f"Hello {name}!"

    service.components(*components)
    return service


def gateway() -> atoll.Service:
    service = atoll.Service("gateway")
    service.shell(
        "Things",
        [
            Slot("greeter", "mything-hello", {"name": "Ada"}),
            Slot("counter", "mything-counter"),
        ],
    )
    return service


@contextlib.asynccontextmanager
async def serving(service, flags, sock=None):
    async with (
        atoll.testing.run(service, argv=flags) as harness,
        served_here(harness.http.entry, sock) as base,
    ):
        yield base


async def test_the_shell_composes_two_services_and_a_placeholder_for_a_stopped_one(
    mything, tmp_path, page
):
    build = ["--ui-build-dir", str(tmp_path)]
    counter_socket = socket.create_server(("127.0.0.1", 0))
    async with serving(shipping("greeter", mything.Hello), build) as greeter:
        counter = serving(shipping("counter", mything.Counter), build, counter_socket)
        base = await counter.__aenter__()
        fragments = f"greeter={greeter},counter={base}"
        try:
            async with serving(gateway(), ["--ui-fragments", fragments]) as shell:
                await page.goto(shell + "/")
                await page.wait_for_function("() => document.documentElement.dataset.atollLoaded")
                hello = "document.querySelector('mything-hello').shadowRoot.textContent"
                assert await page.evaluate(hello) == "Hello Ada!"
                await page.locator("mything-counter button").click()
                await page.wait_for_function(
                    "() => document.querySelector('mything-counter').shadowRoot.textContent"
                    " === 'Clicked 1 times'"
                )
                await screenshot(page, "shell-two-services")
                await counter.__aexit__(None, None, None)
                counter = None
                await page.reload()
                await page.wait_for_function("() => document.documentElement.dataset.atollLoaded")
                placeholder = page.locator(".atoll-placeholder")
                assert await placeholder.inner_text() == "counter is unavailable right now"
                assert await placeholder.get_attribute("data-atoll-service") == "counter"
                assert await page.locator("mything-counter").count() == 0
                assert await page.evaluate(hello) == "Hello Ada!"
                await screenshot(page, "shell-one-service-stopped")
                assert page.errors == []
                assert page.violations == []
        finally:
            if counter is not None:
                await counter.__aexit__(None, None, None)


async def test_the_shell_in_the_process_of_its_services_paints_them_first(mything, tmp_path):
    system = atoll.System(
        shipping("greeter", mything.Hello),
        shipping("counter", mything.Counter),
        gateway(),
        name="things",
    )
    async with atoll.testing.run(system, argv=["--ui-build-dir", str(tmp_path)]) as harness:
        page = await harness.client.get("/")
        manifest = (await harness.client.get("/ui/counter/fragments.json")).json()
    assert page.status_code == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    text = page.text
    assert '<script type="importmap">{"imports":{"@counter/":"/ui/counter/' in text
    # the first paint, rendered here: the components run in this process
    assert (
        '<mything-hello data-atoll-service="greeter" name="Ada"><template shadowrootmode="open">'
        in text
    )
    assert "<p>Hello Ada!</p>" in text
    # in a system, the methods are named <service>.<method> at the one endpoint
    assert manifest["rpc"] == {"url": "/rpc", "prefix": "counter."}


async def test_the_shell_of_another_process_asks_each_service_for_its_first_paints(
    mything, tmp_path
):
    """The page shows the services' parts before any script runs, as in their process."""
    build = ["--ui-build-dir", str(tmp_path)]
    async with (
        serving(shipping("greeter", mything.Hello), build) as greeter,
        serving(shipping("counter", mything.Counter), build) as counter,
    ):
        flags = ["--ui-fragments", f"greeter={greeter},counter={counter}"]
        async with atoll.testing.run(gateway(), argv=flags) as harness:
            page = await harness.client.get("/")
    assert page.status_code == 200
    assert (
        '<mything-hello data-atoll-service="greeter" name="Ada"><template shadowrootmode="open">'
        in page.text
    )
    assert "<p>Hello Ada!</p>" in page.text
    assert "<button>Clicked 0 times</button>" in page.text


async def test_a_service_paints_the_elements_it_ships_and_refuses_what_is_no_request(
    mything, tmp_path
):
    build = ["--ui-build-dir", str(tmp_path)]
    async with atoll.testing.run(shipping("greeter", mything.Hello), argv=build) as harness:
        asked = {
            "slots": [
                {"tag": "mything-hello", "attributes": {"name": "Bo", "data_atoll_service": "x"}},
                {"tag": "mything-nothing"},
            ]
        }
        painted = await harness.client.post("/ui/greeter/paint", json=asked)
        manifest = (await harness.client.get("/ui/greeter/fragments.json")).json()
        bad = await harness.client.post("/ui/greeter/paint", content=b"[1, 2]")
        huge = await harness.client.post("/ui/greeter/paint", content=b" " * 70_000)
    assert painted.status_code == 200
    first, second = painted.json()["paints"]
    assert first.startswith('<mything-hello data-atoll-service="x" name="Bo"><template')
    assert "<p>Hello Bo!</p>" in first
    assert second is None
    assert manifest["paint"] == "/ui/greeter/paint"
    assert bad.status_code == 400
    assert "not a request for paints" in bad.text
    assert huge.status_code == 413


@pytest.mark.parametrize(
    "answered",
    [
        (b'{"paints": ["<script>alert(1)</script>"]}', 200, False),
        (b"oops", 500, True),
        (b'{"paints": []}', 200, True),
    ],
    ids=["no element of its tag", "an error", "too few"],
)
async def test_a_service_that_cannot_paint_leaves_its_elements_to_the_browser(
    mything, tmp_path, caplog, answered
):
    """Its answer to the request for paints is no use: the page shows the bare element."""
    paints, status, warned = answered
    build = ["--ui-build-dir", str(tmp_path)]
    async with atoll.testing.run(shipping("greeter", mything.Hello), argv=build) as service:
        manifest = (await service.client.get("/ui/greeter/fragments.json")).content

    async def liar(scope, receive, send):
        listed = scope["path"].endswith("fragments.json")
        headers = [(b"content-type", b"application/json")]
        start = {"type": "http.response.start", "status": 200 if listed else status}
        await send({**start, "headers": headers})
        await send({"type": "http.response.body", "body": manifest if listed else paints})

    async with served_here(liar) as greeter, served_here(liar) as counter:
        flags = ["--ui-fragments", f"greeter={greeter},counter={counter}"]
        async with atoll.testing.run(gateway(), argv=flags) as harness:
            page = await harness.client.get("/")
    assert page.status_code == 200
    assert '<mything-hello data-atoll-service="greeter" name="Ada"></mything-hello>' in page.text
    assert "alert(1)" not in page.text
    assert ("without their first paint" in caplog.text) is warned


async def test_a_slot_of_a_service_nowhere_to_be_found_is_refused_at_start():
    with pytest.raises(ConfigError, match="--ui-fragments greeter=http://HOST:PORT"):
        async with atoll.testing.run(gateway()):
            pass


async def test_a_bad_fragments_address_is_refused():
    with pytest.raises(ConfigError, match="takes SERVICE=URL pairs"):
        async with atoll.testing.run(gateway(), argv=["--ui-fragments", "greeter"]):
            pass


async def test_a_manifest_answered_with_an_error_shows_the_placeholder(tmp_path):
    async def broken(scope, receive, send):
        await send({"type": "http.response.start", "status": 500, "headers": []})
        await send({"type": "http.response.body", "body": b"down"})

    async with served_here(broken) as greeter, served_here(broken) as counter:
        flags = ["--ui-fragments", f"greeter={greeter},counter={counter}"]
        async with atoll.testing.run(gateway(), argv=flags) as harness:
            page = await harness.client.get("/")
    assert page.text.count('class="atoll-placeholder"') == 2
    assert "greeter is unavailable right now" in page.text
    assert '"atoll-fragments">{}</script>' in page.text  # the loader has nothing to load


async def test_the_shell_finds_the_services_in_the_registry(mything, tmp_path):
    registry = f"memory://shell-{tmp_path.name}"

    def flags(sock):
        port = sock.getsockname()[1]
        return [
            "--ui-build-dir", str(tmp_path), "--registry-url", registry,
            "--registry-advertise", f"http://127.0.0.1:{port}",
        ]  # fmt: skip

    greeter_socket = socket.create_server(("127.0.0.1", 0))
    counter_socket = socket.create_server(("127.0.0.1", 0))
    async with serving(shipping("greeter", mything.Hello), flags(greeter_socket), greeter_socket):
        counter = serving(
            shipping("counter", mything.Counter), flags(counter_socket), counter_socket
        )
        counter_base = await counter.__aenter__()
        try:
            flags_of_gateway = ["--registry-url", registry]
            async with atoll.testing.run(gateway(), argv=flags_of_gateway) as harness:
                both = (await harness.client.get("/")).text
                await counter.__aexit__(None, None, None)
                counter = None
                one = (await harness.client.get("/")).text
        finally:
            if counter is not None:
                await counter.__aexit__(None, None, None)
    assert f'"@counter/":"{counter_base}/ui/counter/' in both
    assert '<mything-counter data-atoll-service="counter"><template shadowrootmode' in both
    assert 'class="atoll-placeholder"' not in both
    # stopped, the service left the registry: its slot is a placeholder, the other stays
    assert "counter is unavailable right now" in one
    assert "<p>Hello Ada!</p>" in one


def manifest(service: str, module: str, **fields) -> dict:
    """A manifest as a build writes it, of one component ``<SERVICE-x>``."""
    return {
        "service": service,
        "version": "v1",
        "module": module,
        "files": [],
        "rpc": {"url": "/rpc", "prefix": ""},
        "reads": [],
        "components": [{"name": "X", "tag": f"{service}-x", "observed": []}],
        **fields,
    }


class Fixed:
    """A source giving the manifest it was made with, painting nothing."""

    def __init__(self, found) -> None:
        self.found = found

    async def manifest(self):
        return self.found

    async def paint(self, slots, manifest):
        del manifest
        return [None] * len(slots)


def remote_shell(answers, client):
    """A shell of ``a-x`` and ``b-x``, each service's manifest read over ``client``."""
    sources = {name: RemoteFragments(name, f"http://{name}", client) for name in ("a", "b")}
    sources.update(answers.get("sources", {}))
    return Shell("T", [Slot("a", "a-x"), Slot("b", "b-x")], sources)


GOOD = manifest("a", "/ui/a/v1/components.js")


@pytest.mark.parametrize(
    ("answered", "said"),
    [
        ({}, "Object missing required field `version`"),
        (["not", "a", "manifest"], "Expected `object`, got `array`"),
        ({"status": "ok"}, "Object missing required field `version`"),
        (manifest("b", "https://elsewhere.example/x.js"), "is not a path of the service"),
    ],
)
async def test_a_manifest_that_is_not_one_is_its_service_s_placeholder_alone(
    answered, said, caplog
):
    def handler(request):
        return httpx.Response(200, json=GOOD if request.url.host == "a" else answered)

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
        with caplog.at_level(logging.WARNING, logger="atoll.frontends"):
            page = await remote_shell({}, client).page()
    assert '<a-x data-atoll-service="a"></a-x>' in page
    assert "b is unavailable right now" in page
    assert '"atoll-fragments">{"a":' in page
    (warning,) = [record.getMessage() for record in caplog.records]
    assert warning.startswith("the shell shows b as unavailable: http://b/ui/b/fragments.json")
    assert said in warning


async def test_a_registry_that_fails_is_its_service_s_placeholder_alone(caplog):
    async def registry_down():
        raise ConnectionError("registry down")

    def handler(request):
        return httpx.Response(200, json=GOOD)

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
        sources = {"b": RemoteFragments("b", registry_down, client)}
        with caplog.at_level(logging.WARNING, logger="atoll.frontends"):
            page = await remote_shell({"sources": sources}, client).page()
    assert '<a-x data-atoll-service="a"></a-x>' in page
    assert "b is unavailable right now" in page
    (warning,) = [record.getMessage() for record in caplog.records]
    assert "shows b as unavailable" in warning
    assert "ConnectionError: registry down" in warning


async def test_a_source_that_fails_or_gives_no_manifest_is_its_service_s_placeholder(caplog):
    class Failing(Fixed):
        async def manifest(self):
            raise RuntimeError("the build vanished")

    shell = Shell(
        "T",
        [Slot("a", "a-x"), Slot("b", "b-x"), Slot("c", "c-x")],
        {"a": Fixed(GOOD), "b": Failing(None), "c": Fixed({"module": 7})},
    )
    with caplog.at_level(logging.WARNING, logger="atoll.frontends"):
        page = await shell.page()
    assert '<a-x data-atoll-service="a"></a-x>' in page
    assert "b is unavailable right now" in page
    assert "c is unavailable right now" in page
    said = " ".join(record.getMessage() for record in caplog.records)
    assert "shows b as unavailable: its manifest could not be read: RuntimeError" in said
    assert "shows c as unavailable: its manifest could not be read: ValidationError" in said
    assert "without their first paint" not in said  # a painted nothing, and failed at nothing


def inline_hashes(page: str) -> list[str]:
    scripts = re.findall(r"<script(?![^>]*\bsrc=)[^>]*>(.*?)</script>", page, re.DOTALL)
    return [
        "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"
        for text in scripts
    ]


def directives(policy: str) -> dict[str, list[str]]:
    return {
        name: sources
        for name, *sources in (each.split() for each in policy.split(";") if each.strip())
    }


async def test_the_shell_page_allows_its_own_scripts_and_its_services_origins_alone():
    shell = Shell(
        "T",
        [Slot("a", "a-x"), Slot("b", "b-x"), Slot("c", "c-x")],
        {
            "a": Fixed(manifest("a", "http://10.0.0.7:8002/ui/a/v1/components.js")),
            "b": Fixed(
                manifest(
                    "b",
                    "/ui/b/v1/components.js",
                    rpc={"url": "https://api.example:8443/rpc", "prefix": ""},
                )
            ),
            # an endpoint's address writing a directive of its own into the policy: left out
            "c": Fixed(
                manifest(
                    "c",
                    "/ui/c/v1/components.js",
                    rpc={"url": "http://x; script-src 'unsafe-inline' /rpc", "prefix": ""},
                )
            ),
        },
        head='<script type="module">\nconsole.log("registered");\n</script>\n',
    )
    async with httpx.AsyncClient(transport=httpx.ASGITransport(shell)) as client:
        answered = await client.get("http://shell/")
    policy = directives(answered.headers["content-security-policy"])
    hashes = inline_hashes(answered.text)
    assert len(hashes) == 4  # the import map, the fragments, the loader, the head's
    assert policy["script-src"] == ["'self'", *hashes, "http://10.0.0.7:8002"]
    assert policy["connect-src"] == [
        "'self'",
        "http://10.0.0.7:8002",
        "ws://10.0.0.7:8002",  # where its components subscribe
        "https://api.example:8443",
        "wss://api.example:8443",
    ]
    assert policy["style-src"] == ["'self'", "'unsafe-inline'"]
    assert policy["worker-src"] == ["'self'"]
    assert policy["object-src"] == ["'none'"]
    assert policy["base-uri"] == ["'none'"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert "unsafe-inline" not in answered.headers["content-security-policy"].split("style-src")[0]
    assert answered.headers["x-frame-options"] == "DENY"


def test_a_manifest_s_text_cannot_end_the_shell_s_scripts():
    evil = "</script><!--<script>&amp;"
    shell = Shell("T", [Slot("a", "a-x")], {"a": Fixed(None)})
    page = shell.render({"a": manifest("a", "/ui/a/v1/components.js", version=evil)})
    head = page[: page.index("</head>")].replace(static("atoll-shell.js").decode(), "")
    # the import map, the fragments and the loader: no text of the manifest opens or ends one
    assert head.count("<script") == head.count("</script>") == 3
    fragments = re.search(r'id="atoll-fragments">(.*?)</script>', page).group(1)
    assert not set("<>&") & set(fragments)
    assert msgspec.json.decode(fragments)["a"]["version"] == evil


async def test_a_manifest_s_text_leaves_the_shell_s_loader_running(page):
    evil = manifest("a", "/ui/a/v1/components.js", version="<!--<script>")
    shell = Shell("T", [Slot("a", "a-x")], {"a": Fixed(evil)})
    async with served_here(composed(shell, {"/ui/a/v1/components.js": defines("a-x")})) as base:
        await page.goto(base + "/")
        await page.wait_for_function("() => document.documentElement.dataset.atollLoaded")
        assert await page.locator("a-x").inner_text() == "a-x works"
    assert page.errors == []
    assert page.violations == []


def defines(tag: str) -> bytes:
    return (
        f"customElements.define('{tag}', class extends HTMLElement {{"
        f" connectedCallback() {{ this.textContent = '{tag} works'; }} }});"
    ).encode()


def composed(shell, modules):
    """The shell at ``/`` and ``modules`` (JavaScript by path); 404 for anything else."""

    async def app(scope, receive, send):
        if scope["type"] != "http":
            return
        if scope["path"] == "/":
            await shell(scope, receive, send)
        elif scope["path"] in modules:
            await answer(send, 200, b"text/javascript", modules[scope["path"]])
        else:
            await answer(send, 404, b"text/plain", b"gone")

    return app


async def test_a_service_whose_module_fails_to_load_is_a_placeholder_the_others_work(page):
    shell = Shell(
        "T",
        [Slot("good", "good-x"), Slot("bad", "bad-x"), Slot("good", "good-x")],
        {
            "good": Fixed(manifest("good", "/ui/good/v1/components.js")),
            "bad": Fixed(manifest("bad", "/ui/bad/v1/components.js")),  # not served: a 404
        },
    )
    app = composed(shell, {"/ui/good/v1/components.js": defines("good-x")})
    async with served_here(app) as base:
        await page.goto(base + "/")
        await page.wait_for_function("() => document.documentElement.dataset.atollLoaded")
        placeholder = page.locator(".atoll-placeholder")
        assert await placeholder.count() == 1
        assert await placeholder.inner_text() == "bad is unavailable right now"
        assert await placeholder.get_attribute("data-atoll-service") == "bad"
        assert await placeholder.get_attribute("role") == "status"
        assert await page.locator("bad-x").count() == 0
        assert await page.locator("good-x").all_inner_texts() == ["good-x works"] * 2
    assert page.errors == []
    assert page.violations == []
