"""A unique value added twice is answered at once, not retried as a conflict."""

from dataclasses import dataclass

import sqlalchemy as sa

import atoll
import atoll.testing
from atoll.persistence.schema import Schema


@dataclass
class Member:
    id: int | None
    email: str


metadata = sa.MetaData()
members = sa.Table(
    "members",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("email", sa.String(100), nullable=False, unique=True),
)
schema = Schema(metadata)
schema.map(Member, members)


class Units(atoll.UnitOfWork):
    members: atoll.Repository[Member]


def club(runs: list[str]) -> atoll.Service:
    service = atoll.Service("club")
    service.database(schema, Units)

    @service.rpc
    @service.post("/members", status=201)
    async def join(email: str, uow: Units) -> int:
        runs.append(email)
        async with uow:
            member = await uow.members.add(Member(None, email))
            await uow.commit()
        assert member.id is not None
        return member.id

    return service


async def test_a_unique_value_added_twice_is_a_409_at_once_naming_the_constraint(tmp_path):
    runs: list[str] = []
    argv = ["--db-data-dir", str(tmp_path), "--db-migrate", "always"]
    async with atoll.testing.run(club(runs), argv=argv) as harness:
        first = await harness.client.post("/members", params={"email": "ada@example.org"})
        again = await harness.client.post("/members", params={"email": "ada@example.org"})
        try:
            await harness.rpc.methods.join(email="ada@example.org")
        except atoll.errors.RemoteError as error:
            refused = error
    assert first.status_code == 201
    assert again.status_code == 409
    problem = again.json()
    assert "exists already" in problem["detail"]
    assert "members.email" in problem["detail"]  # SQLite names the column it keeps unique
    assert refused.code == -32010
    assert runs == ["ada@example.org"] * 3  # once each: never run again
