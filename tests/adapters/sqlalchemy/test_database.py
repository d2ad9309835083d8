"""The SQL adapter: the database port over SQLite and PostgreSQL, tested against both, for real.

The PostgreSQL tests run in a database of their own, made for the session and dropped after
it, so that they share no table with any other test run on the server.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import threading
import uuid
from dataclasses import dataclass, field

import asyncpg
import pytest
import sqlalchemy as sa

import atoll
import atoll.testing
from atoll.adapters.sqlalchemy import SqlDatabase, SqlTransaction, add_outbox_tables
from atoll.errors import (
    AlreadyExistsError,
    ConfigError,
    ConflictError,
    DatabaseUnavailableError,
    DuplicateMessageError,
    MissingDependencyError,
    PersistenceError,
)
from atoll.messaging.envelope import Envelope
from atoll.persistence.options import DatabaseOptions
from atoll.persistence.repository import Repository
from atoll.persistence.schema import Schema
from atoll.persistence.unit_of_work import UnitOfWork

ADMIN = "postgresql://postgres@127.0.0.1:5432/test"
POSTGRES = pytest.mark.services("postgres")

metadata = sa.MetaData()
runs = sa.Table(
    "sqla_runs",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("user", sa.String(50), nullable=False),
    sa.Column("meters", sa.Integer, nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
)
notes = sa.Table(
    "sqla_notes",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("text", sa.String(50), nullable=False),
)
tags = sa.Table(
    "sqla_tags",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(50), nullable=False),
)


@dataclass
class Run:
    user: str
    meters: int = 0
    id: int | None = None
    version: int = 0
    label: str = "new"  # no column: a plain default
    events: list[object] = field(default_factory=list, compare=False, repr=False)


@dataclass
class Note:
    text: str
    id: int | None = None


@dataclass(frozen=True)
class Tag:
    name: str
    id: int | None = None


SCHEMA = Schema(metadata)
RUNS = SCHEMA.map(Run, runs, version="version")
NOTES = SCHEMA.map(Note, notes)
TAGS = SCHEMA.map(Tag, tags)


# -- fixtures ----------------------------------------------------------------------------------


async def admin(statement: str) -> None:
    connection = await asyncpg.connect(ADMIN)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


@pytest.fixture(scope="session")
def pg_database():
    """The URL of a PostgreSQL database made for this session, dropped after it."""
    name = f"atoll_sqla_{uuid.uuid4().hex[:12]}"
    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    yield f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"
    asyncio.run(admin(f'DROP DATABASE "{name}" WITH (FORCE)'))


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=POSTGRES)])
def url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path}/runs.db"
    return request.getfixturevalue("pg_database")


@pytest.fixture
def pg_url(pg_database):
    return pg_database


def make(url: str, schema: Schema = SCHEMA, **options) -> SqlDatabase:
    if url.startswith("postgres"):  # the tests make PostgreSQL's tables: none checked at start
        options.setdefault("migrate", "never")
    made = DatabaseOptions(**options)
    # Given as is, as code may give it: the options refuse a URL no adapter reads (tested
    # there); here the adapter's own checks are the subject.
    object.__setattr__(made, "url", url)
    return SqlDatabase(made, schema, "runs")


async def emptied(database: SqlDatabase) -> SqlDatabase:
    """``database`` with its tables made anew: SQLite's file is new, PostgreSQL's is shared."""
    async with database.engine.begin() as connection:
        await connection.run_sync(database.metadata.drop_all)
    await database.create_tables()
    return database


@pytest.fixture
async def database(url):
    database = make(url)
    await database.start()
    try:
        yield await emptied(database)
    finally:
        await database.stop()


@pytest.fixture
async def pg(pg_url):
    database = make(pg_url)
    await database.start()
    try:
        yield await emptied(database)
    finally:
        await database.stop()


async def commit_new(database: SqlDatabase, mapping, *aggregates):
    transaction = await database.begin()
    for aggregate in aggregates:
        await transaction.add(mapping, aggregate)
    await transaction.commit([], None)
    return aggregates


def envelope(stream: str = "", n: int = 0) -> Envelope:
    return Envelope(uuid.uuid4().hex, "tests.Happened", b'{"n":%d}' % n, stream, {"n": str(n)})


async def publish(database: SqlDatabase, *envelopes: Envelope) -> None:
    transaction = await database.begin()
    await transaction.commit(envelopes, None)


async def outbox_rows(database: SqlDatabase) -> list[tuple[int, bytes, bool]]:
    table = database.outbox_table
    async with database.engine.connect() as connection:
        rows = await connection.execute(
            sa.select(table.c.position, table.c.payload, table.c.sent_at.is_not(None)).order_by(
                table.c.position
            )
        )
        return [tuple(row) for row in rows]


# -- logs ---------------------------------------------------------------------------------------


async def test_with_every_library_logging_at_debug_no_value_written_or_read_is_logged(url, caplog):
    caplog.set_level(logging.DEBUG)
    libraries = [logging.getLogger(name) for name in ("sqlalchemy", "aiosqlite", "asyncpg")]
    levels = [library.level for library in libraries]
    for library in libraries:
        library.setLevel(logging.DEBUG)
    try:
        database = make(url)
        await database.start()
        try:
            await emptied(database)
            (note,) = await commit_new(database, NOTES, Note("private-note-value"))
            transaction = await database.begin()
            assert (await transaction.get(NOTES, note.id)).text == "private-note-value"
            await transaction.commit([], None)
        finally:
            await database.stop()
    finally:
        for library, level in zip(libraries, levels, strict=True):
            library.setLevel(level)
    logged = caplog.text + "".join(repr(record.args) for record in caplog.records)
    assert "INSERT INTO sqla_notes" in logged  # what was run is still told
    assert "private-note-value" not in logged


# -- aggregates --------------------------------------------------------------------------------


async def test_an_added_aggregate_gets_an_id_and_is_read_back_in_a_new_transaction(database):
    transaction = await database.begin()
    run = Run("ann", 5000)
    await transaction.add(RUNS, run)
    assert run.id is not None
    await transaction.commit([], None)

    transaction = await database.begin()
    again = await transaction.get(RUNS, run.id)
    assert (again.user, again.meters, again.version) == ("ann", 5000, 0)
    assert again is await transaction.get(RUNS, run.id)
    assert await transaction.get(RUNS, 987654) is None
    await transaction.rollback()


async def test_fields_that_are_no_column_get_their_defaults_on_load(database):
    (run,) = await commit_new(database, RUNS, Run("ann", label="kept in memory only"))
    transaction = await database.begin()
    first = await transaction.get(RUNS, run.id)
    (second,) = await commit_new(database, RUNS, Run("bob"))
    other = await transaction.get(RUNS, second.id)
    assert (first.label, first.events) == ("new", [])
    assert first.events is not other.events
    await transaction.rollback()


async def test_frozen_aggregates_are_added_and_read(database):
    (tag,) = await commit_new(database, TAGS, Tag("fast"))
    assert tag.id is not None
    transaction = await database.begin()
    assert await transaction.get(TAGS, tag.id) == Tag("fast", tag.id)
    await transaction.remove(TAGS, await transaction.get(TAGS, tag.id))
    await transaction.commit([], None)
    transaction = await database.begin()
    assert await transaction.get(TAGS, tag.id) is None
    await transaction.rollback()


async def test_find_filters_by_attributes_in_id_order(database):
    await commit_new(database, NOTES, Note("b", 3), Note("a", 1), Note("b", 2))
    transaction = await database.begin()
    assert [n.id for n in await transaction.find(NOTES, {"text": "b"})] == [2, 3]
    assert [n.id for n in await transaction.find(NOTES, {})] == [1, 2, 3]
    with pytest.raises(PersistenceError, match="Note has no attribute colour to find by; its"):
        await transaction.find(NOTES, {"colour": "red"})
    await transaction.rollback()


async def test_remove_deletes_and_refuses_an_aggregate_it_did_not_get(database):
    (note, _kept) = await commit_new(database, NOTES, Note("gone"), Note("kept"))
    transaction = await database.begin()
    with pytest.raises(PersistenceError, match="this unit of work did not get it"):
        await transaction.remove(NOTES, note)
    with pytest.raises(PersistenceError, match="did not get it"):
        await transaction.remove(NOTES, object())
    await transaction.remove(NOTES, await transaction.get(NOTES, note.id))
    await transaction.commit([], None)
    transaction = await database.begin()
    assert [n.text for n in await transaction.find(NOTES, {})] == ["kept"]
    await transaction.rollback()


async def test_an_added_then_removed_aggregate_is_not_kept(database):
    transaction = await database.begin()
    note = Note("brief")
    await transaction.add(NOTES, note)
    await transaction.remove(NOTES, note)
    await transaction.commit([], None)
    transaction = await database.begin()
    assert await transaction.find(NOTES, {}) == []
    await transaction.rollback()


async def test_each_commit_that_changes_an_aggregate_adds_one_to_its_version(database):
    (run,) = await commit_new(database, RUNS, Run("ann"))
    assert run.version == 0
    for expected in (1, 2):
        transaction = await database.begin()
        loaded = await transaction.get(RUNS, run.id)
        loaded.meters += 100
        await transaction.commit([], None)
        assert loaded.version == expected
    transaction = await database.begin()
    await transaction.get(RUNS, run.id)  # read, not changed: no new version
    await transaction.commit([], None)
    transaction = await database.begin()
    assert (await transaction.get(RUNS, run.id)).version == 2
    await transaction.rollback()


async def test_of_two_concurrent_changes_the_first_commit_wins(database):
    (run,) = await commit_new(database, RUNS, Run("ann"))
    first, second = await database.begin(), await database.begin()
    mine, theirs = await first.get(RUNS, run.id), await second.get(RUNS, run.id)
    mine.meters, theirs.meters = 1, 2
    await first.commit([envelope("Run:1")], None)
    with pytest.raises(ConflictError, match=r"cannot commit the changes to Run: another unit") as e:
        await second.commit([envelope("Run:1")], None)
    assert "sqla_runs" in str(e.value)
    assert mine.version == 1
    await second.rollback()  # over already: nothing happens
    transaction = await database.begin()
    assert (await transaction.get(RUNS, run.id)).meters == 1
    await transaction.rollback()
    assert len(await outbox_rows(database)) == 1


async def test_adding_a_key_that_exists_is_refused_at_once_naming_it(database, caplog):
    caplog.set_level("INFO", "atoll.db")
    await commit_new(database, NOTES, Note("first", 7))
    transaction = await database.begin()
    with pytest.raises(
        AlreadyExistsError, match=r"cannot add a Note \(table sqla_notes\): a row"
    ) as refused:
        await transaction.add(NOTES, Note("second", 7))
    assert refused.value.constraint  # as the database names it
    assert "exists already" in caplog.text  # logged
    with pytest.raises(PersistenceError, match="this transaction is over"):
        await transaction.get(NOTES, 7)


async def test_other_database_errors_stay_sqlalchemy_s(database):
    transaction = await database.begin()
    with pytest.raises(sa.exc.IntegrityError):
        await transaction.add(NOTES, Note(None))  # type: ignore[arg-type]
    await transaction.rollback()


async def test_a_misuse_sqlalchemy_refuses_stays_its_error(database):
    transaction = await database.begin()
    with pytest.raises(sa.exc.InvalidRequestError, match="Incorrect number of values"):
        await transaction.get(NOTES, (1, 2))
    await transaction.rollback()


async def test_the_session_is_there_for_queries_of_the_service_s_own(database):
    await commit_new(database, NOTES, Note("a"), Note("b"))
    transaction = await database.begin()
    assert isinstance(transaction, SqlTransaction)
    count = await transaction.session.scalar(sa.select(sa.func.count()).select_from(notes))
    assert count == 2
    await transaction.rollback()


# -- outbox and inbox --------------------------------------------------------------------------


async def test_commit_writes_the_outbox_in_order_and_a_rollback_nothing(database):
    events = [envelope("Run:1", n) for n in range(5)]
    await publish(database, *events)
    transaction = await database.begin()
    await transaction.add(NOTES, Note("never"))
    await transaction.rollback()
    rows = await outbox_rows(database)
    assert [payload for _, payload, _ in rows] == [e.payload for e in events]
    assert [position for position, _, _ in rows] == sorted(position for position, _, _ in rows)
    transaction = await database.begin()
    assert await transaction.find(NOTES, {}) == []
    await transaction.rollback()


async def test_an_inbox_entry_committed_twice_is_a_duplicate_and_writes_nothing(database):
    transaction = await database.begin()
    assert not await transaction.seen("runs.count", "m-1")
    await transaction.add(NOTES, Note("once"))
    await transaction.commit([envelope()], ("runs.count", "m-1"))

    transaction = await database.begin()
    assert await transaction.seen("runs.count", "m-1")
    assert not await transaction.seen("runs.other", "m-1")
    await transaction.add(NOTES, Note("twice"))
    with pytest.raises(DuplicateMessageError, match=r"runs.count has committed the effect of m"):
        await transaction.commit([envelope()], ("runs.count", "m-1"))
    transaction = await database.begin()
    assert [n.text for n in await transaction.find(NOTES, {})] == ["once"]
    await transaction.rollback()
    assert len(await outbox_rows(database)) == 1


async def test_a_claim_gives_each_stream_in_the_order_it_committed(database):
    sent = [envelope("A", 1), envelope("B", 1), envelope("", 1), envelope("A", 2)]
    await publish(database, *sent[:2])
    await publish(database, *sent[2:])
    claim = await database.claim_outbox(10)
    assert [r.envelope for r in claim.records] == sent
    assert claim.records[0].envelope.headers == {"n": "1"}
    positions = [r.position for r in claim.records]
    assert positions == sorted(positions)
    await claim.settle(positions[:2])
    rest = await database.claim_outbox(10)
    assert [r.envelope for r in rest.records] == sent[2:]
    await rest.settle([])
    assert [sent for _, _, sent in await outbox_rows(database)] == [True, True, False, False]


async def test_a_claim_is_settled_once_and_with_its_own_records(database):
    await publish(database, envelope("A", 1), envelope("A", 2))
    claim = await database.claim_outbox(1)
    (record,) = claim.records
    with pytest.raises(PersistenceError, match=r"positions \[\d+\] sent: this claim does not"):
        await claim.settle([record.position + 1])
    with pytest.raises(PersistenceError, match="settled already"):
        await claim.settle([record.position])
    again = await database.claim_outbox(1)
    assert again.records == [record]  # nothing was marked
    await again.settle([record.position])
    empty = await database.claim_outbox(1)
    assert [r.envelope.payload for r in empty.records] == [b'{"n":2}']
    await empty.settle([])


@POSTGRES
async def test_concurrent_claims_share_no_record_and_keep_each_stream_in_order(pg):
    # A1 B1 A2 C1 | D1 "" A3 B2 D2 "" C2
    order = ["A", "B", "A", "C", "D", "", "A", "B", "D", "", "C"]
    await publish(pg, *(envelope(stream, n) for n, stream in enumerate(order)))
    first = await pg.claim_outbox(4)
    assert [r.envelope.stream for r in first.records] == ["A", "B", "A", "C"]
    second = await pg.claim_outbox(100)
    # A, B and C wait for the first claim, which holds their heads; D and "" are free.
    assert [r.envelope.stream for r in second.records] == ["D", "", "D", ""]
    await first.settle([r.position for r in first.records])
    # What the second left out it holds locked still, until it settles.
    third = await pg.claim_outbox(100)
    assert list(third.records) == []
    await third.settle([])
    await second.settle([r.position for r in second.records[:2]])
    fourth = await pg.claim_outbox(100)
    assert [r.envelope.stream for r in fourth.records] == ["A", "B", "D", "", "C"]
    await fourth.settle([])


@POSTGRES
async def test_a_claim_that_fails_gives_its_connection_back(pg):
    with pytest.raises(sa.exc.DBAPIError, match="LIMIT must not be negative"):
        await pg.claim_outbox(-1)
    assert pg.engine.pool.checkedout() == 0


@POSTGRES
async def test_relays_at_once_publish_every_record_once_and_each_stream_in_order(pg):
    streams = ["A", "B", "C", "D", ""]
    sent = [envelope(streams[n % 5], n) for n in range(60)]
    for start in range(0, 60, 6):
        await publish(pg, *sent[start : start + 6])
    published: list[Envelope] = []

    async def relay():
        while len(published) < len(sent):
            claim = await pg.claim_outbox(4)
            for record in claim.records:
                published.append(record.envelope)
                await asyncio.sleep(0)
            await claim.settle([r.position for r in claim.records])
            await asyncio.sleep(0.001)

    async with asyncio.timeout(30):
        await asyncio.gather(relay(), relay(), relay())
    assert sorted(e.id for e in published) == sorted(e.id for e in sent)
    for stream in streams[:-1]:
        assert [e for e in published if e.stream == stream] == [
            e for e in sent if e.stream == stream
        ]


# -- concurrency on each database --------------------------------------------------------------


async def test_a_sqlite_writer_kept_waiting_past_the_busy_timeout_is_a_conflict(tmp_path):
    database = make(f"sqlite+aiosqlite:///{tmp_path}/runs.db", connect_timeout=0.5)
    await database.start()
    try:
        first, second = await database.begin(), await database.begin()
        await first.add(NOTES, Note("holds the write lock"))
        with pytest.raises(ConflictError, match=r"stayed locked by another writer .* \(0.5 s"):
            await second.add(NOTES, Note("waits"))
        await first.commit([], None)
    finally:
        await database.stop()


@POSTGRES
async def test_a_serialization_failure_is_a_conflict(pg_url):
    database = make(pg_url, isolation="serializable")
    await database.start()
    try:
        await emptied(database)
        (note,) = await commit_new(database, NOTES, Note("zero"))
        first, second = await database.begin(), await database.begin()
        mine, theirs = await first.get(NOTES, note.id), await second.get(NOTES, note.id)
        mine.text, theirs.text = "first", "second"
        await first.commit([], None)
        with pytest.raises(ConflictError, match=r"40001.*at isolation serializable"):
            await second.commit([], None)
    finally:
        await database.stop()


@POSTGRES
async def test_a_deadlock_is_a_conflict(pg):
    one, two = await commit_new(pg, RUNS, Run("one"), Run("two"))
    first, second = await pg.begin(), await pg.begin()
    for transaction in (first, second):
        await transaction.session.execute(sa.text("SET LOCAL deadlock_timeout = '20ms'"))
    (await first.get(RUNS, one.id)).meters = 1
    await first.find(RUNS, {})  # flushes: the first locks one
    (await second.get(RUNS, two.id)).meters = 2
    await second.find(RUNS, {})  # the second locks two
    (await first.get(RUNS, two.id)).meters = 1
    (await second.get(RUNS, one.id)).meters = 2
    outcomes = await asyncio.gather(
        first.find(RUNS, {}), second.find(RUNS, {}), return_exceptions=True
    )
    conflicts = [o for o in outcomes if isinstance(o, ConflictError)]
    assert len(conflicts) == 1
    assert "deadlocked with a concurrent transaction (SQLSTATE 40P01)" in str(conflicts[0])
    for transaction in (first, second):
        await transaction.rollback()


# -- SQLite ------------------------------------------------------------------------------------


async def test_sqlite_runs_in_wal_mode_with_a_busy_timeout_and_foreign_keys(tmp_path):
    database = make(f"sqlite+aiosqlite:///{tmp_path}/runs.db", connect_timeout=2.5)
    await database.start()
    try:
        async with database.engine.connect() as connection:
            pragmas = [
                (await connection.execute(sa.text(f"PRAGMA {name}"))).scalar()
                for name in ("journal_mode", "busy_timeout", "foreign_keys")
            ]
        assert pragmas == ["wal", 2500, 1]
    finally:
        await database.stop()


async def test_a_connect_timeout_of_0_makes_sqlite_wait_for_ever_on_a_lock(tmp_path):
    database = make(f"sqlite+aiosqlite:///{tmp_path}/runs.db", connect_timeout=0)
    await database.start()
    try:
        async with database.engine.connect() as connection:
            busy = (await connection.execute(sa.text("PRAGMA busy_timeout"))).scalar()
        assert busy == 2**31 - 1
        await database.ping()
    finally:
        await database.stop()


async def test_sqlite_makes_the_directory_of_its_file_and_its_tables(tmp_path):
    options = DatabaseOptions(data_dir=str(tmp_path / "data" / "deep"))
    database = SqlDatabase(options, SCHEMA, "runs")
    assert database.url == f"sqlite+aiosqlite:///{tmp_path}/data/deep/runs.db"
    await database.start()
    try:
        (note,) = await commit_new(database, NOTES, Note("kept"))
        assert note.id == 1
    finally:
        await database.stop()
    assert (tmp_path / "data" / "deep" / "runs.db").is_file()


async def test_the_short_sqlite_url_speaks_aiosqlite(tmp_path):
    database = make(f"sqlite:///{tmp_path}/runs.db")
    await database.start()
    try:
        assert database.engine.url.drivername == "sqlite+aiosqlite"
    finally:
        await database.stop()


async def test_a_read_only_sqlite_database_cannot_be_written(tmp_path):
    writable = make(f"sqlite+aiosqlite:///{tmp_path}/runs.db")
    await writable.start()
    await writable.stop()
    database = make(f"sqlite+aiosqlite:///file:{tmp_path}/runs.db?mode=ro&uri=true")
    await database.start()
    try:
        transaction = await database.begin()
        with pytest.raises(DatabaseUnavailableError, match="readonly database"):
            await transaction.add(NOTES, Note("refused"))
        await transaction.rollback()
    finally:
        await database.stop()


async def test_a_missing_table_stays_sqlalchemy_s_error(tmp_path):
    database = make(f"sqlite+aiosqlite:///{tmp_path}/runs.db")
    await database.start()
    try:
        async with database.engine.begin() as connection:
            await connection.execute(sa.text("DROP TABLE sqla_notes"))
        transaction = await database.begin()
        with pytest.raises(sa.exc.OperationalError, match="no such table"):
            await transaction.find(NOTES, {})
        await transaction.rollback()
    finally:
        await database.stop()


async def aiosqlite_threads_stopped() -> None:
    """Wait for aiosqlite's threads to end while the loop runs, which they post their end to.

    aiosqlite stops the thread of a connection that failed to open without waiting for it
    (omnilib/aiosqlite#387); if the test's loop closed first, the thread would raise.
    """
    async with asyncio.timeout(5):
        while any("_connection_worker_thread" in t.name for t in threading.enumerate()):  # noqa: ASYNC110 - aiosqlite gives nothing to wait on
            await asyncio.sleep(0.01)


@pytest.mark.parametrize(
    ("what", "expected"),
    [("directory", "unable to open database file"), ("junk", "file is not a database")],
)
async def test_a_sqlite_file_that_cannot_be_opened_is_unavailable(tmp_path, what, expected):
    path = tmp_path / "runs.db"
    if what == "directory":
        path.mkdir()
    else:
        path.write_bytes(b"not a database, at all" * 100)
    database = make(f"sqlite+aiosqlite:///{path}")
    with pytest.raises(DatabaseUnavailableError) as error:
        await database.start()
    await aiosqlite_threads_stopped()
    assert f"cannot open the SQLite database {path} to start:" in str(error.value)
    assert expected in str(error.value)
    assert "--db-url or --db-data-dir" in str(error.value)
    with pytest.raises(PersistenceError, match="is not started"):
        _ = database.engine


async def test_a_sqlite_directory_that_cannot_be_made_is_unavailable(tmp_path):
    (tmp_path / "file").write_text("in the way")
    database = SqlDatabase(DatabaseOptions(data_dir=str(tmp_path / "file" / "d")), SCHEMA, "runs")
    with pytest.raises(DatabaseUnavailableError, match=r"to create its directory .*/file/d: "):
        await database.start()


async def test_waiting_for_a_connection_longer_than_the_timeout_is_unavailable(tmp_path):
    database = make(f"sqlite+aiosqlite:///{tmp_path}/runs.db", pool_size=1, connect_timeout=0.5)
    await database.start()
    held = [await database.begin() for _ in range(11)]  # the pool's one and its overflow
    try:
        with pytest.raises(DatabaseUnavailableError, match=r"to begin a transaction: .*Timeout"):
            await database.begin()
    finally:
        for transaction in held:
            await transaction.rollback()
        await database.stop()


# -- PostgreSQL --------------------------------------------------------------------------------


async def test_a_postgresql_port_where_nothing_listens_is_unavailable_and_hides_the_password():
    database = make("postgresql+asyncpg://u:sekret@127.0.0.1:1/x")
    with pytest.raises(DatabaseUnavailableError) as error:
        await database.start()
    message = str(error.value)
    assert message.startswith("cannot reach PostgreSQL at 127.0.0.1:1 to start: ")
    assert "Is PostgreSQL running on 127.0.0.1:1, and does database 'x' exist?" in message
    assert "postgresql+asyncpg://u:***@127.0.0.1:1/x" in message
    assert "sekret" not in message
    assert "sekret" not in repr(database)
    with pytest.raises(PersistenceError, match="not started"):
        await database.ping()


@POSTGRES
async def test_a_postgresql_database_that_does_not_exist_is_unavailable():
    database = make("postgres://postgres@127.0.0.1:5432/atoll_no_such_database")
    with pytest.raises(DatabaseUnavailableError) as error:
        await database.start()
    assert "InvalidCatalogNameError" in str(error.value)
    assert str(error.value).startswith("PostgreSQL at 127.0.0.1:5432 refused to start: ")
    assert "Check the user, password and database name in --db-url" in str(error.value)


@POSTGRES
async def test_a_role_postgresql_does_not_know_is_a_refusal_not_an_outage():
    database = make("postgresql+asyncpg://atoll_no_such_role@127.0.0.1:5432/test")
    with pytest.raises(DatabaseUnavailableError) as error:
        await database.start()
    told = str(error.value)
    assert told.startswith("PostgreSQL at 127.0.0.1:5432 refused to start: ")
    assert 'role "atoll_no_such_role" does not exist' in told
    assert "cannot reach" not in told


@POSTGRES
async def test_the_short_postgresql_urls_speak_asyncpg(pg_url):
    for scheme in ("postgresql", "postgres"):
        database = make(pg_url.replace("postgresql+asyncpg", scheme))
        await database.start()
        try:
            assert database.engine.url.drivername == "postgresql+asyncpg"
            await database.ping()
        finally:
            await database.stop()


@POSTGRES
async def test_postgresql_units_of_work_run_at_the_isolation_of_the_options(pg_url):
    for isolation, expected in (
        ("read committed", "read committed"),
        ("repeatable read", "repeatable read"),
    ):
        database = make(pg_url, isolation=isolation)
        await database.start()
        try:
            transaction = await database.begin()
            level = await transaction.session.scalar(sa.text("SHOW transaction_isolation"))
            assert level == expected
            await transaction.rollback()
        finally:
            await database.stop()


class Proxy:
    """A TCP relay to PostgreSQL that can be cut and put back: a database that goes and comes."""

    def __init__(self) -> None:
        self.port = 0
        self.server: asyncio.Server | None = None
        self.writers: list[asyncio.StreamWriter] = []

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._relay, "127.0.0.1", self.port)
        self.port = self.server.sockets[0].getsockname()[1]

    async def cut(self) -> None:
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()
        for writer in self.writers:
            writer.transport.abort()
        self.writers.clear()

    async def _relay(self, reader, writer) -> None:
        upstream_reader, upstream_writer = await asyncio.open_connection("127.0.0.1", 5432)
        self.writers += [writer, upstream_writer]

        async def pipe(source, sink):
            try:
                while data := await source.read(65536):
                    sink.write(data)
                    await sink.drain()
            except ConnectionError:
                pass
            finally:
                sink.transport.abort()

        await asyncio.gather(pipe(reader, upstream_writer), pipe(upstream_reader, writer))


@POSTGRES
async def test_ping_fails_while_the_database_is_away_and_succeeds_once_it_is_back(pg_url):
    proxy = Proxy()
    await proxy.start()
    database = make(pg_url.replace("5432", str(proxy.port)), connect_timeout=2)
    await database.start()
    try:
        await database.ping()
        await proxy.cut()
        with pytest.raises(DatabaseUnavailableError) as error:
            await database.ping()
        assert f"cannot reach PostgreSQL at 127.0.0.1:{proxy.port} to answer a ping" in str(
            error.value
        )
        await proxy.start()
        await database.ping()
    finally:
        await database.stop()
        await proxy.cut()


@POSTGRES
async def test_a_connection_lost_in_a_transaction_is_unavailable(pg_url):
    proxy = Proxy()
    await proxy.start()
    database = make(pg_url.replace("5432", str(proxy.port)), connect_timeout=2)
    await database.start()
    try:
        await emptied(database)
        transaction, idle = await database.begin(), await database.begin()
        assert await transaction.get(NOTES, 1) is None
        assert await idle.get(NOTES, 1) is None
        await proxy.cut()
        await idle.rollback()  # its connection is gone: nothing to roll back, and no error
        with pytest.raises(DatabaseUnavailableError, match=f"127.0.0.1:{proxy.port} to get Note"):
            await transaction.get(NOTES, 2)
        await transaction.rollback()
        with pytest.raises(DatabaseUnavailableError, match="to begin a transaction"):
            await database.begin()
        with pytest.raises(DatabaseUnavailableError, match="to claim outbox records"):
            await database.claim_outbox(10)
    finally:
        await database.stop()


@POSTGRES
async def test_a_claim_whose_connection_is_lost_settles_as_unavailable(pg_url):
    proxy = Proxy()
    await proxy.start()
    database = make(pg_url.replace("5432", str(proxy.port)), connect_timeout=2)
    await database.start()
    try:
        await emptied(database)
        await publish(database, envelope("A"), envelope("B"))
        claim, other = await database.claim_outbox(1), await database.claim_outbox(1)
        await proxy.cut()
        with pytest.raises(DatabaseUnavailableError, match="to mark outbox records sent"):
            await claim.settle([r.position for r in claim.records])
        with pytest.raises(DatabaseUnavailableError, match="to mark outbox records sent"):
            await other.settle([])
    finally:
        await database.stop()


# -- lifecycle and configuration ---------------------------------------------------------------


async def test_nothing_happens_before_start_and_a_started_database_starts_once(tmp_path):
    url = f"sqlite+aiosqlite:///{tmp_path}/runs.db"
    database = make(url)
    assert not (tmp_path / "runs.db").exists()
    with pytest.raises(PersistenceError, match=r"the database of runs \(sqlite.*\) is not started"):
        _ = database.engine
    await database.stop()  # not started: nothing to close
    await database.start()
    with pytest.raises(PersistenceError, match="is started already"):
        await database.start()
    await database.stop()
    await database.start()  # again, after a stop
    await database.ping()
    await database.stop()


def test_describe_shows_the_url_without_its_password():
    database = make("postgresql+asyncpg://u:sekret@db.example:6432/runs")
    assert database.describe() == "postgresql+asyncpg://u:***@db.example:6432/runs"
    assert repr(database) == "SqlDatabase(postgresql+asyncpg://u:***@db.example:6432/runs)"
    assert make("nonsense, sekret").describe() == "nonsense, sekret:// (unreadable URL)"


def test_the_outbox_tables_are_in_the_schema_s_metadata_from_construction():
    own = sa.MetaData()
    database = SqlDatabase(DatabaseOptions(), Schema(own), "runs")
    assert (database.outbox_table, database.inbox_table) == add_outbox_tables(own)
    atolls = {
        "atoll_outbox",
        "atoll_inbox",
        "atoll_api_tokens",
        "atoll_idempotency",
        "atoll_leases",
    }
    assert set(own.tables) == atolls
    assert database.api_tokens_table is own.tables["atoll_api_tokens"]
    assert database.keys.table is own.tables["atoll_idempotency"]
    assert database.leases.table is own.tables["atoll_leases"]
    alone = SqlDatabase(DatabaseOptions(), Schema(), "runs")
    assert set(alone.metadata.tables) == atolls
    with pytest.raises(ConfigError, match=r"which is not a sqlalchemy.MetaData"):
        SqlDatabase(DatabaseOptions(), Schema(metadata={}), "runs")


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("nonsense, sekret", r"cannot be read as a URL; expected postgresql\+asyncpg://"),
        ("mysql://u@h/x", "scheme is 'mysql', which the SQL adapter does not speak"),
        ("sqlite+aiosqlite://", "in memory, which lives in one connection"),
        ("sqlite:///:memory:", "use memory:// for atoll's in-memory database"),
    ],
)
async def test_a_url_this_adapter_cannot_use_is_a_config_error(url, expected):
    with pytest.raises(ConfigError, match=expected) as error:
        await make(url).start()
    assert "sekret" not in str(error.value)


async def test_an_isolation_postgresql_has_not_is_a_config_error():
    database = make("postgresql+asyncpg://u@127.0.0.1:1/x", isolation="chaos")
    with pytest.raises(ConfigError, match="isolation 'chaos' is none PostgreSQL has; use one of"):
        await database.start()


@pytest.mark.parametrize(
    ("library", "url", "extra"),
    [
        ("asyncpg", "postgresql://u@127.0.0.1:1/x", "postgres"),
        ("aiosqlite", "sqlite:///x.db", "sql"),
    ],
)
async def test_a_driver_not_installed_names_the_extra(monkeypatch, library, url, extra):
    monkeypatch.setitem(sys.modules, library, None)
    with pytest.raises(MissingDependencyError) as error:
        await make(url).start()
    assert (error.value.library, error.value.extra) == (library, extra)


@dataclass(frozen=True)
class Jot:
    text: str


class NoteUnits(UnitOfWork):
    notes: Repository[Note]


@POSTGRES
async def test_a_service_is_not_ready_while_its_database_is_away_and_recovers_by_itself(pg_url):
    proxy = Proxy()
    await proxy.start()
    service = atoll.Service("notes")
    service.database(SCHEMA, NoteUnits)

    @service.command(Jot)
    async def jot(command: Jot, uow: NoteUnits) -> int:
        async with uow:
            note = await uow.notes.add(Note(command.text))
            await uow.commit()
        return note.id

    url = pg_url.replace("5432", str(proxy.port))
    argv = ["--db-url", url, "--db-migrate", "always", "--db-connect-timeout", "2"]
    try:
        async with atoll.testing.run(service, argv=argv) as harness:
            assert (await harness.client.get("/health/ready")).status_code == 200
            await proxy.cut()
            away = await harness.client.get("/health/ready")
            assert away.status_code == 503
            reason = away.json()["checks"]["database notes"]
            assert f"cannot reach PostgreSQL at 127.0.0.1:{proxy.port}" in reason
            with pytest.raises(DatabaseUnavailableError, match=f"127.0.0.1:{proxy.port}"):
                await harness.send(Jot("lost"))
            await proxy.start()
            assert (await harness.client.get("/health/ready")).status_code == 200
            assert await harness.send(Jot("back")) > 0
    finally:
        await proxy.cut()


async def test_in_a_system_the_errors_name_the_service_s_own_flags(tmp_path):
    options = DatabaseOptions(url="postgresql+asyncpg://u:sekret@127.0.0.1:1/runs")
    database = SqlDatabase(options, Schema(), "runs", section="runs_db")
    with pytest.raises(DatabaseUnavailableError, match="Check --runs-db-url") as error:
        await database.start()
    assert "sekret" not in str(error.value)
    blocked = tmp_path / "file"
    blocked.write_text("")
    sqlite = SqlDatabase(
        DatabaseOptions(url=f"sqlite+aiosqlite:///{blocked}/runs.db"),
        Schema(),
        "runs",
        section="runs_db",
    )
    with pytest.raises(DatabaseUnavailableError, match="--runs-db-url or --runs-db-data-dir"):
        await sqlite.start()


@pytest.fixture
async def fresh_pg():
    """The URL of a PostgreSQL database with no table, dropped afterwards."""
    name = f"atoll_fresh_{uuid.uuid4().hex[:12]}"
    await admin(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"
    finally:
        await admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@POSTGRES
async def test_a_service_refuses_to_start_on_tables_never_made_and_says_how(fresh_pg):
    database = make(fresh_pg, migrate="embedded")
    with pytest.raises(PersistenceError) as refused:
        await database.start()
    told = str(refused.value)
    missing = (
        "it has no table atoll_api_tokens, atoll_idempotency, atoll_inbox, atoll_leases, "
        "atoll_outbox"
    )
    assert f"is not up to date for runs: {missing}" in told
    # The schema has no migrations, which `atoll db upgrade` would refuse: not suggested alone.
    assert "Have the service make its tables at start with --db-migrate always" in told
    assert "declare its migrations (Schema(metadata, migrations=" in told
    migrating = make(fresh_pg, migrate="always")
    await migrating.start()  # as told: the tables made at start
    await migrating.stop()
    database = make(fresh_pg, migrate="embedded")
    await database.start()  # now up to date: it starts
    await database.stop()


@POSTGRES
async def test_a_schema_whose_migrations_are_not_written_yet_is_told_to_write_the_first(
    fresh_pg, tmp_path
):
    unwritten = Schema(metadata, migrations=tmp_path / "migrations")
    unwritten.map(Tag, tags)
    database = SqlDatabase(DatabaseOptions(url=fresh_pg), unwritten, "runs", section="runs_db")
    with pytest.raises(PersistenceError) as refused:
        await database.start()
    told = str(refused.value)
    assert (
        'Write its first migration with `atoll db revision MODULE:OBJECT --service runs -m "first"`'
        in told
    )
    assert "apply it with `atoll db upgrade MODULE:OBJECT --service runs --runs-db-url URL`" in told
    assert "--runs-db-migrate always" in told


@POSTGRES
async def test_a_database_behind_the_migrations_head_is_refused_naming_both(fresh_pg, tmp_path):
    from atoll.adapters.sqlalchemy.migrations import Migrations  # noqa: PLC0415

    migrated = Schema(metadata, migrations=tmp_path / "migrations")
    migrated.map(Tag, tags)
    migrations = Migrations(migrated, fresh_pg, "runs")
    migrations.create_directory()
    written = await asyncio.to_thread(migrations.revision, "tags")
    assert written is not None
    head = written.revision
    database = SqlDatabase(DatabaseOptions(url=fresh_pg), migrated, "runs", section="runs_db")
    with pytest.raises(PersistenceError) as refused:
        await database.start()
    told = str(refused.value)
    assert f"it is at revision none (no table made) and the migrations' head is {head}" in told
    assert "atoll db upgrade MODULE:OBJECT --service runs --runs-db-url URL" in told
    assert "--runs-db-migrate always" in told
