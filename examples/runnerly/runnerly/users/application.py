"""The users application: registration and profiles."""

from __future__ import annotations

from dataclasses import dataclass

from runnerly.users.domain import (
    EmailTakenError,
    UnknownUserError,
    UserRepository,
    normalise_email,
)
from runnerly.users.model import User


@dataclass(frozen=True)
class RegisterUser:
    """Register a new runner."""

    email: str
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
