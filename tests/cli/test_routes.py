from __future__ import annotations

import sys
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal, Optional

import pytest
from click.testing import CliRunner

import atoll
from atoll.cli import cli
from atoll.cli.routes import describe_routes, type_name
from atoll.kernel.providers import Named

APP = textwrap.dedent(
    """
    from __future__ import annotations

    from dataclasses import dataclass

    import atoll


    @dataclass(frozen=True)
    class RecordRun:
        user_id: int
        meters: float


    @dataclass(frozen=True)
    class RunRecorded:
        run_id: int


    @dataclass(frozen=True)
    class CountRuns:
        user_id: int


    @dataclass(frozen=True)
    class UserRegistered:
        user_id: int


    @dataclass(frozen=True)
    class RunsOptions:
        token: str = atoll.option(help="required, and never read by atoll routes")


    class Repo:
        def __init__(self, options: RunsOptions) -> None:
            raise AssertionError("atoll routes made an instance")


    runs = atoll.Service("runs")
    runs.options("runs", RunsOptions)
    runs.provide(Repo)


    @runs.command(RecordRun)
    async def record_run(cmd: RecordRun, repo: Repo) -> int:
        return 1


    @runs.query(CountRuns)
    async def count_runs(query: CountRuns, repo: Repo) -> int:
        return 0


    @runs.on(RunRecorded)
    async def tally(evt: RunRecorded, repo: Repo) -> None:
        pass


    @runs.rpc
    async def weekly_meters(user_id: int, repo: Repo, *, weeks: int = 1) -> float | None:
        return None


    @runs.get("/runs/{user_id}")
    async def runs_of(user_id: int, repo: Repo, limit: int = 10) -> list[RecordRun]:
        return []


    async def legacy(scope, receive, send):
        pass


    runs.mount("/legacy", legacy)

    users = atoll.Service("users")


    @users.on(RunRecorded)
    async def notify(evt: RunRecorded) -> None:
        pass


    @users.rpc
    async def ping() -> str:
        return "pong"


    system = atoll.System(runs, users, name="club")
    bare = atoll.App("bare")


    def make():
        return runs


    clash = atoll.Service("clash")


    @clash.get("/runs/{user_id}")
    async def other_runs_of(user_id: int) -> None:
        pass


    broken_system = atoll.System(runs, clash, name="broken")

    missing = atoll.Service("missing")


    @missing.on(UserRegistered)
    async def open_log(evt: UserRegistered, repo: Repo) -> None:
        pass


    class PlainCommand:
        def __init__(self, n: int) -> None:
            self.n = n


    plain = atoll.Service("plain")


    @plain.command(PlainCommand)
    async def do_plain(cmd: PlainCommand) -> None:
        pass


    clock = atoll.Service("clock")
    clock.database(atoll.Schema())


    @clock.every(60)
    async def sweep() -> None:
        pass


    @clock.cron("0 3 * * 1", singleton=True)
    async def close_week() -> None:
        pass
    """
)


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A directory holding an importable module of services, as the working directory."""
    (tmp_path / "clubapp.py").write_text(APP)
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    sys.modules.pop("clubapp", None)


def routes(*args: str):
    return CliRunner().invoke(cli, ["routes", *args])


def test_routes_lists_a_services_rest_routes_in_aligned_columns(project):
    result = routes("clubapp:runs")
    assert result.exit_code == 0, result.output
    assert (
        "REST routes\n"
        "  METHOD  PATH             HANDLER         SERVICE\n"
        "  POST    /record-run      record_run      runs\n"
        "  GET     /count-runs      count_runs      runs\n"
        "  GET     /runs/{user_id}  runs_of         runs\n"
        "  *       /legacy/...      mounted legacy  runs\n"
    ) in result.output


def test_routes_lists_the_json_rpc_methods_with_parameter_and_result_types(project):
    result = routes("clubapp:runs")
    assert (
        "JSON-RPC methods\n"
        "  METHOD         PARAMETERS                       RESULT\n"
        "  record_run     user_id: int, meters: float      int\n"
        "  count_runs     user_id: int                     int\n"
        "  weekly_meters  user_id: int, *, weeks: int = 1  float | None\n"
    ) in result.output


def test_routes_lists_the_message_handlers(project):
    result = routes("clubapp:runs")
    assert result.output.endswith(
        "Message handlers\n"
        "  KIND     MESSAGE      HANDLER     SERVICE\n"
        "  command  RecordRun    record_run  runs\n"
        "  query    CountRuns    count_runs  runs\n"
        "  event    RunRecorded  tally       runs\n"
    )


def test_routes_of_a_system_lists_every_service_with_qualified_methods(project):
    result = routes("clubapp:system")
    assert result.exit_code == 0, result.output
    assert "runs.weekly_meters" in result.output
    assert "  users.ping          -                                str\n" in result.output
    assert "  event    RunRecorded  notify      users" in result.output


def test_routes_accepts_a_factory(project):
    result = routes("clubapp:make")
    assert result.exit_code == 0, result.output
    assert "record_run" in result.output


def test_routes_of_an_app_without_services_lists_nothing(project):
    result = routes("clubapp:bare")
    assert result.exit_code == 0, result.output
    assert result.output == (
        "REST routes\n  (none)\n\nJSON-RPC methods\n  (none)\n\nMessage handlers\n  (none)\n"
    )


def test_routes_makes_no_instance_and_reads_no_option(project):
    result = routes("clubapp:runs")  # Repo raises when made; RunsOptions.token is required
    assert result.exit_code == 0, result.output


def test_a_target_that_is_not_module_colon_object_is_a_usage_error(project):
    result = routes("clubapp")
    assert result.exit_code == 2
    assert "is not MODULE:OBJECT" in result.output


def test_a_missing_attribute_is_a_usage_error(project):
    result = routes("clubapp:runz")
    assert result.exit_code == 2
    assert "did you mean 'runs'?" in result.output


def test_two_services_declaring_one_route_is_a_configuration_error(project):
    result = routes("clubapp:broken_system")
    assert result.exit_code == 2
    assert "configuration error" in result.output
    assert "route GET /runs/{user_id}" in result.output


def test_a_message_type_that_is_not_a_dataclass_is_a_configuration_error(project):
    result = routes("clubapp:plain")
    assert result.exit_code == 2
    assert "PlainCommand is neither a dataclass nor a msgspec Struct" in result.output


def test_providers_that_do_not_fit_together_fail_with_status_1(project):
    result = routes("clubapp:missing")
    assert result.exit_code == 1
    assert "no provider for Repo" in result.output


def test_routes_help_names_the_target():
    result = routes("--help")
    assert result.exit_code == 0
    assert "MODULE:OBJECT" in result.output


@dataclass(frozen=True)
class RunView:
    meters: float


@pytest.mark.parametrize(
    ("hint", "expected"),
    [
        (int, "int"),
        (None, "None"),
        (type(None), "None"),
        (Any, "Any"),
        (list[RunView], "list[RunView]"),
        (dict[str, list[int]], "dict[str, list[int]]"),
        (tuple[int, ...], "tuple[int, ...]"),
        (int | None, "int | None"),
        (Optional[int], "int | None"),  # noqa: UP045 - the old spelling reads the same
        (Literal["a", 1], "Literal['a', 1]"),
        (Annotated[RunView, Named("x")], "RunView"),
        (Sequence[str], "Sequence[str]"),
        ("RunView", "RunView"),
    ],
)
def test_type_name_writes_a_hint_as_a_reader_would(hint, expected):
    assert type_name(hint) == expected


def test_describe_routes_can_be_called_without_the_command():
    text = describe_routes(atoll.App("bare"))
    assert text.startswith("REST routes\n  (none)")


def test_routes_lists_the_timers_of_an_application_that_has_some(project):
    result = routes("clubapp:clock")
    assert result.exit_code == 0, result.output
    assert result.output.endswith(
        "Timers\n"
        "  SCHEDULE                HANDLER     SERVICE  RUNS ON\n"
        "  every 60 s              sweep       clock    each instance\n"
        "  cron '0 3 * * 1' (UTC)  close_week  clock    one instance\n"
    )
