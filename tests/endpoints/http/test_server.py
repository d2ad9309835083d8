"""The HTTP server component: its options, binding the address, serving, stopping gracefully."""

from __future__ import annotations

import asyncio
import logging
import socket
import types

import httpx
import pytest

import atoll
from atoll.endpoints.http.server import HttpServer, ServerOptions
from atoll.errors import ConfigError, LifecycleError
from atoll.kernel.entrypoint import load_config, running
from atoll.service.composition import compose


class Hello:
    """An ASGI app answering every request with its path, optionally after a pause."""

    def __init__(self, pause: float = 0.0) -> None:
        self.pause = pause
        self.started = asyncio.Event()

    async def __call__(self, scope, receive, send):
        assert scope["type"] == "http"
        self.started.set()
        await asyncio.sleep(self.pause)
        body = scope["path"].encode()
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", b"text/plain"),
                    (b"content-length", b"%d" % len(body)),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


def listening_socket():
    return socket.create_server(("127.0.0.1", 0))


def port_is_free(port):
    try:
        socket.create_server(("127.0.0.1", port)).close()
    except OSError:
        return False
    return True


# -- options ---------------------------------------------------------------------------------


def test_the_default_options_serve_on_localhost_8000_with_uvicorn():
    options = ServerOptions()
    assert (options.host, options.port, options.impl) == ("127.0.0.1", 8000, "uvicorn")
    assert (options.max_body, options.rpc_path, options.max_batch) == (1024 * 1024, "/rpc", 100)
    assert options.docs is True


@pytest.mark.parametrize("port", [-1, 65536])
def test_a_port_outside_the_tcp_range_is_refused(port):
    with pytest.raises(ValueError, match=rf"port must be 0..65535, such as 8000; got {port}"):
        ServerOptions(port=port)


@pytest.mark.parametrize("port", [0, 65535])
def test_the_ends_of_the_tcp_range_are_accepted(port):
    assert ServerOptions(port=port).port == port


def test_a_body_limit_below_one_byte_is_refused():
    with pytest.raises(
        ValueError, match="max_body must be at least 1 byte, such as 1048576; got 0"
    ):
        ServerOptions(max_body=0)


def test_a_batch_limit_below_one_is_refused():
    with pytest.raises(ValueError, match="max_batch must be at least 1, such as 100; got 0"):
        ServerOptions(max_batch=0)


@pytest.mark.parametrize("path", ["rpc", "/rpc/", "/"])
def test_an_rpc_path_not_starting_or_ending_with_a_slash_is_refused(path):
    with pytest.raises(ValueError, match="rpc_path must start with '/' and not end with one"):
        ServerOptions(rpc_path=path)


def test_an_invalid_option_from_the_command_line_is_a_config_error_naming_the_section():
    app = compose("runs", [atoll.Service("runs")], serve=False)
    with pytest.raises(ConfigError, match=r"section \[server\] is invalid: port must be 0..65535"):
        load_config(app, ["--server-port", "70000"], {})


# -- the URL -----------------------------------------------------------------------------------


def test_the_url_shows_every_interface_as_localhost():
    assert HttpServer(Hello(), ServerOptions(host="0.0.0.0", port=8123)).url == (  # noqa: S104
        "http://127.0.0.1:8123"
    )


def test_the_url_of_an_ipv6_host_is_bracketed():
    assert HttpServer(Hello(), ServerOptions(host="::1", port=8123)).url == "http://[::1]:8123"


# -- serving -----------------------------------------------------------------------------------


async def test_the_server_serves_over_tcp_on_the_free_port_it_got(caplog):
    server = HttpServer(Hello(), ServerOptions(port=0))
    with caplog.at_level(logging.INFO, logger="atoll.server"):
        await server.start()
    try:
        assert server.port
        assert server.url == f"http://127.0.0.1:{server.port}"
        async with httpx.AsyncClient() as client:
            response = await client.get(f"{server.url}/hello")
        assert response.status_code == 200
        assert response.text == "/hello"
    finally:
        await server.stop()
    [message] = [r.getMessage() for r in caplog.records if r.name == "atoll.server"]
    assert message == (
        f"serving on {server.url}: API page at {server.url}/docs, JSON-RPC at {server.url}/rpc"
    )


async def test_without_docs_the_log_names_the_json_rpc_endpoint_only(caplog):
    server = HttpServer(Hello(), ServerOptions(port=0, docs=False, rpc_path="/jsonrpc"))
    with caplog.at_level(logging.INFO, logger="atoll.server"):
        await server.start()
    await server.stop()
    [message] = [r.getMessage() for r in caplog.records if r.name == "atoll.server"]
    assert message == f"serving on {server.url}: JSON-RPC at {server.url}/jsonrpc"


async def test_the_server_serves_on_ipv6():
    server = HttpServer(Hello(), ServerOptions(host="::1", port=0))
    await server.start()
    try:
        async with httpx.AsyncClient() as client:
            response = await client.get(f"{server.url}/six")
        assert response.text == "/six"
    finally:
        await server.stop()


async def test_a_port_in_use_is_a_lifecycle_error_naming_the_address_and_the_flag():
    with listening_socket() as taken:
        port = taken.getsockname()[1]
        server = HttpServer(Hello(), ServerOptions(port=port))
        with pytest.raises(
            LifecycleError, match=rf"127\.0\.0\.1:{port}: the address is in use"
        ) as info:
            await server.start()
    assert "--server-port" in str(info.value)
    assert isinstance(info.value.__cause__, OSError)


async def test_an_address_not_available_is_a_lifecycle_error_naming_the_host_flag():
    server = HttpServer(Hello(), ServerOptions(host="192.0.2.1", port=0))
    with pytest.raises(LifecycleError, match=r"cannot listen on 192\.0\.2\.1:0: .*--server-host"):
        await server.start()


async def test_a_server_that_fails_to_start_releases_the_address(monkeypatch):
    async def serve(app, sock):
        raise LifecycleError("the server would not start")

    broken = types.ModuleType("atoll.adapters.broken")
    broken.serve = serve
    monkeypatch.setitem(__import__("sys").modules, "atoll.adapters.broken", broken)
    server = HttpServer(Hello(), ServerOptions(port=0, impl="broken"))
    with pytest.raises(LifecycleError, match="would not start"):
        await server.start()
    assert port_is_free(server.port)


async def test_stop_lets_a_request_in_flight_finish():
    app = Hello(pause=0.3)
    server = HttpServer(app, ServerOptions(port=0))
    await server.start()
    async with httpx.AsyncClient() as client:
        request = asyncio.create_task(client.get(f"{server.url}/slow"))
        await app.started.wait()
        await server.stop()
        response = await request
        assert response.status_code == 200
        assert response.text == "/slow"
        with pytest.raises(httpx.ConnectError):
            await client.get(f"{server.url}/after")


async def test_stop_before_start_or_twice_does_nothing():
    server = HttpServer(Hello(), ServerOptions(port=0))
    await server.stop()
    await server.start()
    await server.stop()
    await server.stop()
    assert port_is_free(server.port)


async def test_a_composed_service_serves_its_routes_on_the_configured_port():
    service = atoll.Service("runs")

    @service.get("/runs/{run_id}")
    async def get_run(run_id: int) -> dict[str, int]:
        return {"run_id": run_id}

    app = compose("runs", [service], serve=True)
    config = load_config(app, ["--server-port", "0"], {})
    async with running(app, config) as container:
        server = await container.aget(HttpServer)
        async with httpx.AsyncClient(base_url=server.url) as client:
            response = await client.get("/runs/3")
            rpc = await client.post(
                "/rpc", json={"jsonrpc": "2.0", "method": "rpc.discover", "id": 1}
            )
    assert response.json() == {"run_id": 3}
    assert rpc.json()["result"]["info"]["title"] == "runs"
    assert port_is_free(server.port)
