"""The users infrastructure: the users table, and the repository over it."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

import atoll
from runnerly.users.model import User

__all__ = ["UserRecords", "schema", "users"]

metadata = sa.MetaData()
users = sa.Table(
    "users",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("email", sa.String(320), nullable=False, unique=True),
    sa.Column("name", sa.String(200), nullable=False),
)

schema = atoll.Schema(metadata, migrations=Path(__file__).with_name("migrations"))
schema.map(User, users)


class UserRecords(atoll.Repository[User]):
    """The users, in the users service's database."""

    async def by_email(self, email: str) -> User | None:
        """The user with this email, if any."""
        found = await self.find(email=email)
        return found[0] if found else None
