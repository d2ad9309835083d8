"""The users application: registration and profiles, served as the ``users`` service."""

from __future__ import annotations

import atoll
from runnerly.users.contracts import EMAIL_TAKEN, UNKNOWN_USER, RegisterUser
from runnerly.users.domain import (
    EmailTakenError,
    UnknownUserError,
    UserRepository,
    normalise_email,
)
from runnerly.users.model import User

__all__ = [
    "Users",
    "UsersUnitOfWork",
    "get_profile",
    "register",
    "service",
]


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
        user = await self._repository.add(User(id=None, email=email, name=command.name.strip()))
        user.registered()
        return user

    async def profile(self, user_id: int) -> User:
        """The runner with this id."""
        user = await self._repository.get(user_id)
        if user is None:
            raise UnknownUserError(user_id)
        return user


service = atoll.Service("users", version="0.2.0", description="Runnerly's runners.")
service.error(EmailTakenError, status=409, code=EMAIL_TAKEN)
service.error(UnknownUserError, status=404, code=UNKNOWN_USER)


@service.command(RegisterUser, path="/users", status=201)
async def register(command: RegisterUser, uow: UsersUnitOfWork) -> User:
    """Register a runner; the email must not be registered yet.

    Raises:
        EmailTakenError: a runner has this email already.
    """
    async with uow:
        user = await Users(uow.users).register(command)
        await uow.commit()  # the user and the event it raised, at once
    return user


@service.rpc
@service.get("/users/{user_id}")
async def get_profile(user_id: int, uow: UsersUnitOfWork) -> User:
    """The runner with this id.

    Raises:
        UnknownUserError: no runner has this id.
    """
    async with uow:
        return await Users(uow.users).profile(user_id)
