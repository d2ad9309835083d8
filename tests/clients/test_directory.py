from typing import Any

import pytest

from atoll.clients.directory import ClientOptions, Clients
from atoll.clients.transports import LocalTransport
from atoll.endpoints.rpc.jsonrpc import JsonRpc
from atoll.endpoints.rpc.methods import Param, RpcMethod
from atoll.errors import ConfigError
from atoll.kernel.config import ConfigSpec
from tests.rpc_doubles import RpcApp, serving

LIMIT = 10.0  # every wait is bounded, so a bug fails the test instead of hanging it


def make_engine() -> JsonRpc:
    async def add(args: dict[str, Any]) -> int:
        return args["a"] + args["b"]

    return JsonRpc([RpcMethod("add", (Param("a", int), Param("b", int)), add, int)], title="calc")


@pytest.fixture
def engine():
    return make_engine()


@pytest.fixture
def app(engine):
    return RpcApp(engine)


# --- services by name -------------------------------------------------------------------------


async def test_clients_call_a_service_in_the_process_through_its_engine(engine):
    clients = Clients(ClientOptions(urls=["calc=http://127.0.0.1:1/rpc"]), {"calc": engine})
    remote = clients.get("calc")
    assert isinstance(remote.transport, LocalTransport)
    assert await remote.methods.add(1, 2) == 3


async def test_clients_call_other_services_at_their_url(app):
    with serving(app) as url:
        clients = Clients(ClientOptions(urls=[f"calc = {url}"], timeout=LIMIT))
        await clients.start()
        remote = clients.get("calc")
        assert remote.url == url
        assert await remote.methods.add(1, 2) == 3
        await clients.stop()
    assert remote.transport._client is None


async def test_clients_give_one_service_per_name(engine):
    clients = Clients(ClientOptions(urls=["users=http://127.0.0.1:1"]), {"calc": engine})
    assert clients.get("users") is clients.get("users")
    assert clients.get("calc") is clients.get("calc")
    await clients.aclose()
    assert clients.get("users") is not None


def test_clients_name_the_option_to_set_for_an_unknown_service():
    clients = Clients(ClientOptions(urls=["users=http://h:1"]), env_prefix="runs")
    with pytest.raises(ConfigError) as caught:
        clients.get("stats")
    assert str(caught.value) == (
        "no URL for the remote service 'stats' (known: users); set it with --clients-urls "
        "stats=http://HOST:PORT/rpc or the environment variable RUNS_CLIENTS_URLS, or run "
        "both with the same --broker-url or --registry-url"
    )


def test_without_a_prefix_the_variable_is_shown_with_a_placeholder():
    with pytest.raises(ConfigError, match=r"\(known: none\).*<PREFIX>_CLIENTS_URLS"):
        Clients(ClientOptions()).get("stats")


# --- the clients option section ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "why"),
    [
        ({"urls": ["users"]}, "the urls entry 'users' is not NAME=URL"),
        ({"urls": ["=http://h"]}, "is not NAME=URL"),
        ({"urls": ["users="]}, "is not NAME=URL"),
        ({"urls": ["users=http://h", "users=http://h/rpc"]}, "'http://h/rpc' twice for"),
        ({"urls": ["users=http://h", "users=dns://g:80"]}, "a dns:// URL and another"),
        ({"urls": ["users=dns://g"]}, "not a dns:// URL with a host and a port"),
        ({"urls": ["users=h:1"]}, "the urls entry for 'users': 'h:1' is not the URL"),
        ({"timeout": 0}, "timeout must be above 0 seconds"),
    ],
)
def test_client_options_refuse_bad_values(options, why):
    with pytest.raises(ValueError, match=why):
        ClientOptions(**options)


def test_client_options_hide_a_password_in_a_bad_entry():
    with pytest.raises(ValueError, match="users") as caught:
        ClientOptions(urls=["users:ftp://ada:secret@h"])
    assert "secret" not in str(caught.value)


def test_client_options_load_from_flags_and_the_environment():
    spec = ConfigSpec([("clients", ClientOptions)], prog="runs", env_prefix="RUNS")
    config = spec.load(
        ["--clients-timeout", "2.5"],
        {"RUNS_CLIENTS_URLS": "users=http://127.0.0.1:8001,stats=http://127.0.0.1:8002/rpc"},
    )
    options = config.section(ClientOptions)
    assert options.timeout == 2.5
    assert options.targets() == {
        "users": ("http://127.0.0.1:8001/rpc",),
        "stats": ("http://127.0.0.1:8002/rpc",),
    }


def test_a_bad_clients_option_is_a_config_error_naming_the_section():
    spec = ConfigSpec([("clients", ClientOptions)], prog="runs", env_prefix="RUNS")
    with pytest.raises(ConfigError, match=r"\[clients\].*is not NAME=URL"):
        spec.load(["--clients-urls", "users"], {})
