"""A value no database column holds is the caller's 422, naming it, never a 500."""

import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

import asyncpg
import pytest
import sqlalchemy as sa

import atoll
import atoll.testing
from atoll.errors import RemoteError
from atoll.persistence.schema import Schema


@dataclass
class Member:
    id: int | None
    points: int


@dataclass(frozen=True)
class Join:
    points: int


metadata = sa.MetaData()
members = sa.Table(
    "members",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("points", sa.Integer, nullable=False),
)
schema = Schema(metadata)
schema.map(Member, members)


class Units(atoll.UnitOfWork):
    members: atoll.Repository[Member]


def club() -> atoll.Service:
    service = atoll.Service("club")
    service.database(schema, Units)

    @service.rpc
    @service.get("/members/{member_id}")
    async def member(member_id: int, uow: Units) -> int:
        async with uow:
            found = await uow.members.get(member_id)
        return -1 if found is None else found.points

    @service.command(Join, path="/members", status=201)
    async def join(command: Join, uow: Units) -> int:
        async with uow:
            added = await uow.members.add(Member(None, command.points))
            await uow.commit()
        return added.id or 0

    return service


HUGE = 99999999999999999999999


async def test_a_path_or_a_param_past_64_bits_is_a_422_naming_it(tmp_path):
    async with atoll.testing.run(club(), argv=["--db-data-dir", str(tmp_path)]) as harness:
        answer = await harness.client.get(f"/members/{HUGE}")
        with pytest.raises(RemoteError) as refused:
            await harness.rpc.methods.member(member_id=HUGE)
    assert answer.status_code == 422
    assert "of 64 bits at the most" in answer.json()["detail"]
    assert "path.member_id" in answer.json()["detail"]
    assert refused.value.code == -32602  # JSON-RPC's invalid params
    assert "member_id" in str(refused.value)


async def test_a_field_past_the_database_s_range_is_a_422_not_a_500(tmp_path):
    async with atoll.testing.run(club(), argv=["--db-data-dir", str(tmp_path)]) as harness:
        answer = await harness.client.post("/members", json={"points": HUGE})
    assert answer.status_code == 422
    assert "out of the range its column holds" in answer.json()["detail"]


class Moment(sa.TypeDecorator[datetime]):
    """A moment kept in UTC, as Runnerly keeps one: year 1 at +23:59 is before the year 1."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        return None if value is None else value.astimezone(UTC)


@dataclass
class Badge:
    id: int | None
    secret: str
    issued: datetime


@dataclass(frozen=True)
class Issue:
    secret: str
    issued: datetime


badges_metadata = sa.MetaData()
badges = sa.Table(
    "badges",
    badges_metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("secret", sa.String, nullable=False),
    sa.Column("issued", Moment, nullable=False),
)
badges_schema = Schema(badges_metadata)
badges_schema.map(Badge, badges)


class Badges(atoll.UnitOfWork):
    badges: atoll.Repository[Badge]


def badge_office() -> atoll.Service:
    service = atoll.Service("badges")
    service.database(badges_schema, Badges)

    @service.command(Issue, path="/badges", status=201)
    async def issue(command: Issue, uow: Badges) -> int:
        async with uow:
            added = await uow.badges.add(Badge(None, command.secret, command.issued))
            await uow.commit()
        return added.id or 0

    return service


async def test_a_value_refused_on_its_way_to_the_column_shows_no_statement_nor_values(
    tmp_path, caplog
):
    caplog.set_level(logging.DEBUG)
    body = {"secret": "hash-of-a-password", "issued": "0001-01-01T00:00:00+23:59"}
    async with atoll.testing.run(badge_office(), argv=["--db-data-dir", str(tmp_path)]) as harness:
        answer = await harness.client.post("/badges", json=body)
    assert answer.status_code == 422
    detail = answer.json()["detail"]
    assert detail == (
        "cannot add a Badge (table badges): a value is out of the range its column holds "
        "(date value out of range); nothing was written"
    )
    logged = caplog.text + "".join(repr(record.args) for record in caplog.records)
    assert "hash-of-a-password" not in answer.text + logged


@pytest.mark.services("postgres")
async def test_a_value_past_a_postgresql_column_s_type_is_a_422():
    name = f"atoll_range_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect("postgresql://postgres@127.0.0.1:5432/test")
    await admin.execute(f'CREATE DATABASE "{name}"')
    url = f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"
    try:
        argv = ["--db-url", url, "--db-migrate", "always"]
        async with atoll.testing.run(club(), argv=argv) as harness:
            answer = await harness.client.get(f"/members/{3_000_000_000}")  # int4 holds 2**31
            with pytest.raises(RemoteError) as refused:
                await harness.rpc.methods.member(member_id=3_000_000_000)
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
    assert answer.status_code == 422
    assert "out of the range its column holds" in answer.json()["detail"]
    assert refused.value.code == -32011
