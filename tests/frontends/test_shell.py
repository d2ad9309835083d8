"""The shell composes the components of several services, each served by its own process.

Three servers on three ports: ``greeter`` ships ``<mything-hello>``, ``counter`` ships
``<mything-counter>``, and ``gateway`` serves the shell, finding the two through
``--ui-fragments``. Stop one, and the shell shows its placeholder while the other works.
"""

from __future__ import annotations

import contextlib
import socket

import pytest

import atoll
import atoll.testing
from atoll.errors import ConfigError
from atoll.frontends.shell import Slot
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
                await page.wait_for_function("document.documentElement.dataset.atollLoaded")
                hello = "document.querySelector('mything-hello').shadowRoot.textContent"
                assert await page.evaluate(hello) == "Hello Ada!"
                await page.locator("mything-counter button").click()
                await page.wait_for_function(
                    "document.querySelector('mything-counter').shadowRoot.textContent"
                    " === 'Clicked 1 times'"
                )
                await screenshot(page, "shell-two-services")
                await counter.__aexit__(None, None, None)
                counter = None
                await page.reload()
                await page.wait_for_function("document.documentElement.dataset.atollLoaded")
                placeholder = page.locator(".atoll-placeholder")
                assert await placeholder.inner_text() == "counter is unavailable right now"
                assert await placeholder.get_attribute("data-atoll-service") == "counter"
                assert await page.locator("mything-counter").count() == 0
                assert await page.evaluate(hello) == "Hello Ada!"
                await screenshot(page, "shell-one-service-stopped")
                assert page.errors == []
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
    assert '<mything-counter data-atoll-service="counter"></mything-counter>' in both
    assert 'class="atoll-placeholder"' not in both
    # stopped, the service left the registry: its slot is a placeholder, the other stays
    assert "counter is unavailable right now" in one
    assert '<mything-hello data-atoll-service="greeter" name="Ada"></mything-hello>' in one
