"""Handlers: what a declared function answers; which parameters the caller or container gives."""

import datetime as dt
import decimal
import enum
import uuid
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import pytest

import atoll.testing
from atoll import Service
from atoll.errors import MissingProviderError, ProviderError
from atoll.kernel.providers import Dependency, Named
from atoll.messaging.handlers import (
    Handler,
    HandlerKind,
    Input,
    Signature,
    function_name,
    is_data_hint,
)


@dataclass(frozen=True)
class RecordRun:
    user_id: int
    meters: float


@dataclass(frozen=True)
class RunRecorded:
    user_id: int


class Repo:
    pass


class Clock:
    pass


SPARE = Repo()


class Color(enum.Enum):
    RED = "red"


def rpc(function, name=None):
    return Handler(function, HandlerKind.RPC, name or function.__name__, "runs")


def command(function, message=RecordRun):
    return Handler(function, HandlerKind.COMMAND, "record_run", "runs", message)


def test_only_commands_events_and_queries_take_a_message():
    assert [kind for kind in HandlerKind if kind.takes_message] == [
        HandlerKind.COMMAND,
        HandlerKind.EVENT,
        HandlerKind.QUERY,
    ]


def test_a_parameter_is_a_dependency_when_the_container_provides_its_type():
    async def weekly(user_id: int, repo: Repo, clock: Clock | None = None) -> float:
        return 0.0

    signature = rpc(weekly).signature({Repo})

    assert signature == Signature(
        inputs=(Input("user_id", int), Input("clock", Clock | None, None)),
        dependencies=(Dependency("repo", Repo, positional=False, has_default=False),),
    )


def test_scalars_are_inputs_even_when_the_container_provides_their_type():
    async def page(limit: int, name: str, repo: Repo) -> None:
        pass

    signature = rpc(page).signature({int, str, Repo})

    assert [item.name for item in signature.inputs] == ["limit", "name"]
    assert [item.parameter for item in signature.dependencies] == ["repo"]


@pytest.mark.parametrize(
    "hint",
    [
        int,
        float,
        str,
        bool,
        bytes,
        bytearray,
        type(None),
        Any,
        list,
        dict[str, int],
        tuple[int, ...],
        set[str],
        frozenset[int],
        Literal["a", "b"],
        int | None,
        Annotated[int, "meters"],
        Color,
        dt.datetime,
        dt.date,
        dt.time,
        dt.timedelta,
        decimal.Decimal,
        uuid.UUID,
    ],
)
def test_scalars_collections_times_enums_and_their_unions_are_data(hint):
    assert is_data_hint(hint)


@pytest.mark.parametrize("hint", [Repo, Repo | None, Annotated[Repo, Named("primary")]])
def test_classes_of_the_application_are_not_data(hint):
    assert not is_data_hint(hint)


def test_an_unhashable_hint_is_an_input_since_no_provider_can_have_it_as_key():
    hint: Any = [int]

    def odd(items: hint) -> None:
        pass

    signature = rpc(odd).signature({Repo})

    assert signature.inputs == (Input("items", hint),)


def test_a_named_dependency_asks_for_its_provider_by_name():
    async def weekly(repo: Annotated[Repo, Named("primary")]) -> None:
        pass

    signature = rpc(weekly).signature({(Repo, "primary")})

    assert signature.dependencies == (
        Dependency("repo", (Repo, "primary"), positional=False, has_default=False),
    )


def test_keyword_only_and_optional_inputs_say_so():
    async def search(query: str, *, limit: int = 10) -> None:
        pass

    required, optional = rpc(search).signature(()).inputs

    assert (required.required, required.keyword_only) == (True, False)
    assert (optional.required, optional.keyword_only, optional.default) == (False, True, 10)


def test_a_parameter_without_a_hint_is_refused_naming_it_and_the_handler():
    async def weekly(user_id) -> None:
        pass

    with pytest.raises(
        ProviderError, match=r"parameter 'user_id' of rpc handler 'weekly'.*annotate"
    ):
        rpc(weekly)


def test_star_args_are_refused_saying_why_and_what_to_take_instead():
    async def weekly(*user_ids: int) -> None:
        pass

    with pytest.raises(ProviderError) as refused:
        rpc(weekly)
    told = str(refused.value)
    assert "takes *user_ids; a handler's parameters are named" in told
    assert "OpenAPI and OpenRPC can describe it" in told
    assert "take a list, `user_ids: list[int]`" in told
    assert 'by position as [[1, 2, 3]] or by name as {"user_ids": [1, 2, 3]}' in told


async def test_the_list_it_suggests_is_passed_by_position_over_json_rpc():
    service = Service("sums")

    @service.rpc
    async def total(numbers: list[int]) -> int:
        return sum(numbers)

    async with atoll.testing.run(service) as harness:
        answer = await harness.client.post(
            "/rpc", json={"jsonrpc": "2.0", "method": "total", "params": [[1, 2, 3]], "id": 1}
        )
    assert answer.json() == {"jsonrpc": "2.0", "result": 6, "id": 1}


def test_star_star_kwargs_are_refused():
    async def weekly(**options: int) -> None:
        pass

    with pytest.raises(ProviderError, match=r"takes \*\*options; .* name each one"):
        rpc(weekly)


def test_positional_only_parameters_are_refused():
    async def weekly(user_id: int, /) -> None:
        pass

    with pytest.raises(ProviderError, match=r"parameter 'user_id' .* is positional-only.*drop"):
        rpc(weekly)


def test_something_not_callable_is_refused():
    with pytest.raises(
        ProviderError, match=r"rpc handler 'x' of service 'runs' .* is not callable"
    ):
        Handler(42, HandlerKind.RPC, "x", "runs")


def test_a_message_handler_without_parameters_is_refused():
    async def record_run() -> None:
        pass

    with pytest.raises(ProviderError, match="takes no parameter; its first parameter receives"):
        command(record_run)


def test_a_message_handler_whose_first_hint_is_not_its_message_is_refused():
    async def record_run(cmd: RunRecorded) -> None:
        pass

    with pytest.raises(
        ProviderError,
        match=r"annotated RunRecorded, but it handles RecordRun; annotate it `cmd: RecordRun`",
    ):
        command(record_run)


def test_a_handler_declared_without_a_message_type_takes_any_first_parameter():
    async def audit(anything: RunRecorded) -> None:
        pass

    handler = Handler(audit, HandlerKind.EVENT, "audit", "runs")

    assert handler.message is None


def test_a_message_handlers_unprovided_parameter_is_refused_at_signature_time():
    async def record_run(cmd: RecordRun, repo: Repo) -> None:
        pass

    handler = command(record_run)  # declaring it is fine: the container is not known yet

    with pytest.raises(
        MissingProviderError,
        match=r"no provider for .*Repo, needed by parameter 'repo' of command handler "
        r"'record_run' of service 'runs'",
    ):
        handler.signature(set())


def test_a_message_handlers_unprovided_parameter_with_a_default_keeps_its_default():
    async def record_run(cmd: RecordRun, clock: Clock | None = None, repo: Repo = SPARE) -> None:
        pass

    signature = command(record_run).signature({Repo})

    assert signature.inputs == (Input("cmd", RecordRun),)
    assert signature.dependencies == (Dependency("repo", Repo, positional=False, has_default=True),)


def test_a_message_handlers_first_parameter_is_its_message_even_if_provided():
    async def record_run(cmd: RecordRun) -> None:
        pass

    signature = command(record_run).signature({RecordRun})

    assert signature == Signature(inputs=(Input("cmd", RecordRun),), dependencies=())


def test_summary_and_description_come_from_the_docstring():
    async def weekly(user_id: int) -> float:
        """The meters a user ran
        in the last seven days.

        Counts every run.

        Even the slow ones.
        """
        return 0.0

    handler = rpc(weekly)

    assert handler.summary == "The meters a user ran in the last seven days."
    assert handler.description == "Counts every run.\n\nEven the slow ones."


def test_a_handler_without_a_docstring_has_empty_summary_and_description():
    async def weekly(user_id: int) -> float:
        return 0.0

    handler = rpc(weekly)

    assert (handler.summary, handler.description) == ("", "")


def test_a_hint_naming_something_undefined_is_refused_naming_it():
    async def weekly(repo: "Missing") -> None:  # noqa: F821 - undefined on purpose
        pass

    with pytest.raises(ProviderError, match=r"name 'Missing', which is not defined.*module level"):
        rpc(weekly)


def test_a_handler_knows_whether_it_is_async_and_what_it_returns():
    async def weekly(user_id: int) -> float:
        return 0.0

    def blocking(user_id: int):
        return 0.0

    assert (rpc(weekly).is_async, rpc(weekly).returns) == (True, float)
    assert (rpc(blocking).is_async, rpc(blocking).returns) == (False, Any)


def test_the_label_names_the_kind_the_name_the_service_and_the_function():
    async def weekly(user_id: int) -> float:
        return 0.0

    label = rpc(weekly, "weekly_meters").label

    assert label == (f"rpc handler 'weekly_meters' of service 'runs' ({weekly.__qualname__})")


def test_a_function_is_shown_by_its_qualified_name_and_an_instance_by_its_class():
    class RunsApp:
        async def __call__(self, scope: object, receive: object, send: object) -> None:
            pass

        def record(self) -> None:
            pass

    assert function_name(RunsApp.record) == f"{RunsApp.__qualname__}.record"
    assert function_name(RunsApp()) == RunsApp.__qualname__
