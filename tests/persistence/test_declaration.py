"""A service's database: declared once, installed per service, opened by the URL's scheme."""

from dataclasses import dataclass, field
from typing import Protocol

import pytest

import atoll
import atoll.testing
from atoll.errors import (
    ConfigError,
    ConflictError,
    DatabaseUnavailableError,
    MissingDependencyError,
    PersistenceError,
    RemoteError,
    TooManyConflictsError,
)
from atoll.persistence import declaration
from atoll.persistence.declaration import DatabaseDeclaration, open_database
from atoll.persistence.memory import MemoryDatabase
from atoll.persistence.options import DatabaseOptions
from atoll.persistence.ports import Database
from atoll.persistence.relay import OutboxRelay
from atoll.persistence.repository import Repository, repository_for
from atoll.persistence.schema import Schema
from atoll.persistence.unit_of_work import UnitOfWork


@dataclass
class Parcel:
    id: int | None
    weight: int = 0
    events: list = field(default_factory=list, compare=False)


@dataclass(frozen=True)
class Weighed:
    parcel: int
    weight: int


class Parcels(Protocol):
    async def heavy(self) -> list[Parcel]: ...


class SqlishParcels(Repository[Parcel]):
    async def heavy(self) -> list[Parcel]:
        return [p for p in await self.find() if p.weight > 10]


class ParcelUnits(UnitOfWork):
    parcels: Parcels
    plain: Repository[Parcel]


def schema():
    s = Schema()
    s.map(Parcel)
    return s


def test_the_default_url_is_sqlite_in_the_data_directory():
    assert DatabaseOptions().url_for("runs") == "sqlite+aiosqlite:///data/runs.db"
    assert DatabaseOptions(data_dir="/var/lib/x").url_for("runs") == (
        "sqlite+aiosqlite:////var/lib/x/runs.db"
    )
    assert DatabaseOptions(url="memory://").url_for("runs") == "memory://"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"relay_interval": -1.0}, "relay_interval must be a finite number of seconds"),
        ({"conflict_backoff": float("nan")}, "conflict_backoff must be a finite number"),
        ({"pool_size": 0}, "pool_size must be 1 or more"),
        ({"relay_batch": 0}, "relay_batch must be 1 or more"),
        ({"conflict_retries": -1}, "conflict_retries must be 0 or more"),
    ],
)
def test_options_out_of_range_are_refused(options, message):
    with pytest.raises(ValueError, match=message):
        DatabaseOptions(**options)


def test_memory_urls_open_the_memory_database():
    database = open_database(DatabaseOptions(url="memory://"), schema(), "post")
    assert isinstance(database, MemoryDatabase)
    assert database.describe() == "memory:// (post)"


def test_an_unknown_scheme_names_the_ones_known():
    with pytest.raises(ValueError, match=r"url 'mysql://x/y' names no database .*; use one of"):
        DatabaseOptions(url="mysql://x/y")  # refused with the configuration: exit 2
    given = DatabaseOptions()
    object.__setattr__(given, "url", "mysql://x/y")  # in code, past the options' check
    with pytest.raises(ConfigError, match=r"starts with 'mysql:', which no adapter reads; use"):
        open_database(given, schema(), "post")


def test_an_adapter_whose_library_is_missing_says_which_extra_to_install(monkeypatch, tmp_path):
    (tmp_path / "atoll_bare_adapter.py").write_text(
        "from atoll.errors import MissingDependencyError\n"
        "raise MissingDependencyError('sqlalchemy', 'sql')\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(declaration.ADAPTERS, "sqlite", ("atoll_bare_adapter", "SqlDatabase"))
    with pytest.raises(MissingDependencyError, match=r'pip install "atoll\[sql\]"'):
        open_database(DatabaseOptions(url="sqlite://"), schema(), "post")


def test_the_unit_of_work_makes_the_repositories_it_annotates():
    database = open_database(DatabaseOptions(url="memory://"), schema(), "post")
    units = ParcelUnits(database, repositories={Parcels: SqlishParcels})
    assert isinstance(units.parcels, SqlishParcels)
    assert type(units.plain) is repository_for(Repository, Parcel)
    assert units.plain.aggregate is Parcel


def test_an_annotation_that_is_no_repository_is_refused_when_declared():
    class Wrong(UnitOfWork):
        parcels: Parcels

    with pytest.raises(ConfigError, match=r"Wrong.parcels is annotated Parcels, which is no"):
        DatabaseDeclaration(schema(), Wrong)


def test_annotations_that_cannot_be_read_say_where():
    class Unreadable(UnitOfWork):
        parcels: "Undefined"  # noqa: F821

    with pytest.raises(ConfigError, match="name 'Undefined', which is not defined"):
        DatabaseDeclaration(schema(), Unreadable)


def test_a_repository_without_an_aggregate_is_refused():
    class Bare(Repository):
        pass

    database = open_database(DatabaseOptions(url="memory://"), schema(), "post")
    with pytest.raises(ConfigError, match="does not say which aggregate it keeps"):
        Bare(UnitOfWork(database))


def test_a_repository_of_an_unmapped_aggregate_names_the_mapped_ones():
    @dataclass
    class Stray:
        id: int

    database = open_database(DatabaseOptions(url="memory://"), schema(), "post")
    with pytest.raises(ConfigError, match=r"Stray is not mapped .* \(mapped: Parcel\)"):
        repository_for(Repository, Stray)(UnitOfWork(database))


def test_a_service_declares_one_database():
    service = atoll.Service("post")
    service.database(schema())
    with pytest.raises(ConfigError, match="has a database already"):
        service.database(schema())


class DepotUnits(ParcelUnits):
    pass


def post_service(name="post", units=ParcelUnits):
    service = atoll.Service(name)
    service.database(schema(), units, repositories={Parcels: SqlishParcels})

    # One command type per service, each with its own name, as two services' would have.
    Weigh = dataclass(frozen=True)(  # noqa: N806
        type(f"Weigh{name.title()}", (), {"__annotations__": {"weight": int}})
    )

    @service.command(Weigh, path=f"/{name}/weigh")
    async def weigh(command: Weigh, uow: ParcelUnits) -> int:
        async with uow:
            parcel = await uow.plain.add(Parcel(None, command.weight))
            parcel.events.append(Weighed(parcel.id, parcel.weight))
            await uow.commit()
        return parcel.id

    return service, Weigh


async def test_a_service_alone_reads_the_db_section():
    service, weigh = post_service()
    async with atoll.testing.run(service, argv=["--db-url", "memory://"]) as harness:
        database = harness.container.get(Database, "post")
        assert isinstance(database, MemoryDatabase)
        assert await harness.send(weigh(12)) == 1


async def test_in_a_system_each_service_has_its_own_section_and_database():
    post, _ = post_service("post")
    depot, _ = post_service("depot", DepotUnits)
    system = atoll.System(post, depot, name="mail")
    argv = ["--post-db-url", "memory://", "--depot-db-url", "memory://", "--no-depot-db-relay"]
    async with atoll.testing.run(system, argv=argv) as harness:
        first = harness.container.get(Database, "post")
        second = harness.container.get(Database, "depot")
        assert first is not second
        assert harness.container.get(OutboxRelay, "depot").enabled is False
        assert harness.container.get(OutboxRelay, "post").enabled is True


def test_two_services_of_a_system_cannot_share_a_unit_of_work_class():
    post, _ = post_service("post")
    depot, _ = post_service("depot")
    with pytest.raises(ConfigError, match=r"service 'depot' asks for ParcelUnits, which another"):
        atoll.System(post, depot, name="mail").__atoll_app__()


async def test_events_committed_by_a_handler_reach_the_handlers_of_the_process():
    service, weigh = post_service()
    seen = []

    @service.on(Weighed)
    async def heavy_parcels(event: Weighed) -> None:
        seen.append(event)

    async with atoll.testing.run(service, argv=["--db-url", "memory://"]) as harness:
        await harness.send(weigh(12))
        await harness.container.get(OutboxRelay, "post").flush()
        assert seen == [Weighed(1, 12)]


def test_a_unit_of_work_publishes_only_inside_its_block():
    database = open_database(DatabaseOptions(url="memory://"), schema(), "post")
    with pytest.raises(PersistenceError, match="cannot publish events"):
        UnitOfWork(database).publish(Weighed(1, 1))


def test_schema_refuses_what_is_no_dataclass_a_second_mapping_and_missing_fields():
    s = Schema()
    with pytest.raises(ConfigError, match="is not a dataclass"):
        s.map(int)
    s.map(Parcel)
    with pytest.raises(ConfigError, match="Parcel is mapped already"):
        s.map(Parcel)

    @dataclass
    class Loose:
        key: int

    with pytest.raises(ConfigError, match=r"no field 'id' to use as its id; .* pass id=\.\.\."):
        s.map(Loose)
    with pytest.raises(ConfigError, match="no field 'rev' to use as its version"):
        s.map(Loose, id="key", version="rev")
    assert s.map(Loose, id="key").stream(Loose(4)) == "Loose:4"
    assert repr(s) == "Schema(Parcel, Loose)"
    assert [m.aggregate for m in s.mappings] == [Parcel, Loose]


async def test_readiness_follows_the_database_and_recovers_without_a_restart():
    service, _ = post_service()
    async with atoll.testing.run(service, argv=["--db-url", "memory://"]) as harness:
        ready = await harness.client.get("/health/ready")
        checks = {"database post": "ok", "consumer post": "ok"}  # its consumer on memory://
        assert (ready.status_code, ready.json()["checks"]) == (200, checks)
        database = harness.container.get(Database, "post")

        async def unreachable() -> None:
            raise DatabaseUnavailableError("cannot reach 127.0.0.1:5432; is PostgreSQL running?")

        database.ping = unreachable
        down = await harness.client.get("/health/ready")
        assert down.status_code == 503
        assert down.json()["checks"] == {
            "database post": "cannot reach 127.0.0.1:5432; is PostgreSQL running?",
            "consumer post": "ok",
        }
        del database.ping
        assert (await harness.client.get("/health/ready")).status_code == 200


async def test_an_event_whose_handler_failed_is_delivered_again_and_handled():
    service, weigh = post_service()
    failures = [RuntimeError("scale away")]
    seen = []

    @service.on(Weighed)
    async def heavy_parcels(event: Weighed, uow: ParcelUnits) -> None:
        if failures:
            raise failures.pop()
        async with uow:
            await uow.commit()
        seen.append(event)

    argv = ["--db-url", "memory://", "--no-db-relay"]
    async with atoll.testing.run(service, argv=argv) as harness:
        await harness.send(weigh(12))
        relay = harness.container.get(OutboxRelay, "post")
        database = harness.container.get(Database, "post")
        assert len(database.unsent()) == 1
        assert await relay.flush() == 1  # once the first delivery is settled: it failed
        assert failures == []
        await harness.settle()  # the consumer delivers it again, after its backoff
        assert seen == [Weighed(1, 12)]
        assert database.unsent() == []


async def test_a_change_that_lost_on_every_run_is_a_409_and_a_json_rpc_error():
    service, _ = post_service()

    @service.rpc
    @service.post("/hot")
    async def hot(uow: ParcelUnits) -> None:
        raise ConflictError("version 3 is not 2", retries=1, backoff=0.0)

    async with atoll.testing.run(service, argv=["--db-url", "memory://"]) as harness:
        answer = await harness.client.post("/hot")
        assert answer.status_code == 409
        assert "met a concurrent change on each of its 2 runs" in answer.json()["detail"]
        with pytest.raises(RemoteError) as raised:
            await harness.rpc.methods.hot()
        assert raised.value.code == -32009


def test_a_service_rule_for_conflicts_wins_over_atolls():
    service = atoll.Service("post")
    service.error(TooManyConflictsError, status=503, code=-32050)
    service.database(schema())
    fault = service.api().faults.describe(TooManyConflictsError("gave up"))
    assert (fault.status, fault.code) == (503, -32050)
