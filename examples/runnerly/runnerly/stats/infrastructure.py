"""The stats infrastructure: the weekly totals table, and the repository over it."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import sqlalchemy as sa

import atoll
from runnerly.stats.model import WeeklyTotal

__all__ = ["WeeklyTotalRecords", "schema", "weekly_totals"]

metadata = sa.MetaData()
weekly_totals = sa.Table(
    "weekly_totals",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("user_id", sa.Integer, nullable=False),
    sa.Column("week", sa.Date, nullable=False),
    sa.Column("meters", sa.Float, nullable=False),
    sa.Column("runs", sa.Integer, nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.UniqueConstraint("user_id", "week"),
)

schema = atoll.Schema(metadata, migrations=Path(__file__).with_name("migrations"))
schema.map(WeeklyTotal, weekly_totals, version="version")


class WeeklyTotalRecords(atoll.Repository[WeeklyTotal]):
    """The weekly totals, in the stats service's database."""

    async def week(self, user_id: int, week: date) -> WeeklyTotal | None:
        """A runner's total for the week that starts on ``week``, if any."""
        found = await self.find(user_id=user_id, week=week)
        return found[0] if found else None

    async def of_user(self, user_id: int) -> list[WeeklyTotal]:
        """A runner's weekly totals, oldest week first."""
        return sorted(await self.find(user_id=user_id), key=lambda total: total.week)
