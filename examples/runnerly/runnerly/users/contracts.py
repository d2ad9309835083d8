"""What the users service publishes: the messages and error codes other services may use.

The one module of ``users`` that another service imports (an import-linter contract keeps it
so): plain dataclasses and constants, no framework, each message under a declared name.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

__all__ = ["EMAIL_TAKEN", "UNKNOWN_USER", "RegisterUser", "UserRegistered"]

UNKNOWN_USER = -32004
"""The JSON-RPC code of "no user with this id" (HTTP 404)."""

EMAIL_TAKEN = -32001
"""The JSON-RPC code of a registration whose email is taken (HTTP 409)."""


@dataclass(frozen=True)
class RegisterUser:
    """Register a new runner."""

    __atoll_message__: ClassVar[str] = "users.RegisterUser"

    email: str
    name: str


@dataclass(frozen=True)
class UserRegistered:
    """A runner was registered."""

    __atoll_message__: ClassVar[str] = "users.UserRegistered"

    user_id: int
    name: str
