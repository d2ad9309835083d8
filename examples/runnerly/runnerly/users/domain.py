"""The users domain: the ports (users, passwords, sessions) and the rules of accounts."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from runnerly.users.contracts import SessionTokens
    from runnerly.users.model import User

SHORTEST_PASSWORD = 8
"""NIST SP 800-63B's shortest password; no rule on what it is made of."""
LONGEST_PASSWORD = 256
"""Longer is refused before it is hashed: a megabyte password would only cost the server."""


class EmailTakenError(ValueError):
    """An email address can belong to one runner only."""

    def __init__(self, email: str) -> None:
        super().__init__(f"{email} is already registered")
        self.email = email


class UnknownUserError(LookupError):
    """No runner has this id."""

    def __init__(self, user_id: object) -> None:
        super().__init__(f"no user with id {user_id}")
        self.user_id = user_id


class WeakPasswordError(ValueError):
    """A password must be long enough to resist guessing, and not absurdly long."""


class InvalidCredentialsError(PermissionError):
    """The email or the password is wrong; which one is not said."""

    def __init__(self) -> None:
        super().__init__("the email or the password is wrong")


class SessionEndedError(PermissionError):
    """A refresh token that does not refresh: expired, revoked, used before, or unknown."""

    def __init__(self) -> None:
        super().__init__("the session has ended, or the refresh token is not valid: log in again")


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


class PasswordHasher(Protocol):
    """Hashes passwords, and checks them against their hashes."""

    async def hash(self, password: str) -> str:
        """The hash to keep for ``password``."""
        ...

    async def verify(self, hashed: str | None, password: str) -> bool:
        """Whether ``password`` matches ``hashed``; ``None`` (no account) costs as much."""
        ...


class Sessions(Protocol):
    """Opens, refreshes and ends the sessions of users: what issues their tokens."""

    async def open(self, user_id: int) -> SessionTokens:
        """A new session for the user: an access token and a refresh token."""
        ...

    async def refresh(self, refresh_token: str) -> SessionTokens:
        """New tokens for the session of ``refresh_token``, which is then spent.

        Raises:
            SessionEndedError: the refresh token does not refresh.
        """
        ...

    async def close(self, refresh_token: str) -> None:
        """End the session of ``refresh_token``; nothing happens for one not known."""
        ...


def normalise_email(email: str) -> str:
    """Emails compare without case or surrounding spaces."""
    return email.strip().lower()


def check_password(password: str) -> None:
    """Refuse a password too short to resist guessing, or too long to hash."""
    if len(password) < SHORTEST_PASSWORD:
        raise WeakPasswordError(
            f"a password has at least {SHORTEST_PASSWORD} characters; a phrase is best"
        )
    if len(password) > LONGEST_PASSWORD:
        raise WeakPasswordError(f"a password has at most {LONGEST_PASSWORD} characters")
