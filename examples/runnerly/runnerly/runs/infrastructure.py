"""The runs infrastructure: an in-memory repository and the in-process way to ask users."""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING

from runnerly.users.application import Users
from runnerly.users.domain import UnknownUserError

if TYPE_CHECKING:
    from runnerly.runs.model import Run


class InMemoryRunRepository:
    """Runs kept in a list, for the demo and for tests."""

    def __init__(self) -> None:
        self._runs: list[Run] = []
        self._ids = itertools.count(1)

    def next_id(self) -> int:
        """A fresh id for a new run."""
        return next(self._ids)

    def add(self, run: Run) -> None:
        """Keep a new run."""
        self._runs.append(run)

    def of_user(self, user_id: int) -> list[Run]:
        """A runner's runs, oldest first."""
        return sorted((r for r in self._runs if r.user_id == user_id), key=lambda r: r.started_at)


class LocalUserDirectory:
    """Asks the users service in the same process (a remote client replaces it when apart)."""

    def __init__(self, users: Users) -> None:
        self._users = users

    def exists(self, user_id: int) -> bool:
        """Whether a runner with this id is registered."""
        try:
            self._users.profile(user_id)
        except UnknownUserError:
            return False
        return True
