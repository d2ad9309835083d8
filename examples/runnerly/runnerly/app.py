"""The composition root: runnerly's services and their adapters, as one system.

This is the only module that knows every service and every adapter. Importing it does
nothing: :func:`system` composes the system when first asked (``atoll run
runnerly.app:system`` calls it, as ``python -m runnerly`` does), and :func:`service` one
service alone. On embedded defaults each service keeps its own SQLite database under
``data/`` (migrated at start) and the services call each other in the process;
``--users-db-url``, ``--runs-db-url`` and ``--stats-db-url`` choose PostgreSQL (or
``memory://``) instead. Run apart (:mod:`runnerly.fleet`), each service is its own process,
on its own database, and they talk through the broker of ``--broker-url``: events through
the outbox and the broker, calls as broker RPC.

Every call but registering and logging in needs a token: the system holds atoll's token
service (``auth``), which issues the runners' tokens when ``users`` opens a session for them
(in the process here; over HTTP, as a registered client, when apart), and every service
trusts its keys. The defaults that say so are the system's own (:func:`system`).
"""

from __future__ import annotations

import functools
import logging
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import atoll
import atoll.auth
from atoll.adapters.argon2 import Argon2Passwords
from atoll.auth.clients import Registrations
from atoll.auth.issuer import OAuthError, TokenIssuer
from atoll.auth.service import JWKS_PATH
from atoll.errors import ConfigError
from atoll.frontends.shell import Slot
from atoll.kernel.config import Config
from runnerly.runs import application as runs
from runnerly.runs import infrastructure as runs_sql
from runnerly.runs import ui as runs_ui
from runnerly.runs.contracts import RecordRun
from runnerly.runs.domain import RunOwners, UserDirectory, week_of
from runnerly.stats import application as stats
from runnerly.stats import infrastructure as stats_sql
from runnerly.stats import ui as stats_ui
from runnerly.stats.domain import WeeklyTotals
from runnerly.users import application as users
from runnerly.users import infrastructure as users_sql
from runnerly.users import ui as users_ui
from runnerly.users.contracts import RegisterUser, SessionTokens
from runnerly.users.domain import (
    ADMIN_SCOPE,
    RUNNER_SCOPE,
    Clock,
    EmailTakenError,
    FailedLoginRepository,
    PasswordHasher,
    Sessions,
    UserRepository,
)

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = [
    "ISSUER",
    "NAMES",
    "PAGE",
    "DemoOptions",
    "IssuerSessions",
    "SessionClient",
    "service",
    "system",
]

logger = logging.getLogger("runnerly")

NAMES = ("users", "runs", "stats")
"""The services, by name: each runs alone with ``python -m runnerly NAME``."""
PAGE = "web"
"""The service serving Runnerly's page alone (``python -m runnerly web``), given where the
services are (``--ui-fragments users=URL,...``), as the fleet runs it."""

ISSUER = "http://127.0.0.1:8000"
"""Where the system serves on embedded defaults: its token service's issuer."""
DEMO_EMAIL = "ada@runnerly.example"
DEMO_PASSWORD = "ada-runs-far"  # noqa: S105 - the demo runner's, printed at start


@functools.cache
def _services() -> dict[str, atoll.Service]:
    """Each service with its database and its adapters declared: done once, when asked."""
    users.service.database(
        users_sql.schema,
        users.UsersUnitOfWork,
        repositories={
            UserRepository: users_sql.UserRecords,
            FailedLoginRepository: users_sql.FailedLoginRecords,
        },
    )
    runs.service.database(
        runs_sql.schema, runs.RunsUnitOfWork, repositories={runs.RunPages: runs_sql.RunRecords}
    )
    users.service.provide(_passwords, provides=PasswordHasher)
    users.service.provide(users_sql.SystemClock, provides=Clock)
    users.service.provide(users_sql.TokenServiceSessions, provides=Sessions, when=_over_http)
    runs.service.provide(runs_sql.RemoteUserDirectory, provides=UserDirectory)
    runs.service.provide(runs_sql.RunOwnerRecords, provides=RunOwners)
    stats.service.database(
        stats_sql.schema,
        stats.StatsUnitOfWork,
        repositories={WeeklyTotals: stats_sql.WeeklyTotalRecords},
    )
    users.service.components(users_ui.LoginForm, users_ui.ProfileCard)
    runs.service.components(runs_ui.RecordRunForm, runs_ui.RunList)
    stats.service.components(stats_ui.WeeklyChart)
    return {"users": users.service, "runs": runs.service, "stats": stats.service}


@functools.cache
def _web() -> atoll.Service:
    """The shell at ``/``: each service's components on one page (made once, when asked)."""
    web = atoll.Service("web", description="Runnerly's page, composing each service's parts.")
    web.shell(
        "Runnerly",
        [
            Slot("users", "users-login-form"),
            Slot("users", "users-profile-card"),
            Slot("runs", "runs-record-form"),
            Slot("stats", "stats-weekly-chart"),
            Slot("runs", "runs-run-list"),
        ],
        styles="stats-weekly-chart, runs-run-list { grid-column: span 2; }",
    )
    return web


def _passwords() -> Argon2Passwords:
    return Argon2Passwords()


def _token_service_here(config: Config) -> bool:
    """Whether the token service runs in this process (its ``[tokens]`` options are there)."""
    try:
        config.section(atoll.auth.TokenOptions)
    except ConfigError:
        return False
    return True


def _in_process(config: Config) -> bool:
    """Whether ``users`` asks the token service of this process: unless told of another."""
    return _token_service_here(config) and not config.section("clients").token_url


def _over_http(config: Config) -> bool:
    """Whether ``users`` opens sessions at a token service over HTTP (``--clients-token-url``).

    So it does alone, where a missing URL is a start-up error that names the flags.
    """
    return not _in_process(config)


def service(name: str) -> atoll.Service:
    """The service ``name`` (of :data:`NAMES`, or :data:`PAGE`), composed to run alone.

    As the fleet runs it.
    """
    return _web() if name == PAGE else _services()[name]


@dataclass(frozen=True)
class DemoOptions:
    """What the demo does when it starts."""

    seed: bool = atoll.option(
        default=True, help="register a demo runner and record a week of runs, if none is there"
    )


class SessionClient:
    """The users service's registration at the system's token service, made at each start.

    In one process there is no secret to keep: the client is registered again at each start
    (a session client, for every service of the system, which may ask for a runner's scope
    and an admin's), with a secret this object alone holds, so that ``users`` asks the token
    service as any client does. Removing the registration of the start before ends its
    sessions: runners log in again after a restart.
    """

    CLIENT_ID = "users"
    SCOPES = (RUNNER_SCOPE, ADMIN_SCOPE)

    def __init__(self, registrations: Registrations) -> None:
        self._registrations = registrations
        self.secret = ""

    async def start(self) -> None:
        """Register the client, replacing the registration of an earlier start."""
        await self._registrations.remove(self.CLIENT_ID)
        _, self.secret = await self._registrations.add(self.CLIENT_ID, self.SCOPES, NAMES)

    async def stop(self) -> None:
        """Nothing to release: the registration stays until the next start replaces it."""

    @property
    def basic(self) -> tuple[str, str]:
        """The client's id and secret, as HTTP Basic would carry them."""
        return self.CLIENT_ID, self.secret


class IssuerSessions:
    """The sessions port, asking the token service of this process: no HTTP, same requests.

    Args:
        issuer: the token service's issuer.
        client: the users service's registration there.
    """

    def __init__(self, issuer: TokenIssuer, client: SessionClient) -> None:
        self._issuer = issuer
        self._client = client

    async def open(self, user_id: int, scopes: Sequence[str]) -> SessionTokens:
        """A new session for the user, with ``scopes``."""
        return await self._ask(users_sql.session_form(user_id, scopes))

    async def refresh(self, refresh_token: str, scopes: Sequence[str]) -> SessionTokens:
        """New tokens with ``scopes`` for the session of ``refresh_token``, then spent."""
        return await self._ask(users_sql.refresh_form(refresh_token, scopes))

    async def close(self, refresh_token: str) -> None:
        """End the session of ``refresh_token``."""
        try:
            await self._issuer.revoke(
                _listed(users_sql.revoke_form(refresh_token)), self._client.basic
            )
        except OAuthError as error:
            raise _refusal(error) from None

    async def _ask(self, form: dict[str, str]) -> SessionTokens:
        try:
            answer = await self._issuer.issue(_listed(form), self._client.basic)
        except OAuthError as error:
            raise _refusal(error) from None
        return users_sql.tokens_of(answer)


def _listed(form: dict[str, str]) -> dict[str, list[str]]:
    """A form as the token service reads one off the wire: each parameter with its values."""
    return {name: [value] for name, value in form.items()}


def _refusal(error: OAuthError) -> Exception:
    return users_sql.refusal({"error": error.error, "error_description": error.description})


@functools.cache
def system() -> atoll.System:
    """The three services, the token service and the shell, with the demo's seeding task.

    Made once, when asked. Its own defaults: calls need a token (``--no-auth-anonymous``),
    the token service's, for any of the three services; ``users`` opens sessions there.
    """
    composed = atoll.System(
        *_services().values(),
        atoll.auth.service,
        _web(),
        name="runnerly",
        version="0.3.0",
        description="Runnerly, the running club's system.",
    )
    composed.options("demo", DemoOptions)
    composed.provide(SessionClient)
    composed.provide(IssuerSessions, provides=Sessions, when=_in_process)
    composed.defaults(
        {
            "auth": {
                "anonymous": False,
                "default_deny": True,
                "jwt": {
                    "issuer": ISSUER,
                    "audience": list(NAMES),
                    "jwks_url": ISSUER + JWKS_PATH,
                    "types": ["at+jwt"],
                },
            },
            "tokens": {"issuer": ISSUER, "session_clients": [SessionClient.CLIENT_ID]},
            "metrics": {"enabled": True},
        }
    )
    composed.task(seed)
    return composed


async def seed(
    options: DemoOptions, tokens: atoll.auth.TokenOptions, bus: atoll.MessageBus
) -> None:
    """Register a demo runner and record a week of runs, so there is something to see."""
    if not options.seed:
        return
    try:
        runner = await bus.handle(RegisterUser(DEMO_EMAIL, "Ada", DEMO_PASSWORD))
    except EmailTakenError:
        logger.info("the demo runner is registered already (data/ keeps the databases)")
    else:
        monday = week_of(datetime.now(tz=UTC))
        # A run is its runner's, who records it herself: the seeding task acts as her.
        with atoll.acting_as(atoll.Identity(kind="user", subject=str(runner.id), scheme="process")):
            for day, meters in enumerate((5000.0, 8000.0, 3000.0)):
                started = monday + timedelta(days=day, hours=7)
                await bus.handle(RecordRun(meters, int(meters * 0.33), started))
        logger.info("seeded runner %s (id %d) and a week of runs", runner.name, runner.id)
    # For the person who started the demo, on standard output: a log record would show her
    # password and the Authorization header masked, as it shows every password and header.
    sys.stdout.write(
        f"open {tokens.base_url}/ and log in as {DEMO_EMAIL} with the password "
        f"{DEMO_PASSWORD}; or log in as the demo runner: curl -X POST {tokens.base_url}/login "
        "-H 'content-type: application/json' "
        f"""-d '{{"email": "{DEMO_EMAIL}", "password": "{DEMO_PASSWORD}"}}', then send its """
        "access_token as Authorization: Bearer <access_token> "
        f"(or paste it on {tokens.base_url}/docs)\n"
        f"metrics for Prometheus at {tokens.base_url}/metrics; logs on standard error, a JSON "
        "line each with --log-format json, a line per request too with --log-access all\n"
    )
    sys.stdout.flush()
