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
    "UsersUnitOfWork",
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


class UsersUnitOfWork(atoll.UnitOfWork):
    """The users service's unit of work."""

    users: UserRepository


class Users:
    """The users service's use cases, over a repository."""

    def __init__(self, repository: UserRepository) -> None:
        self._repository = repository

    async def register(self, command: RegisterUser) -> User:
        """Register a runner; an email can be registered once."""
        email = normalise_email(command.email)
        if await self._repository.by_email(email) is not None:
            raise EmailTakenError(email)
        return await self._repository.add(User(id=None, email=email, name=command.name.strip()))

    async def profile(self, user_id: int) -> User:
        """The runner with this id."""
        user = await self._repository.get(user_id)
        if user is None:
            raise UnknownUserError(user_id)
        return user


service = atoll.Service("users", version="0.2.0", description="Runnerly's runners.")
service.error(EmailTakenError, status=409, code=-32001)
service.error(UnknownUserError, status=404, code=UNKNOWN_USER)


@service.command(RegisterUser, path="/users", status=201)
async def register(command: RegisterUser, uow: UsersUnitOfWork) -> User:
    """Register a runner; the email must not be registered yet."""
    async with uow:
        user = await Users(uow.users).register(command)
        assert user.id is not None  # noqa: S101 - the repository assigned it
        uow.publish(UserRegistered(user.id, user.name), stream=f"User:{user.id}")
        await uow.commit()
    return user


@service.rpc
@service.get("/users/{user_id}")
async def get_profile(user_id: int, uow: UsersUnitOfWork) -> User:
    """The runner with this id."""
    async with uow:
        return await Users(uow.users).profile(user_id)
