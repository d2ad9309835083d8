"""The runs infrastructure: an in-memory repository, and the users service through its client."""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING

from atoll.endpoints.clients import Clients
from atoll.errors import RemoteError

if TYPE_CHECKING:
    from runnerly.runs.model import Run

__all__ = ["USERS_UNKNOWN_USER", "InMemoryRunRepository", "RemoteUserDirectory"]

USERS_UNKNOWN_USER = -32004
"""The code the users service answers for an unknown user: its published interface."""


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


class RemoteUserDirectory:
    """Asks the users service, wherever it runs: in this process, or over HTTP when apart.

    The runs service knows the users service only by its published interface (the
    ``get_profile`` method and its error codes), never by its code.
    """

    def __init__(self, clients: Clients) -> None:
        self._clients = clients

    async def exists(self, user_id: int) -> bool:
        """Whether a runner with this id is registered."""
        users = self._clients.get("users")
        try:
            await users.methods.get_profile(user_id=user_id)
        except RemoteError as error:
            if error.code == USERS_UNKNOWN_USER:
                return False
            raise
        return True
