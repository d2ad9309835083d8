"""The users application: accounts, sessions and profiles, served as the ``users`` service.

Registration keeps a runner with the Argon2id hash of their password. A login checks it and
has the sessions port (the token service, in the process or apart) open a session: an access
token every service of runnerly accepts, and a refresh token that gives new tokens once.
Registration, login, refresh and logout are public; everything else needs a token. A runner
sees her own profile; an admin (her email in ``--accounts-admins``) lists every runner: her
login's token carries the scope ``runnerly:admin``, which the policy of ``list_users`` asks for.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import atoll
from atoll.errors import AlreadyExistsError, ConflictError, RateLimitedError
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
    UserRegistered,
)
from runnerly.users.domain import (
    ADMIN_SCOPE,
    FORGET_AFTER,
    LOCK_AFTER,
    SCOPES_AT_REFRESH,
    Clock,
    EmailTakenError,
    FailedLoginRepository,
    InvalidCredentialsError,
    LoginsLockedError,
    PasswordHasher,
    SessionEndedError,
    Sessions,
    UnknownUserError,
    UserRepository,
    WeakPasswordError,
    check_password,
    count_failure,
    normalise_email,
    scopes_at_login,
)
from runnerly.users.model import FailedLogins, User

__all__ = [
    "ADMIN",
    "AccountOptions",
    "Users",
    "UsersUnitOfWork",
    "caller_may_see_profile",
    "get_profile",
    "list_users",
    "log_in",
    "log_out",
    "me",
    "refresh",
    "register",
    "service",
]


logger = logging.getLogger("runnerly.users")


@dataclass(frozen=True)
class AccountOptions:
    """Who the admins are."""

    admins: list[str] = atoll.option(
        default_factory=list,
        help="the emails of the runners who are admins: a login of theirs gives a token "
        "with the scope runnerly:admin, which lists every runner",
    )


class UsersUnitOfWork(atoll.UnitOfWork):
    """The users service's unit of work."""

    users: UserRepository
    failed_logins: FailedLoginRepository


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

    async def authenticate(
        self, command: LogIn, failed_logins: FailedLoginRepository, now: float
    ) -> User | None:
        """The runner this email and password are of, or ``None``: the failure is counted.

        An unknown email costs as long as a wrong password, and is counted alike. A success
        forgets the email's failures.

        Raises:
            LoginsLockedError: the email has failed too often of late; the password is not
                even checked.
        """
        email = normalise_email(command.email)
        failures = await failed_logins.get(email)
        if failures is not None and (wait := failures.wait(now)) > 0:
            raise LoginsLockedError(math.ceil(wait))
        user = await self._repository.by_email(email)
        hashed = None if user is None else user.password_hash
        verified = await self._passwords.verify(hashed, command.password)  # even for no user
        if user is not None and verified:
            if failures is not None:
                await failed_logins.remove(failures)
            return user
        if failures is None:
            failures = FailedLogins(email)
            count_failure(failures, now)
            await failed_logins.add(failures)
        else:
            count_failure(failures, now)
        if failures.wait(now) > 0:
            logger.warning(
                "logins with %s are refused for %d s: %d failed in a row",
                email,
                failures.wait(now),
                failures.failures,
            )
        return None


def caller_may_see_profile(user_id: int, identity: atoll.Identity) -> bool:
    """Whether the caller may see runner ``user_id``: she herself, an admin, or a service.

    Raises:
        UnknownUserError: the caller is another runner, whether runner ``user_id`` exists or
            not: told as an id no runner has is told.
    """
    if identity.kind == "service" or identity.has_scopes(ADMIN_SCOPE):
        return True
    if identity.kind != "user" or identity.subject != str(user_id):
        raise UnknownUserError(user_id)
    return True


ADMIN = atoll.allow(ADMIN_SCOPE)
"""An admin: her token carries the scope ``runnerly:admin``, which a login of hers gives."""
PROFILE_READER = atoll.allow(check=caller_may_see_profile)
"""The runner herself, an admin, or a service of the system (``runs``)."""

service = atoll.Service("users", version="0.4.0", description="Runnerly's runners.")
service.options("accounts", AccountOptions)
service.error(EmailTakenError, status=409, code=EMAIL_TAKEN)
service.error(UnknownUserError, status=404, code=UNKNOWN_USER)
service.error(WeakPasswordError, status=422, code=WEAK_PASSWORD)
service.error(InvalidCredentialsError, status=401, code=INVALID_CREDENTIALS)
service.error(SessionEndedError, status=401, code=SESSION_ENDED)
# No service of runnerly consumes UserRegistered: it is published, through the outbox, for
# consumers outside the system (a welcome mailer of the club's, say), whose contract it is.
# atoll: allow[unconsumed-event] - for consumers outside the system
service.publishes(UserRegistered)  # what a User raises, through the outbox


REGISTRATIONS = atoll.limit("5/minute; 20/hour", per="ip")
"""How often one client address may register a runner."""
LOGINS = atoll.limit("10/minute; 100/hour", per="ip")
"""How often one client address may try to log in, whichever the email."""


@service.command(RegisterUser, path="/users", status=201, public=True, limit=REGISTRATIONS)
async def register(
    command: RegisterUser, uow: UsersUnitOfWork, passwords: PasswordHasher
) -> Profile:
    """Register a runner; the email must not be registered yet.

    Raises:
        WeakPasswordError: the password is shorter than 8 characters, or longer than 256.
        EmailTakenError: a runner has this email already.
        RateLimitedError: this client address registered too often of late (5 a minute, 20
            an hour).
    """
    async with uow:
        user = await Users(uow.users, passwords).register(command)
        await uow.commit()  # the user and the event it raised, at once
    return user.profile()


@service.command(LogIn, path="/login", public=True, limit=LOGINS)
async def log_in(
    command: LogIn,
    *,  # the rest is the container's
    uow: UsersUnitOfWork,
    passwords: PasswordHasher,
    sessions: Sessions,
    accounts: AccountOptions,
    clock: Clock,
) -> SessionTokens:
    """Log in with an email and a password: an access token and a refresh token.

    An admin's access token carries the scope ``runnerly:admin`` too. Five failures in a row
    with one email refuse its logins for a minute; each failure after that, for twice as long
    as the last time, 15 minutes at the most; a login that succeeds starts the count again.

    Raises:
        InvalidCredentialsError: the email or the password is wrong (which is not said).
        RateLimitedError: too many failed logins with this email of late, whether an account
            has it or not (429, with Retry-After), or from this client address (10 a minute,
            100 an hour).
    """
    try:
        async with uow:
            user = await Users(uow.users, passwords).authenticate(
                command, uow.failed_logins, clock.now()
            )
            await uow.commit()  # the failure counted, or the count forgotten
    except LoginsLockedError as locked:
        raise RateLimitedError(
            str(locked),
            retry_after=locked.retry_after,
            policy=f"{LOCK_AFTER} failed logins",
            name="failed_logins",
            window=FORGET_AFTER,
            quota=LOCK_AFTER,
        ) from None
    except AlreadyExistsError as error:
        # Another login counted this email's first failure meanwhile: run again, on top of it.
        options = uow.database.options
        raise ConflictError(
            str(error), retries=options.conflict_retries, backoff=options.conflict_backoff
        ) from error
    if user is None:
        raise InvalidCredentialsError
    return await sessions.open(user.profile().id, scopes_at_login(user, accounts.admins))


@service.command(RefreshSession, path="/refresh", public=True)
async def refresh(command: RefreshSession, sessions: Sessions) -> SessionTokens:
    """New tokens for a refresh token, which is spent: send each one once.

    They are a runner's, an admin's too: the admin's scope comes with a login alone.

    Raises:
        SessionEndedError: the refresh token is expired, revoked, unknown, or was used
            before (and then the whole session is ended, since it may have been stolen).
    """
    return await sessions.refresh(command.refresh_token, SCOPES_AT_REFRESH)


@service.command(LogOut, path="/logout", status=204, public=True)
async def log_out(command: LogOut, sessions: Sessions) -> None:
    """End the session of a refresh token; its access tokens live until they expire."""
    await sessions.close(command.refresh_token)


@service.rpc(policy=PROFILE_READER)
@service.get("/users/{user_id}", policy=PROFILE_READER)
async def get_profile(user_id: int, uow: UsersUnitOfWork) -> Profile:
    """The runner with this id: the caller herself, unless she is an admin or a service.

    Raises:
        UnknownUserError: no runner has this id, or it is another runner's (the same answer).
    """
    async with uow:
        user = await uow.users.get(user_id)
    if user is None:
        raise UnknownUserError(user_id)
    return user.profile()


@service.rpc(policy=ADMIN)
@service.get("/users", policy=ADMIN)
async def list_users(identity: atoll.Identity, uow: UsersUnitOfWork) -> list[Profile]:
    """Every runner, by id: for admins.

    Raises:
        ForbiddenError: the caller is no admin (her token has no ``runnerly:admin``).
    """
    async with uow:
        everyone = await uow.users.everyone()
    logger.info("admin %s listed the %d runners", identity.subject, len(everyone))
    return [user.profile() for user in everyone]


@service.get("/me", policy=atoll.allow())
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
