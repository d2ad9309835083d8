"""The users application: accounts, sessions and profiles, served as the ``users`` service.

Registration keeps a runner with the Argon2id hash of their password. A login checks it and
has the sessions port (the token service, in the process or apart) open a session: an access
token every service of runnerly accepts, and a refresh token that gives new tokens once.
Registration, login, refresh and logout are public; everything else needs a token.
"""

from __future__ import annotations

import atoll
from runnerly.users.contracts import (
    EMAIL_TAKEN,
    INVALID_CREDENTIALS,
    SESSION_ENDED,
    UNKNOWN_USER,
    WEAK_PASSWORD,
    LogIn,
    LogOut,
    Profile,
    RefreshSession,
    RegisterUser,
    SessionTokens,
)
from runnerly.users.domain import (
    EmailTakenError,
    InvalidCredentialsError,
    PasswordHasher,
    SessionEndedError,
    Sessions,
    UnknownUserError,
    UserRepository,
    WeakPasswordError,
    check_password,
    normalise_email,
)
from runnerly.users.model import User

__all__ = [
    "Users",
    "UsersUnitOfWork",
    "get_profile",
    "log_in",
    "log_out",
    "me",
    "refresh",
    "register",
    "service",
]


class UsersUnitOfWork(atoll.UnitOfWork):
    """The users service's unit of work."""

    users: UserRepository


class Users:
    """The users service's use cases, over a repository and the passwords' hasher."""

    def __init__(self, repository: UserRepository, passwords: PasswordHasher) -> None:
        self._repository = repository
        self._passwords = passwords

    async def register(self, command: RegisterUser) -> User:
        """Register a runner; an email can be registered once."""
        check_password(command.password)
        email = normalise_email(command.email)
        if await self._repository.by_email(email) is not None:
            raise EmailTakenError(email)
        hashed = await self._passwords.hash(command.password)
        user = await self._repository.add(
            User(id=None, email=email, name=command.name.strip(), password_hash=hashed)
        )
        user.registered()
        return user

    async def authenticate(self, command: LogIn) -> User:
        """The runner this email and password are of; an unknown email costs as long."""
        user = await self._repository.by_email(normalise_email(command.email))
        hashed = None if user is None else user.password_hash
        verified = await self._passwords.verify(hashed, command.password)  # even for no user
        if user is None or not verified:
            raise InvalidCredentialsError
        return user


service = atoll.Service("users", version="0.3.0", description="Runnerly's runners.")
service.error(EmailTakenError, status=409, code=EMAIL_TAKEN)
service.error(UnknownUserError, status=404, code=UNKNOWN_USER)
service.error(WeakPasswordError, status=422, code=WEAK_PASSWORD)
service.error(InvalidCredentialsError, status=401, code=INVALID_CREDENTIALS)
service.error(SessionEndedError, status=401, code=SESSION_ENDED)


@service.command(RegisterUser, path="/users", status=201, public=True)
async def register(
    command: RegisterUser, uow: UsersUnitOfWork, passwords: PasswordHasher
) -> Profile:
    """Register a runner; the email must not be registered yet.

    Raises:
        WeakPasswordError: the password is shorter than 8 characters, or longer than 256.
        EmailTakenError: a runner has this email already.
    """
    async with uow:
        user = await Users(uow.users, passwords).register(command)
        await uow.commit()  # the user and the event it raised, at once
    return user.profile()


@service.command(LogIn, path="/login", public=True)
async def log_in(
    command: LogIn, uow: UsersUnitOfWork, passwords: PasswordHasher, sessions: Sessions
) -> SessionTokens:
    """Log in with an email and a password: an access token and a refresh token.

    Raises:
        InvalidCredentialsError: the email or the password is wrong (which is not said).
    """
    async with uow:
        user = await Users(uow.users, passwords).authenticate(command)
    return await sessions.open(user.profile().id)


@service.command(RefreshSession, path="/refresh", public=True)
async def refresh(command: RefreshSession, sessions: Sessions) -> SessionTokens:
    """New tokens for a refresh token, which is spent: send each one once.

    Raises:
        SessionEndedError: the refresh token is expired, revoked, unknown, or was used
            before (and then the whole session is ended, since it may have been stolen).
    """
    return await sessions.refresh(command.refresh_token)


@service.command(LogOut, path="/logout", status=204, public=True)
async def log_out(command: LogOut, sessions: Sessions) -> None:
    """End the session of a refresh token; its access tokens live until they expire."""
    await sessions.close(command.refresh_token)


@service.rpc
@service.get("/users/{user_id}")
async def get_profile(user_id: int, uow: UsersUnitOfWork) -> Profile:
    """The runner with this id.

    Raises:
        UnknownUserError: no runner has this id.
    """
    async with uow:
        user = await uow.users.get(user_id)
    if user is None:
        raise UnknownUserError(user_id)
    return user.profile()


@service.get("/me")
async def me(identity: atoll.Identity, uow: UsersUnitOfWork) -> Profile:
    """The runner whose token this is.

    Raises:
        UnknownUserError: the token is not a runner's (a service's), or its runner is gone.
    """
    if identity.kind != "user" or not identity.subject.isdigit():
        raise UnknownUserError(identity.subject)
    async with uow:
        user = await uow.users.get(int(identity.subject))
    if user is None:
        raise UnknownUserError(identity.subject)
    return user.profile()
