"""What the users service publishes: the messages and error codes other services may use.

The one module of ``users`` that another service imports (an import-linter contract keeps it
so): plain dataclasses and constants, no framework, each message under a declared name.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

__all__ = [
    "EMAIL_TAKEN",
    "INVALID_CREDENTIALS",
    "SESSION_ENDED",
    "UNKNOWN_USER",
    "WEAK_PASSWORD",
    "LogIn",
    "LogOut",
    "Profile",
    "RefreshSession",
    "RegisterUser",
    "SessionTokens",
    "UserRegistered",
]

UNKNOWN_USER = -32004
"""The JSON-RPC code of "no user with this id" (HTTP 404)."""

EMAIL_TAKEN = -32001
"""The JSON-RPC code of a registration whose email is taken (HTTP 409)."""

INVALID_CREDENTIALS = -32003
"""The JSON-RPC code of a login whose email or password is wrong (HTTP 401)."""

SESSION_ENDED = -32005
"""The JSON-RPC code of a refresh token not valid: expired, revoked, or used twice (HTTP 401)."""

WEAK_PASSWORD = -32006
"""The JSON-RPC code of a registration whose password is too short or too long (HTTP 422)."""


@dataclass(frozen=True)
class RegisterUser:
    """Register a new runner, who logs in with this email and password.

    The password is hashed before anything keeps it, and never shown (not even by repr).
    """

    __atoll_message__: ClassVar[str] = "users.RegisterUser"

    email: str
    name: str
    password: str = field(repr=False)


@dataclass(frozen=True)
class Profile:
    """A runner, as the users service shows one: never with a password's hash."""

    id: int
    email: str
    name: str


@dataclass(frozen=True)
class LogIn:
    """Open a session: the runner's email and password, for tokens."""

    __atoll_message__: ClassVar[str] = "users.LogIn"

    email: str
    password: str = field(repr=False)


@dataclass(frozen=True)
class RefreshSession:
    """Trade a refresh token for new tokens; the one given is then spent."""

    __atoll_message__: ClassVar[str] = "users.RefreshSession"

    refresh_token: str = field(repr=False)


@dataclass(frozen=True)
class LogOut:
    """End the session a refresh token belongs to: none of its tokens refreshes again."""

    __atoll_message__: ClassVar[str] = "users.LogOut"

    refresh_token: str = field(repr=False)


@dataclass(frozen=True)
class SessionTokens:
    """What a login or a refresh gives: an access token, and the refresh token that follows.

    Send the access token as ``Authorization: Bearer <access_token>`` until it expires
    (``expires_in`` seconds); then refresh, once, with the refresh token.
    """

    access_token: str = field(repr=False)
    refresh_token: str = field(repr=False)
    expires_in: int
    token_type: str = "Bearer"  # noqa: S105 - a token type, no password


@dataclass(frozen=True)
class UserRegistered:
    """A runner was registered."""

    __atoll_message__: ClassVar[str] = "users.UserRegistered"

    user_id: int
    name: str
