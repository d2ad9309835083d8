"""The users application: registration and profiles, served as the ``users`` service."""

from __future__ import annotations

from dataclasses import dataclass

import atoll
from runnerly.users.domain import (
    EmailTakenError,
    UnknownUserError,
    UserRepository,
    normalise_email,
)
from runnerly.users.model import User

__all__ = [
    "UNKNOWN_USER",
    "RegisterUser",
    "UserRegistered",
    "Users",
    "get_profile",
    "register",
    "service",
]

UNKNOWN_USER = -32004
"""The JSON-RPC code of "no such user": part of the service's published interface."""


@dataclass(frozen=True)
class RegisterUser:
    """Register a new runner."""

    email: str
    name: str


@dataclass(frozen=True)
class UserRegistered:
    """A runner was registered."""

    user_id: int
    name: str


class Users:
    """The users service's use cases."""

    def __init__(self, repository: UserRepository) -> None:
        self._repository = repository

    def register(self, command: RegisterUser) -> User:
        """Register a runner; an email can be registered once."""
        email = normalise_email(command.email)
        if self._repository.by_email(email) is not None:
            raise EmailTakenError(email)
        user = User(id=self._repository.next_id(), email=email, name=command.name.strip())
        self._repository.add(user)
        return user

    def profile(self, user_id: int) -> User:
        """The runner with this id."""
        user = self._repository.get(user_id)
        if user is None:
            raise UnknownUserError(user_id)
        return user


service = atoll.Service("users", version="0.1.0", description="Runnerly's runners.")
service.provide(Users)
service.error(EmailTakenError, status=409, code=-32001)
service.error(UnknownUserError, status=404, code=UNKNOWN_USER)


@service.command(RegisterUser, path="/users", status=201)
async def register(command: RegisterUser, users: Users, events: atoll.Events) -> User:
    """Register a runner; the email must not be registered yet."""
    user = users.register(command)
    events.add(UserRegistered(user.id, user.name))
    return user


@service.rpc
@service.get("/users/{user_id}")
async def get_profile(user_id: int, users: Users) -> User:
    """The runner with this id."""
    return users.profile(user_id)
