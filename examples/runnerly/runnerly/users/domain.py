"""The users domain: the repository port and the rules of registration."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from runnerly.users.model import User


class EmailTakenError(ValueError):
    """An email address can belong to one runner only."""

    def __init__(self, email: str) -> None:
        super().__init__(f"{email} is already registered")
        self.email = email


class UnknownUserError(LookupError):
    """No runner has this id."""

    def __init__(self, user_id: int) -> None:
        super().__init__(f"no user with id {user_id}")
        self.user_id = user_id


class UserRepository(Protocol):
    """Where users are kept."""

    async def add(self, user: User) -> User:
        """Keep a new user; its id is assigned by the time this returns."""
        ...

    async def get(self, identity: object) -> User | None:
        """The user with this id, if any."""
        ...

    async def by_email(self, email: str) -> User | None:
        """The user with this email, if any."""
        ...


def normalise_email(email: str) -> str:
    """Emails compare without case or surrounding spaces."""
    return email.strip().lower()
