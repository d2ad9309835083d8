from __future__ import annotations

import asyncio
from dataclasses import dataclass

import pytest

import atoll
import atoll.testing
from atoll.endpoints.http.asgi import HttpApp
from atoll.errors import (
    ConfigError,
    MissingProviderError,
    NoHandlerError,
    RemoteError,
    TaskFailedError,
)
from atoll.kernel.lifecycle import Lifecycle, State
from atoll.messaging.bus import MessageBus
from atoll.testing.harness import run

# -- a small service, declared as users declare theirs ------------------------------------------


@dataclass(frozen=True)
class RecordRun:
    user_id: int
    meters: float


@dataclass(frozen=True)
class RunRecorded:
    run_id: int
    user_id: int
    meters: float


@dataclass(frozen=True)
class BadgeEarned:
    """Raised here, handled by no handler of this service: another service would consume it."""

    user_id: int


@dataclass(frozen=True)
class MilestoneReached:
    """Returned by an event handler, rather than raised."""

    user_id: int


@dataclass(frozen=True)
class ResetRuns:
    """A command chained by an event handler, by returning it."""

    user_id: int


@dataclass(frozen=True)
class RunsReset:
    user_id: int


@dataclass(frozen=True)
class Unhandled:
    pass


class RunRefusedError(Exception):
    pass


@dataclass(frozen=True)
class RunsOptions:
    badge_meters: float = atoll.option(10_000.0, help="the meters of a run that earn a badge")


class Repo:
    def __init__(self) -> None:
        self.runs: list[RecordRun] = []


class Journal:
    """A component: started and stopped by the lifecycle."""

    def __init__(self) -> None:
        self.log: list[str] = []

    async def start(self) -> None:
        self.log.append("start")

    async def stop(self) -> None:
        self.log.append("stop")


service = atoll.Service("runs")
service.options("runs", RunsOptions)
service.provide(Repo)
service.provide(Journal)
service.error(RunRefusedError, status=409)
milestones: list[MilestoneReached] = []


@service.command(RecordRun)
async def record_run(cmd: RecordRun, repo: Repo, events: atoll.Events) -> int:
    if cmd.meters < 0:
        events.add(RunRecorded(-1, cmd.user_id, cmd.meters))  # never handled: the call fails
        raise RunRefusedError("a run has a distance of 0 or more meters")
    repo.runs.append(cmd)
    run_id = len(repo.runs)
    events.add(RunRecorded(run_id, cmd.user_id, cmd.meters))
    return run_id


@service.on(RunRecorded)
async def award(evt: RunRecorded, options: RunsOptions, events: atoll.Events) -> None:
    if evt.meters >= options.badge_meters:
        events.add(BadgeEarned(evt.user_id))


@service.on(RunRecorded)
async def count(evt: RunRecorded, repo: Repo) -> list[object] | None:
    if len(repo.runs) == 3:
        return [MilestoneReached(evt.user_id), ResetRuns(evt.user_id)]
    if len(repo.runs) == 4:
        return [MilestoneReached(evt.user_id), "not a message"]
    return None


@service.on(MilestoneReached)
async def remember(evt: MilestoneReached) -> None:
    milestones.append(evt)


@service.command(ResetRuns)
async def reset_runs(cmd: ResetRuns, repo: Repo) -> RunsReset:
    repo.runs.clear()
    return RunsReset(cmd.user_id)


@service.on(RunsReset)
async def noted(evt: RunsReset) -> None:
    pass


@service.rpc
async def total(user_id: int, repo: Repo) -> float:
    return sum(run.meters for run in repo.runs if run.user_id == user_id)


@service.get("/runs/{user_id}")
async def runs_of(user_id: int, repo: Repo) -> list[RecordRun]:
    return [run for run in repo.runs if run.user_id == user_id]


# -- configuration and start ----------------------------------------------------------------------


async def test_send_runs_the_command_and_returns_its_result():
    async with run(service) as harness:
        assert await harness.send(RecordRun(1, 5000)) == 1
        assert await harness.send(RecordRun(1, 3000)) == 2


async def test_atoll_testing_run_is_the_harness():
    async with atoll.testing.run(service) as harness:
        assert isinstance(harness, atoll.testing.ServiceHarness)


async def test_argv_sets_the_services_options():
    async with run(service, argv=["--runs-badge-meters", "100"]) as harness:
        await harness.send(RecordRun(1, 150))
        assert harness.events_of(BadgeEarned) == [BadgeEarned(1)]


async def test_the_environment_does_not_configure_the_service(monkeypatch):
    monkeypatch.setenv("RUNS_RUNS_BADGE_METERS", "100")
    async with run(service) as harness:
        await harness.send(RecordRun(1, 150))
        assert harness.events_of(BadgeEarned) == []


async def test_an_unknown_flag_is_a_config_error():
    with pytest.raises(ConfigError, match="--runs-badge"):
        async with run(service, argv=["--runs-badge", "1"]):
            pass


async def test_a_worker_without_http_is_reached_by_send_and_rpc_and_has_no_http_app():
    async with run(service, argv=["--no-server"]) as harness:
        await harness.send(RecordRun(4, 1000))
        assert await harness.rpc.methods.total(user_id=4) == 1000.0
        made = harness.container.instances().values()
        assert not any(isinstance(instance, HttpApp) for instance in made)
        assert repr(harness) == "<ServiceHarness of 'runs'>"
        with pytest.raises(ConfigError, match=r"harness.http .* --no-server turned off"):
            _ = harness.http
        with pytest.raises(ConfigError, match=r"harness.client .* --no-server turned off"):
            _ = harness.client


async def test_components_start_on_entering_and_stop_on_leaving():
    async with run(service) as harness:
        journal = await harness.container.aget(Journal)
        assert journal.log == ["start"]
    assert journal.log == ["start", "stop"]


async def test_a_failed_background_task_fails_the_block_on_leaving():
    failing = atoll.Service("failing")

    @failing.task
    async def crash() -> None:
        raise RuntimeError("lost the connection")

    async def run_until_it_stops() -> None:
        async with run(failing) as harness:
            lifecycle = await harness.container.aget(Lifecycle)
            await lifecycle.wait_state(State.STOPPING)

    with pytest.raises(TaskFailedError, match="lost the connection"):
        await run_until_it_stops()


async def test_something_else_than_a_service_or_system_is_refused():
    with pytest.raises(TypeError, match=r"an atoll\.Service or an atoll\.System; got App"):
        async with run(atoll.App("bare")):  # type: ignore[arg-type]
            pass


async def test_the_service_is_left_as_it_was():
    before = list(service.middleware)
    async with run(service):
        pass
    assert service.middleware == before


async def test_the_harness_exposes_the_container_the_bus_and_the_http_app():
    async with run(service) as harness:
        assert harness.bus is await harness.container.aget(MessageBus)
        assert harness.http is await harness.container.aget(HttpApp)
        assert repr(harness) == "<ServiceHarness of 'runs'>"


# -- events ---------------------------------------------------------------------------------------


async def test_events_are_recorded_in_the_order_the_bus_handles_them():
    async with run(service) as harness:
        await harness.send(RecordRun(1, 12_000))
        await harness.send(RecordRun(2, 1_000))
        assert harness.events == [
            RunRecorded(1, 1, 12_000),
            BadgeEarned(1),
            RunRecorded(2, 2, 1_000),
        ]


async def test_an_event_no_handler_listens_to_is_recorded():
    async with run(service) as harness:
        await harness.send(RecordRun(7, 20_000))
        assert harness.events_of(BadgeEarned) == [BadgeEarned(7)]


async def test_events_of_keeps_the_events_of_one_type():
    async with run(service) as harness:
        await harness.send(RecordRun(1, 12_000))
        await harness.send(RecordRun(2, 1_000))
        assert harness.events_of(RunRecorded) == [
            RunRecorded(1, 1, 12_000),
            RunRecorded(2, 2, 1_000),
        ]


async def test_events_returned_by_handlers_are_recorded_and_chained_commands_are_not():
    async with run(service) as harness:
        for meters in (1, 2, 3):
            await harness.send(RecordRun(1, meters))
        assert harness.events[-3:] == [RunRecorded(3, 1, 3), MilestoneReached(1), RunsReset(1)]
        assert harness.events_of(ResetRuns) == []


async def test_a_result_that_is_not_all_messages_raises_no_event():
    async with run(service) as harness:
        repo = await harness.container.aget(Repo)
        repo.runs.extend([RecordRun(1, 1)] * 3)
        await harness.send(RecordRun(1, 4))
        assert harness.events == [RunRecorded(4, 1, 4)]


async def test_the_events_of_a_failed_command_are_not_recorded():
    async with run(service) as harness:
        with pytest.raises(RunRefusedError):
            await harness.send(RecordRun(1, -5))
        assert harness.events == []


async def test_publish_records_the_events_and_runs_their_handlers():
    async with run(service) as harness:
        await harness.publish(RunRecorded(9, 1, 15_000), RunRecorded(10, 2, 1))
        assert harness.events == [
            RunRecorded(9, 1, 15_000),
            RunRecorded(10, 2, 1),
            BadgeEarned(1),
        ]


async def test_send_publishes_an_event_and_records_it():
    async with run(service) as harness:
        assert await harness.send(RunRecorded(9, 1, 15_000)) is None
        assert harness.events == [RunRecorded(9, 1, 15_000), BadgeEarned(1)]


async def test_send_of_a_message_nothing_handles_raises_and_records_nothing():
    async with run(service) as harness:
        with pytest.raises(NoHandlerError, match="Unhandled"):
            await harness.send(Unhandled())
        assert harness.events == []


async def test_events_is_a_copy():
    async with run(service) as harness:
        harness.events.append("not an event")
        assert harness.events == []


async def test_events_raised_behind_http_are_recorded():
    async with run(service) as harness:
        response = await harness.client.post("/record-run", json={"user_id": 3, "meters": 11000})
        assert response.status_code == 200
        assert harness.events == [RunRecorded(1, 3, 11_000), BadgeEarned(3)]


# -- clients --------------------------------------------------------------------------------------


async def test_the_client_reaches_the_rest_routes():
    async with run(service) as harness:
        await harness.send(RecordRun(4, 1000))
        response = await harness.client.get("/runs/4")
        assert response.status_code == 200
        assert response.json() == [{"user_id": 4, "meters": 1000.0}]
        assert str(response.request.url) == "http://testserver/runs/4"


async def test_rpc_calls_the_json_rpc_methods_in_the_process():
    async with run(service) as harness:
        await harness.send(RecordRun(4, 1000))
        await harness.send(RecordRun(4, 500))
        assert await harness.rpc.methods.total(user_id=4) == 1500.0
        assert harness.rpc is harness.rpc


async def test_rpc_raises_what_a_remote_caller_would_see():
    async with run(service) as harness:
        with pytest.raises(RemoteError) as raised:
            await harness.rpc.methods.record_run(user_id=1, meters=-1)
        assert raised.value.code == -32000
        assert raised.value.data == {
            "type": "RunRefusedError",
            "detail": "a run has a distance of 0 or more meters",
        }


async def test_the_rpc_client_is_closed_on_leaving():
    async with run(service) as harness:
        await harness.rpc.methods.total(user_id=1)
    assert harness._rpc is None


# -- overrides ------------------------------------------------------------------------------------


class Mailer:
    """A real adapter: a test must never build it."""

    def __init__(self) -> None:
        raise AssertionError("the real mailer was built")

    def send(self, to: int) -> None:
        raise NotImplementedError


class FakeMailer:
    def __init__(self) -> None:
        self.sent: list[int] = []

    def send(self, to: int) -> None:
        self.sent.append(to)


class FakeJournal(Journal):
    pass


mailing = atoll.Service("mailing")
mailing.provide(Mailer)


@mailing.on(BadgeEarned)
async def congratulate(evt: BadgeEarned, mailer: Mailer) -> None:
    mailer.send(evt.user_id)


async def test_overrides_replace_a_provider_before_anything_is_made():
    fake = FakeMailer()
    async with run(mailing, overrides={Mailer: fake}) as harness:
        await harness.publish(BadgeEarned(5))
        assert fake.sent == [5]


async def test_an_overriding_component_is_started_and_stopped():
    fake = FakeJournal()
    async with run(service, overrides={Journal: fake}) as harness:
        assert await harness.container.aget(Journal) is fake
        assert fake.log == ["start"]
    assert fake.log == ["start", "stop"]


async def test_an_override_of_what_nothing_provides_is_an_error():
    with pytest.raises(MissingProviderError, match="cannot override FakeMailer"):
        async with run(mailing, overrides={FakeMailer: FakeMailer()}):
            pass


async def test_overrides_replace_an_option_section_too():
    options = RunsOptions(badge_meters=1)
    async with run(service, overrides={RunsOptions: options}) as harness:
        await harness.send(RecordRun(1, 2))
        assert harness.events_of(BadgeEarned) == [BadgeEarned(1)]


async def test_override_lasts_for_its_block():
    async with run(service) as harness:
        original = await harness.container.aget(Repo)
        fake = Repo()
        with harness.override(Repo, fake):
            await harness.send(RecordRun(1, 100))
        await harness.send(RecordRun(1, 200))
        assert fake.runs == [RecordRun(1, 100)]
        assert original.runs == [RecordRun(1, 200)]


# -- systems --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DemoOptions:
    greeting: str = atoll.option("hello", help="what the system says")


async def test_a_system_runs_its_services_on_one_bus():
    fake = FakeMailer()
    system = atoll.System(service, mailing, name="club")
    async with run(system, overrides={Mailer: fake}) as harness:
        await harness.send(RecordRun(6, 30_000))
        assert fake.sent == [6]
        assert harness.events_of(BadgeEarned) == [BadgeEarned(6)]
        assert await harness.rpc.methods.runs.total(user_id=6) == 30_000.0


async def test_a_system_includes_its_own_options_and_tasks():
    system = atoll.System(service, name="club")
    system.options("demo", DemoOptions)
    said: list[str] = []
    greeted = asyncio.Event()

    @system.task
    async def greet(options: DemoOptions) -> None:
        said.append(options.greeting)
        greeted.set()

    async with run(system, argv=["--demo-greeting", "hi"]), asyncio.timeout(10):
        await greeted.wait()
    assert said == ["hi"]
