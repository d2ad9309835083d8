"""The message bus: commands to one handler, events to all theirs, and every call's scope."""

import contextlib
import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

import atoll
from atoll.errors import ConfigError, MissingProviderError, NoHandlerError, ScopeError
from atoll.kernel.providers import Scope
from atoll.kernel.registry import Registry
from atoll.messaging.bus import Call, Events, MessageBus
from atoll.messaging.handlers import Handler, HandlerKind


@dataclass(frozen=True)
class RecordRun:
    user_id: int
    meters: float = 1000.0


@dataclass(frozen=True)
class WeeklyDistance:
    user_id: int


@dataclass(frozen=True)
class RunRecorded:
    user_id: int


@dataclass(frozen=True)
class RecordSpotted:
    user_id: int


@dataclass(frozen=True)
class BadgeAwarded:
    user_id: int


@dataclass(frozen=True)
class AwardBadge:
    user_id: int


@dataclass(frozen=True)
class Unhandled:
    pass


class Repo:
    def __init__(self) -> None:
        self.runs: list[RecordRun] = []


class Session:
    """Request-scoped: one per handler call, closed after it."""


class Request:
    """Stands for what a transport seeds into a call's scope."""


async def record_run(cmd: RecordRun) -> None:
    """A command handler with nothing to do."""


async def weekly(user_id: int) -> float:
    """An RPC handler with nothing to do."""
    return 0.0


def noting(log, message, entry, name="tally"):
    """A handler of the event ``message`` appending ``entry`` (or what it makes of the event)."""

    async def note(evt: message) -> None:
        log.append(entry(evt) if callable(entry) else entry)

    return Handler(note, HandlerKind.EVENT, name, "runs", message)


def command(function, message=RecordRun):
    return Handler(function, HandlerKind.COMMAND, function.__name__, "runs", message)


def query(function, message=WeeklyDistance):
    return Handler(function, HandlerKind.QUERY, function.__name__, "runs", message)


def on(message, function):
    return Handler(function, HandlerKind.EVENT, function.__name__, "runs", message)


def rpc(function):
    return Handler(function, HandlerKind.RPC, function.__name__, "runs")


@contextlib.asynccontextmanager
async def running(*handlers, provide=(), request=(), values=(), middleware=()):
    """A bus with ``handlers``, bound to a running container of these providers."""
    bus = MessageBus(middleware)
    for handler in handlers:
        bus.add(handler)
    registry = Registry()
    for factory in provide:
        registry.provide(factory)
    for factory in request:
        registry.provide(factory, scope=Scope.REQUEST)
    for value in values:
        registry.value(value)
    bus.register(registry)
    container = registry.build()
    bus.bind(container)
    async with container:
        yield bus


# -- one handler per command, any number per event ---------------------------------------------


def test_a_command_has_exactly_one_handler_and_a_second_is_refused_naming_both():
    async def record_again(cmd: RecordRun) -> None:
        pass

    bus = MessageBus()
    bus.add(command(record_run))

    with pytest.raises(
        ConfigError,
        match=r"RecordRun has two handlers, command handler 'record_run' .* and command handler "
        r"'record_again' .*; a command has exactly one handler",
    ):
        bus.add(command(record_again))


def test_a_query_has_exactly_one_handler_too():
    async def weekly(q: WeeklyDistance) -> float:
        return 0.0

    bus = MessageBus()
    bus.add(query(weekly))

    with pytest.raises(ConfigError, match="a query has exactly one handler"):
        bus.add(query(weekly))


async def test_sending_a_command_nobody_handles_raises_no_handler_error_naming_its_type():
    async with running(command(record_run)) as bus:
        with pytest.raises(NoHandlerError, match=r"no handler for .*\.Unhandled; .*: RecordRun"):
            await bus.handle(Unhandled())


async def test_a_command_is_handled_by_its_handler_and_its_result_returned():
    async def record_run(cmd: RecordRun, repo: Repo) -> int:
        repo.runs.append(cmd)
        return len(repo.runs)

    async with running(command(record_run), provide=[Repo]) as bus:
        assert await bus.handle(RecordRun(1)) == 1
        assert await bus.handle(RecordRun(2)) == 2


async def test_a_query_is_handled_by_its_handler():
    async def weekly(q: WeeklyDistance) -> float:
        return q.user_id * 1.5

    async with running(query(weekly)) as bus:
        assert await bus.handle(WeeklyDistance(2)) == 3.0


async def test_an_event_may_have_no_handlers():
    async with running() as bus:
        await bus.publish(RunRecorded(1))


async def test_an_event_goes_to_every_handler_in_the_order_they_were_added():
    log = []

    async def first(evt: RunRecorded) -> None:
        log.append(("first", evt.user_id))

    async def second(evt: RunRecorded) -> None:
        log.append(("second", evt.user_id))

    async with running(on(RunRecorded, first), on(RunRecorded, second)) as bus:
        await bus.publish(RunRecorded(1), RunRecorded(2))

    assert log == [("first", 1), ("second", 1), ("first", 2), ("second", 2)]


async def test_handle_publishes_an_event_that_has_handlers():
    log = []

    tally = noting(log, RunRecorded, lambda evt: evt)

    async with running(tally) as bus:
        assert await bus.handle(RunRecorded(1)) is None

    assert log == [RunRecorded(1)]


# -- the events a command raises ----------------------------------------------------------------


async def test_events_raised_while_a_command_is_handled_follow_it_in_order_within_the_call():
    log = []

    async def record_run(cmd: RecordRun, events: atoll.Events) -> str:
        log.append("record_run")
        events.add(RunRecorded(cmd.user_id), RecordSpotted(cmd.user_id))
        log.append("record_run returns")
        return "ok"

    async def tally(evt: RunRecorded, events: Events) -> None:
        log.append("tally")
        events.add(BadgeAwarded(evt.user_id))

    cheer = noting(log, RecordSpotted, "cheer", "cheer")

    notify = noting(log, BadgeAwarded, "notify", "notify")

    handlers = (
        command(record_run),
        on(RunRecorded, tally),
        cheer,
        notify,
    )
    async with running(*handlers) as bus:
        assert await bus.handle(RecordRun(1)) == "ok"
        log.append("handle returned")

    assert log == [
        "record_run",
        "record_run returns",
        "tally",
        "cheer",
        "notify",  # raised by an event handler: after the events raised before it
        "handle returned",
    ]


async def test_an_event_returned_by_a_command_handler_is_handled_after_it():
    log = []

    async def record_run(cmd: RecordRun) -> RunRecorded:
        log.append("record_run")
        return RunRecorded(cmd.user_id)

    tally = noting(log, RunRecorded, lambda evt: ("tally", evt.user_id))

    async with running(command(record_run), tally) as bus:
        assert await bus.handle(RecordRun(7)) == RunRecorded(7)

    assert log == ["record_run", ("tally", 7)]


async def test_a_list_of_events_returned_by_a_command_handler_is_handled_in_order():
    log = []

    async def record_run(cmd: RecordRun, repo: Repo) -> list[object]:
        return [RunRecorded(1), RecordSpotted(1), RunRecorded(2)]

    tally = noting(log, RunRecorded, lambda evt: ("tally", evt.user_id))

    cheer = noting(log, RecordSpotted, lambda evt: ("cheer", evt.user_id), "cheer")

    handlers = (command(record_run), tally, cheer)
    async with running(*handlers, provide=[Repo]) as bus:
        await bus.handle(RecordRun(1))

    assert log == [("tally", 1), ("cheer", 1), ("tally", 2)]


async def test_raised_events_come_before_returned_ones():
    log = []

    async def record_run(cmd: RecordRun, events: Events) -> RunRecorded:
        events.add(RecordSpotted(1))
        return RunRecorded(1)

    tally = noting(log, RunRecorded, "tally")

    cheer = noting(log, RecordSpotted, "cheer", "cheer")

    handlers = (command(record_run), tally, cheer)
    async with running(*handlers) as bus:
        await bus.handle(RecordRun(1))

    assert log == ["cheer", "tally"]


@pytest.mark.parametrize(
    "result",
    [
        [RunRecorded(1), 42],  # not all events: a result that happens to hold one
        Unhandled(),  # no handler knows the type: plain data
        AwardBadge(1),  # a command returned by a command is a result, not a chain
        [],
        0,
    ],
)
async def test_a_returned_value_that_is_not_only_handled_events_is_only_a_result(result):
    log = []

    async def record_run(cmd: RecordRun) -> object:
        return result

    tally = noting(log, RunRecorded, "tally")

    async def award(cmd: AwardBadge) -> None:
        log.append("award")

    handlers = (command(record_run), command(award, AwardBadge), tally)
    async with running(*handlers) as bus:
        assert await bus.handle(RecordRun(1)) == result

    assert log == []


async def test_events_returned_by_a_query_are_data_not_news():
    log = []

    async def history(q: WeeklyDistance) -> list[RunRecorded]:
        return [RunRecorded(q.user_id)]

    tally = noting(log, RunRecorded, "tally")

    async with running(query(history), tally) as bus:
        assert await bus.handle(WeeklyDistance(1)) == [RunRecorded(1)]

    assert log == []


async def test_an_event_returned_by_an_rpc_handler_is_data_not_raised():
    log = []

    async def history(user_id: int) -> list[RunRecorded]:
        return [RunRecorded(user_id)]

    tally = noting(log, RunRecorded, lambda evt: evt)

    handler = rpc(history)
    async with running(handler, tally) as bus:
        assert await bus.call(handler, {"user_id": 3}) == [RunRecorded(3)]

    assert log == []


async def test_an_event_without_handlers_raised_by_a_command_is_fine():
    async def record_run(cmd: RecordRun, events: Events) -> str:
        events.add(RunRecorded(1))
        return "ok"

    async with running(command(record_run)) as bus:
        assert await bus.handle(RecordRun(1)) == "ok"


async def test_an_event_handler_returning_a_command_chains_it():
    log = []

    async def spot(evt: RunRecorded) -> AwardBadge:
        log.append("spot")
        return AwardBadge(evt.user_id)

    async def award(cmd: AwardBadge, events: Events) -> None:
        log.append(("award", cmd.user_id))
        events.add(BadgeAwarded(cmd.user_id))

    notify = noting(log, BadgeAwarded, "notify", "notify")

    handlers = (on(RunRecorded, spot), command(award, AwardBadge), notify)
    async with running(*handlers) as bus:
        await bus.publish(RunRecorded(4))

    assert log == ["spot", ("award", 4), "notify"]


# -- errors -------------------------------------------------------------------------------------


async def test_a_failing_command_handlers_error_reaches_the_caller_and_its_events_are_dropped():
    log = []

    async def record_run(cmd: RecordRun, events: Events) -> None:
        events.add(RunRecorded(cmd.user_id))
        msg = "the track is closed"
        raise RuntimeError(msg)

    tally = noting(log, RunRecorded, "tally")

    async with running(command(record_run), tally) as bus:
        with pytest.raises(RuntimeError, match="the track is closed"):
            await bus.handle(RecordRun(1))

    assert log == []


async def test_a_failing_event_handler_is_logged_and_the_others_still_run(caplog):
    log = []

    async def broken(evt: RunRecorded) -> None:
        msg = "no ink"
        raise OSError(msg)

    tally = noting(log, RunRecorded, "tally")

    async with running(on(RunRecorded, broken), tally) as bus:
        with caplog.at_level(logging.ERROR, logger="atoll.bus"):
            await bus.publish(RunRecorded(1))

    assert log == ["tally"]
    [record] = caplog.records
    assert record.name == "atoll.bus"
    assert "event handler 'broken' of service 'runs'" in record.getMessage()
    assert "failed handling RunRecorded" in record.getMessage()
    assert record.exc_info is not None
    assert isinstance(record.exc_info[1], OSError)


async def test_a_failing_chained_command_is_logged_like_a_failing_event_handler(caplog):
    async def spot(evt: RunRecorded) -> AwardBadge:
        return AwardBadge(evt.user_id)

    async def award(cmd: AwardBadge) -> None:
        msg = "no badges left"
        raise LookupError(msg)

    async with running(on(RunRecorded, spot), command(award, AwardBadge)) as bus:
        with caplog.at_level(logging.ERROR, logger="atoll.bus"):
            await bus.publish(RunRecorded(1))

    [record] = caplog.records
    assert "command handler 'award'" in record.getMessage()
    assert "failed handling AwardBadge" in record.getMessage()


# -- middleware ---------------------------------------------------------------------------------


async def test_middleware_wraps_every_handler_call_and_sees_the_handler_and_arguments():
    seen = []

    async def record(call: Call, call_next):
        seen.append((call.handler.kind.value, call.handler.name, call.arguments))
        return await call_next(call)

    async def record_run(cmd: RecordRun, events: Events) -> None:
        events.add(RunRecorded(cmd.user_id))

    tally = noting([], RunRecorded, None)

    weekly_handler = rpc(weekly)
    handlers = (command(record_run), tally, weekly_handler)
    async with running(*handlers, middleware=[record]) as bus:
        await bus.handle(RecordRun(1))
        await bus.call(weekly_handler, {"user_id": 1})

    assert seen == [
        ("command", "record_run", {"cmd": RecordRun(1)}),
        ("event", "tally", {"evt": RunRecorded(1)}),
        ("rpc", "weekly", {"user_id": 1}),
    ]


async def test_middleware_runs_in_order_the_first_outermost():
    log = []

    def named(name):
        async def middleware(call, call_next):
            log.append(f"{name} in")
            result = await call_next(call)
            log.append(f"{name} out")
            return result

        return middleware

    async def weekly(user_id: int) -> float:
        log.append("handler")
        return 0.0

    handler = rpc(weekly)
    bus = MessageBus([named("a")])
    bus.use(named("b"))
    bus.use(named("c"))
    bus.add(handler)
    registry = Registry()
    bus.register(registry)
    bus.bind(registry.build())

    await bus.call(handler, {"user_id": 1})

    assert log == ["a in", "b in", "c in", "handler", "c out", "b out", "a out"]


async def test_middleware_can_replace_the_result():
    async def double(call, call_next):
        return 2 * await call_next(call)

    async def weekly(user_id: int) -> float:
        return 21.0

    handler = rpc(weekly)
    async with running(handler, middleware=[double]) as bus:
        assert await bus.call(handler, {"user_id": 1}) == 42.0


async def test_middleware_can_short_circuit_the_handler():
    log = []

    async def deny(call, call_next):
        return "denied"

    async def weekly(user_id: int) -> float:
        log.append("handler")
        return 0.0

    handler = rpc(weekly)
    async with running(handler, middleware=[deny]) as bus:
        assert await bus.call(handler, {"user_id": 1}) == "denied"

    assert log == []


async def test_middleware_sees_the_error_of_a_failing_handler():
    seen = []

    async def watch(call, call_next):
        try:
            return await call_next(call)
        except ValueError as error:
            seen.append(str(error))
            raise

    async def weekly(user_id: int) -> float:
        msg = "no such user"
        raise ValueError(msg)

    handler = rpc(weekly)
    async with running(handler, middleware=[watch]) as bus:
        with pytest.raises(ValueError, match="no such user"):
            await bus.call(handler, {"user_id": 1})

    assert seen == ["no such user"]


# -- how handlers run ---------------------------------------------------------------------------


async def test_a_plain_def_handler_runs_in_a_worker_thread():
    loop_thread = threading.current_thread()
    threads = []

    def blocking(user_id: int) -> int:
        threads.append(threading.current_thread())
        return user_id

    handler = rpc(blocking)
    async with running(handler) as bus:
        assert await bus.call(handler, {"user_id": 5}) == 5

    assert threads
    assert threads[0] is not loop_thread


@pytest.mark.parametrize("with_dependency", [False, True])
async def test_an_async_handler_runs_on_the_event_loop(with_dependency):
    loop_thread = threading.current_thread()
    threads = []

    async def plain(user_id: int) -> None:
        threads.append(threading.current_thread())

    async def injected(user_id: int, repo: Repo) -> None:
        threads.append(threading.current_thread())

    handler = rpc(injected if with_dependency else plain)
    async with running(handler, provide=[Repo]) as bus:
        await bus.call(handler, {"user_id": 1})

    assert threads == [loop_thread]


async def test_dependencies_are_filled_by_type():
    repo = Repo()
    got = []

    async def record_run(cmd: RecordRun, store: Repo, events: Events) -> None:
        got.append((store, events))

    async with running(command(record_run), values=[repo]) as bus:
        await bus.handle(RecordRun(1))

    [(store, events)] = got
    assert store is repo
    assert isinstance(events, Events)


async def test_each_call_gets_its_own_request_scope_whose_cleanups_run_after_it():
    log = []
    sessions = []

    def open_session() -> Iterator[Session]:
        session = Session()
        log.append(f"open {len(sessions)}")
        sessions.append(session)
        yield session
        log.append("close")

    async def record_run(cmd: RecordRun, session: Session) -> None:
        log.append(f"handle {cmd.user_id}")

    async with running(command(record_run), request=[open_session]) as bus:
        await bus.handle(RecordRun(1))
        await bus.handle(RecordRun(2))

    assert log == ["open 0", "handle 1", "close", "open 1", "handle 2", "close"]
    assert sessions[0] is not sessions[1]


async def test_each_call_gets_its_own_events():
    collected = []

    async def record_run(cmd: RecordRun, events: Events) -> None:
        events.add(RunRecorded(cmd.user_id))
        collected.append(list(events))

    async with running(command(record_run)) as bus:
        await bus.handle(RecordRun(1))
        await bus.handle(RecordRun(2))

    assert collected == [[RunRecorded(1)], [RunRecorded(2)]]


async def test_seeds_are_the_calls_instances_of_their_type():
    request = Request()
    got = []

    def no_request() -> Request:
        msg = "only a transport has one"
        raise LookupError(msg)

    async def whoami(request: Request) -> None:
        got.append(request)

    handler = rpc(whoami)
    async with running(handler, request=[no_request]) as bus:
        await bus.call(handler, {}, seeds={Request: request})

    assert got == [request]


async def test_seeds_reach_a_handler_without_dependencies():
    async def weekly(user_id: int) -> int:
        return user_id

    def no_request() -> Request:
        raise LookupError

    handler = rpc(weekly)
    async with running(handler, request=[no_request]) as bus:
        assert await bus.call(handler, {"user_id": 2}, seeds={Request: Request()}) == 2


async def test_events_outside_a_handler_call_raise_scope_error():
    registry = Registry()
    MessageBus().register(registry)
    container = registry.build()

    async with container, container.scope() as scope:
        with pytest.raises(ScopeError, match=r"atoll.Events exist only while a handler runs"):
            await scope.aget(Events)


def test_events_collect_what_is_added_in_order():
    events = Events()
    events.add(RunRecorded(1))
    events.add(RunRecorded(2), RecordSpotted(3))

    assert list(events) == [RunRecorded(1), RunRecorded(2), RecordSpotted(3)]
    assert len(events) == 3
    assert repr(Events()) == "Events([])"


# -- declaring, then binding --------------------------------------------------------------------


async def test_handling_before_bind_is_refused():
    bus = MessageBus()
    bus.add(command(record_run))

    with pytest.raises(ConfigError, match="cannot handle RecordRun: the bus is not bound"):
        await bus.handle(RecordRun(1))


async def test_calling_before_bind_is_refused():
    handler = rpc(weekly)
    bus = MessageBus()
    bus.add(handler)

    with pytest.raises(ConfigError, match=r"cannot call rpc handler 'weekly'.* not bound"):
        await bus.call(handler, {"user_id": 1})


async def test_publishing_before_bind_is_refused():
    with pytest.raises(ConfigError, match="cannot publish RunRecorded: the bus is not bound"):
        await MessageBus().publish(RunRecorded(1))


def test_reading_a_signature_before_bind_is_refused():
    with pytest.raises(ConfigError, match="cannot read the signature of rpc handler 'weekly'"):
        MessageBus().signature(rpc(weekly))


async def test_adding_a_handler_after_bind_is_refused():
    async with running() as bus:
        with pytest.raises(ConfigError, match=r"cannot add rpc handler 'weekly'.*already running"):
            bus.add(rpc(weekly))


async def test_adding_middleware_after_bind_is_refused():
    async def noop(call, call_next):
        return await call_next(call)

    async with running() as bus:
        with pytest.raises(ConfigError, match="cannot add middleware: the bus is already running"):
            bus.use(noop)


def test_bind_refuses_a_message_handler_that_needs_what_nothing_provides():
    async def record_run(cmd: RecordRun, repo: Repo) -> None:
        pass

    bus = MessageBus()
    bus.add(command(record_run))
    registry = Registry()
    bus.register(registry)

    with pytest.raises(MissingProviderError, match="needed by parameter 'repo'"):
        bus.bind(registry.build())


def test_bind_splits_each_handlers_parameters_against_the_container():
    async def weekly(user_id: int, repo: Repo) -> float:
        return 0.0

    handler = rpc(weekly)
    bus = MessageBus()
    bus.add(handler)
    registry = Registry()
    registry.provide(Repo)
    bus.register(registry)
    bus.bind(registry.build())

    signature = bus.signature(handler)

    assert [item.name for item in signature.inputs] == ["user_id"]
    assert [item.parameter for item in signature.dependencies] == ["repo"]


def test_handlers_are_listed_commands_first_then_events_then_the_rest():
    async def weekly_distance(q: WeeklyDistance) -> None:
        pass

    async def ping() -> None:
        pass

    tally, cheer = noting([], RunRecorded, None), noting([], RecordSpotted, None, "cheer")
    handlers = [rpc(ping), tally, command(record_run), cheer, query(weekly_distance)]
    bus = MessageBus()
    for handler in handlers:
        bus.add(handler)

    assert bus.handlers == [handlers[2], handlers[4], tally, cheer, handlers[0]]
    assert bus.handler_for(RecordRun) is handlers[2]
    assert bus.handler_for(RunRecorded) is None
    assert bus.event_handlers(RunRecorded) == [handlers[1]]
    assert bus.event_handlers(Unhandled) == []


def test_a_message_handler_declared_without_a_message_type_is_only_remembered():
    async def audit(evt: RunRecorded) -> None:
        pass

    handler = Handler(audit, HandlerKind.EVENT, "audit", "runs")
    bus = MessageBus()
    bus.add(handler)

    assert bus.handlers == [handler]
    assert bus.event_handlers(RunRecorded) == []
