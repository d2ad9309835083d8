"""The users infrastructure: an in-memory repository (SQL joins it with persistence)."""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from runnerly.users.model import User


class InMemoryUserRepository:
    """Users kept in a dictionary, for the demo and for tests."""

    def __init__(self) -> None:
        self._users: dict[int, User] = {}
        self._ids = itertools.count(1)

    def next_id(self) -> int:
        """A fresh id for a new user."""
        return next(self._ids)

    def add(self, user: User) -> None:
        """Keep a new user."""
        self._users[user.id] = user

    def get(self, user_id: int) -> User | None:
        """The user with this id, if any."""
        return self._users.get(user_id)

    def by_email(self, email: str) -> User | None:
        """The user with this email, if any."""
        return next((u for u in self._users.values() if u.email == email), None)
