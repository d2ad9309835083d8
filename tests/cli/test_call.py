import contextlib
import socket
from typing import Any

import click
import msgspec
import pytest
from click.testing import CliRunner

from atoll.cli import cli
from atoll.cli.call import parse_params
from atoll.endpoints.rpc.jsonrpc import JsonRpc
from atoll.endpoints.rpc.methods import Param, RpcMethod
from tests.rpc_doubles import RpcApp, serving

LIMIT = 10.0  # every wait is bounded, so a bug fails the test instead of hanging it


def make_engine() -> JsonRpc:
    async def add(args: dict[str, Any]) -> int:
        return args["a"] + args["b"]

    async def echo(args: dict[str, Any]) -> Any:
        return args["value"]

    async def touch(_: dict[str, Any]) -> None:
        return None

    methods = [
        RpcMethod("add", (Param("a", int), Param("b", int)), add, int),
        RpcMethod("echo", (Param("value", Any),), echo, Any),
        RpcMethod("touch", (Param("x", int),), touch, None),
    ]
    return JsonRpc(methods, title="calc")


@contextlib.contextmanager
def served_at(app):
    """Serve ``app``; yield its ``host:port``, the short form ``atoll call`` takes."""
    with serving(app) as url:
        yield url.removeprefix("http://").removesuffix("/rpc")


@pytest.fixture(scope="module")
def address():
    with served_at(RpcApp(make_engine())) as served:
        yield served


def atoll(*args: str, stdin: str | None = None):
    return CliRunner().invoke(cli, ["call", *args], input=stdin)


def closed_port() -> int:
    with socket.create_server(("127.0.0.1", 0)) as sock:
        return sock.getsockname()[1]


def test_call_prints_the_result_as_indented_json(address):
    result = atoll(address, "echo", 'value={"name": "ada", "runs": [1, 2]}')
    assert result.exit_code == 0, result.output
    assert result.stdout == '{\n  "name": "ada",\n  "runs": [\n    1,\n    2\n  ]\n}\n'


def test_call_passes_name_value_arguments_by_name(address):
    result = atoll(address, "add", "a=1", "b=2")
    assert (result.exit_code, result.stdout) == (0, "3\n")


def test_call_passes_bare_arguments_by_position(address):
    result = atoll(address, "add", "1", "2")
    assert (result.exit_code, result.stdout) == (0, "3\n")


def test_call_takes_a_full_url(address):
    result = atoll(f"http://{address}/rpc", "add", "1", "2")
    assert result.stdout == "3\n"


def test_call_prints_null_for_a_method_returning_nothing(address):
    assert atoll(address, "touch", "x=1").stdout == "null\n"


@pytest.mark.parametrize(
    ("args", "params"),
    [
        (["n=1"], {"n": 1}),
        (["flag=true"], {"flag": True}),
        (["name=ada"], {"name": "ada"}),
        (["xs=[1,2]"], {"xs": [1, 2]}),
        (["nothing=null"], {"nothing": None}),
        (['text="a=b"'], {"text": "a=b"}),
        (["name=01"], {"name": "01"}),
        (["name="], {"name": ""}),
        (["1", "ada", '{"a": 1}'], [1, "ada", {"a": 1}]),
        (['{"a":"b=c"}', '"x=y"'], [{"a": "b=c"}, "x=y"]),
        ([], None),
    ],
)
def test_parse_params_reads_json_values_and_keeps_other_text(args, params):
    assert parse_params(args) == params


def test_parse_params_refuses_a_name_given_twice():
    with pytest.raises(click.UsageError, match="'n' is given twice"):
        parse_params(["n=1", "n=2"])


def test_mixing_named_and_positional_arguments_is_a_usage_error(address):
    result = atoll(address, "add", "a=1", "2")
    assert result.exit_code == 2
    assert "by name (name=value) or by position (values), not both" in result.stderr


def test_a_remote_error_prints_its_code_message_and_data_and_exits_1(address):
    result = atoll(address, "add", "a=x", "b=1")
    assert result.exit_code == 1
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert lines[0] == "error -32602: Invalid params"
    assert msgspec.json.decode("\n".join(lines[1:])) == {
        "detail": "Expected `int`, got `str`",
        "path": "$.a",
    }


def test_a_remote_error_without_data_prints_one_line():
    answer = b'{"jsonrpc": "2.0", "error": {"code": -32000, "message": "no"}, "id": null}'
    with served_at(RpcApp(answer=answer)) as address:
        result = atoll(address, "add", "1", "2")
    assert (result.exit_code, result.stderr) == (1, "error -32000: no\n")


def test_an_unreachable_service_exits_3_with_the_reason():
    url = f"http://127.0.0.1:{closed_port()}/rpc"
    result = atoll(url, "add", "1", "2")
    assert result.exit_code == 3
    assert result.stderr == (
        f"cannot reach {url}: connection refused; check that the service runs there\n"
    )


def test_list_prints_the_method_names(address):
    result = atoll(address, "--list")
    assert (result.exit_code, result.stdout) == (0, "add\necho\ntouch\n")


def test_raw_sends_the_body_and_prints_the_answer(address):
    body = '{"jsonrpc": "2.0", "method": "add", "params": [1, 2], "id": 7}'
    result = atoll("--raw", address, body)
    assert result.exit_code == 0, result.output
    assert msgspec.json.decode(result.stdout) == {"jsonrpc": "2.0", "result": 3, "id": 7}
    assert result.stdout.startswith('{\n  "jsonrpc": "2.0",')


def test_raw_reads_the_body_from_stdin_for_a_dash(address):
    body = '[{"jsonrpc": "2.0", "method": "add", "params": [1, 2], "id": 1}]'
    result = atoll("--raw", address, "-", stdin=body)
    assert msgspec.json.decode(result.stdout) == [{"jsonrpc": "2.0", "result": 3, "id": 1}]


def test_raw_prints_nothing_for_a_notification(address):
    result = atoll("--raw", address, '{"jsonrpc": "2.0", "method": "touch", "params": [1]}')
    assert (result.exit_code, result.stdout) == (0, "")


def test_a_token_goes_as_a_bearer_from_the_option_or_the_environment():
    app = RpcApp(make_engine())
    with served_at(app) as address:
        given = atoll(address, "add", "a=1", "b=2", "--token", "tok-1")
        from_env = CliRunner().invoke(
            cli, ["call", address, "add", "a=1", "b=2"], env={"ATOLL_TOKEN": "tok-2"}
        )
        without = CliRunner().invoke(cli, ["call", address, "add", "a=1", "b=2"], env={})
    assert (given.exit_code, from_env.exit_code, without.exit_code) == (0, 0, 0)
    assert app.authorizations == [b"Bearer tok-1", b"Bearer tok-2", None]
    assert "tok-1" not in given.output


def test_raw_prints_an_answer_that_is_not_json_as_it_is():
    with served_at(RpcApp(answer=b"plain words")) as address:
        result = atoll("--raw", address, "{}")
    assert result.stdout == "plain words\n"


def test_raw_reports_an_http_error_status_as_a_remote_error():
    with served_at(RpcApp(answer=b"too large", status=413)) as address:
        result = atoll("--raw", address, "{}")
    assert result.exit_code == 1
    assert result.stderr.startswith(f"error -32603: HTTP 413 from http://{address}/rpc\n")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--list", "add"], "--list takes the URL alone"),
        (["--list", "--raw"], "--list takes the URL alone"),
        ([], "give the METHOD to call, or --list"),
        (["--raw"], "give the body to send"),
        (["--raw", "{}", "more"], "--raw sends one body"),
    ],
)
def test_call_refuses_incoherent_options(args, message):
    result = atoll("127.0.0.1:1", *args)
    assert result.exit_code == 2
    assert message in result.stderr


def test_call_refuses_a_url_that_is_not_http():
    result = atoll("ftp://ada:secret@host", "add")
    assert result.exit_code == 2
    assert "is not the URL of a JSON-RPC endpoint" in result.stderr
    assert "secret" not in result.stderr


def test_call_refuses_a_timeout_that_is_not_positive():
    result = atoll("--timeout", "0", "127.0.0.1:1", "add")
    assert result.exit_code == 2
    assert "--timeout" in result.stderr


def test_call_is_listed_by_atoll_help():
    result = CliRunner().invoke(cli, ["--help"])
    assert "call" in result.stdout


def test_call_help_shows_examples():
    result = atoll("--help")
    assert result.exit_code == 0
    assert "atoll call 127.0.0.1:8001 get_profile user_id=1" in result.stdout
