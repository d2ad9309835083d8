"""The users domain: the ports (users, passwords, sessions) and the rules of accounts."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from runnerly.users.contracts import SessionTokens
    from runnerly.users.model import FailedLogins, User

SHORTEST_PASSWORD = 8
"""NIST SP 800-63B's shortest password; no rule on what it is made of."""
LONGEST_PASSWORD = 256
"""Longer is refused before it is hashed: a megabyte password would only cost the server."""

LOCK_AFTER = 5
"""Failed logins in a row with one email after which its logins are refused for a while."""
FIRST_LOCKOUT = 60
"""Seconds the logins with an email are refused after its :data:`LOCK_AFTER`-th failure."""
LONGEST_LOCKOUT = 15 * 60
"""Seconds a lockout lasts at the most: each failure after a lockout doubles the next."""
FORGET_AFTER = 24 * 60 * 60
"""Seconds after an email's last failed login that its count starts again."""

RUNNER_SCOPE = "runnerly:runner"
"""The scope of every runner's access token."""
ADMIN_SCOPE = "runnerly:admin"
"""The scope of an admin's: the admin role, as the token service carries it (in ``scope``)."""


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


class LoginsLockedError(PermissionError):
    """Too many failed logins with this email of late: every login with it waits a while.

    The same for an email no account has, so that it tells nothing of which accounts exist.
    """

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"too many failed logins with this email: log in again in {retry_after} s")
        self.retry_after = retry_after


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

    async def everyone(self) -> list[User]:
        """Every user, by id."""
        ...


class FailedLoginRepository(Protocol):
    """Where the failed logins with each email are counted."""

    async def add(self, failures: FailedLogins) -> FailedLogins:
        """Count the failures of an email no failure was counted for yet."""
        ...

    async def get(self, identity: object) -> FailedLogins | None:
        """The failures counted for this email, if any."""
        ...

    async def remove(self, failures: FailedLogins) -> None:
        """Forget an email's failures: a login with it succeeded."""
        ...


class Clock(Protocol):
    """The time, as the rules about failed logins read it."""

    def now(self) -> float:
        """Seconds since the epoch."""
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

    async def open(self, user_id: int, scopes: Sequence[str]) -> SessionTokens:
        """A new session for the user: an access token and a refresh token, with ``scopes``."""
        ...

    async def refresh(self, refresh_token: str, scopes: Sequence[str]) -> SessionTokens:
        """New tokens with ``scopes`` for the session of ``refresh_token``, which is then spent.

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


def lockout(failures: int) -> int:
    """Seconds a login with an email is refused after its ``failures``-th failure in a row.

    None before the :data:`LOCK_AFTER`-th; then :data:`FIRST_LOCKOUT`, doubling with each
    failure after it, :data:`LONGEST_LOCKOUT` at the most: 60, 120, 240, 480, 900, 900...
    """
    if failures < LOCK_AFTER:
        return 0
    doublings = min(failures - LOCK_AFTER, 32)  # bounded: a count in the thousands stays cheap
    return min(FIRST_LOCKOUT * 2**doublings, LONGEST_LOCKOUT)


def count_failure(failures: FailedLogins, now: float) -> None:
    """Count a failed login at ``now``, and lock the email out if that makes too many."""
    seconds = lockout(failures.failed(now, FORGET_AFTER))
    if seconds:
        failures.lock(now + seconds)


def is_admin(user: User, admins: Iterable[str]) -> bool:
    """Whether ``user`` is an admin: her email is one of ``admins``."""
    return user.email in {normalise_email(email) for email in admins}


def scopes_at_login(user: User, admins: Iterable[str]) -> tuple[str, ...]:
    """The scopes of a session a login opens: a runner's, and an admin's for an admin."""
    return (RUNNER_SCOPE, ADMIN_SCOPE) if is_admin(user, admins) else (RUNNER_SCOPE,)


SCOPES_AT_REFRESH = (RUNNER_SCOPE,)
"""The scopes of the tokens a refresh gives, of an admin's session too: a runner's.

The admin role comes with a login, for as long as its access token lasts (five minutes), and
not with the refreshes after it: an admin removed from the list is one no more once her
token expires, and a stolen refresh token never gives an admin's.
"""
