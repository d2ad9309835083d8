"""The stats domain: the read model's port, and what a week is."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from runnerly.stats.model import WeeklyTotal


class UnknownRunnerError(LookupError):
    """No runner has this id; or she is not the caller, who is told the same way."""

    def __init__(self, user_id: object) -> None:
        super().__init__(f"no runner with id {user_id}")
        self.user_id = user_id


class WeeklyTotals(Protocol):
    """Where weekly totals are kept."""

    async def add(self, total: WeeklyTotal) -> WeeklyTotal:
        """Keep a new week's total."""
        ...

    async def week(self, user_id: int, week: date) -> WeeklyTotal | None:
        """A runner's total for the week that starts on ``week``, if any run counted yet."""
        ...

    async def remove(self, total: WeeklyTotal) -> None:
        """Forget a week's total: its last run was deleted."""
        ...

    async def of_user(self, user_id: int) -> list[WeeklyTotal]:
        """A runner's weekly totals, oldest week first."""
        ...


def monday_of(moment: datetime) -> date:
    """The Monday of the week of ``moment``, in its own time zone."""
    day = moment.date()
    return day - timedelta(days=day.weekday())
