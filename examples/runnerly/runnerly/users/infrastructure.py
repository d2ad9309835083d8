"""The users infrastructure: its tables and repositories, a clock, and sessions.

:class:`TokenServiceSessions` opens, refreshes and ends sessions at atoll's token service
over HTTP, as the client the users service is registered as there (``--clients-token-url``,
``--clients-client-id``, ``--clients-client-secret``): the token service issues the runners'
tokens, and every service of runnerly trusts its keys. Composed in one process with the
token service, the users service asks it in the process instead (``runnerly.app``), with the
same requests and the same answers.
"""

from __future__ import annotations

import time
import urllib.parse
from base64 import b64encode
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import sqlalchemy as sa

import atoll
from atoll.clients.directory import ClientOptions
from atoll.errors import ConfigError, RemoteUnavailableError
from runnerly.users.contracts import SessionTokens
from runnerly.users.domain import SessionEndedError
from runnerly.users.model import FailedLogins, User

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

__all__ = [
    "SESSION_GRANT",
    "FailedLoginRecords",
    "SystemClock",
    "TokenServiceSessions",
    "UserRecords",
    "failed_logins",
    "refresh_form",
    "refusal",
    "revoke_form",
    "schema",
    "session_form",
    "tokens_of",
    "users",
]

metadata = sa.MetaData()
users = sa.Table(
    "users",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("email", sa.String(320), nullable=False, unique=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("password_hash", sa.String(200), nullable=True),
)
failed_logins = sa.Table(
    "failed_logins",
    metadata,
    sa.Column("email", sa.String(320), primary_key=True),
    sa.Column("failures", sa.Integer, nullable=False),
    sa.Column("last_failed", sa.Float, nullable=False),
    sa.Column("locked_until", sa.Float, nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
)

schema = atoll.Schema(metadata, migrations=Path(__file__).with_name("migrations"))
schema.map(User, users)
schema.map(FailedLogins, failed_logins, id="email", version="version")

SESSION_GRANT = "urn:atoll:params:oauth:grant-type:session"
"""The token service's grant that opens a session for a user, asked by a session client."""


class UserRecords(atoll.Repository[User]):
    """The users, in the users service's database."""

    async def by_email(self, email: str) -> User | None:
        """The user with this email, if any."""
        found = await self.find(email=email)
        return found[0] if found else None

    async def everyone(self) -> list[User]:
        """Every user, by id."""
        return await self.find()


class FailedLoginRecords(atoll.Repository[FailedLogins]):
    """The failed logins with each email, in the users service's database.

    Every instance of the service counts in the same rows: a lockout holds whichever instance
    a login reaches.
    """


class SystemClock:
    """The time of the machine."""

    def now(self) -> float:
        """Seconds since the epoch."""
        return time.time()


def session_form(user_id: int, scopes: Sequence[str]) -> dict[str, str]:
    """The token request that opens a session for the user ``user_id``, with ``scopes``.

    The scopes are always named: left out, the token service would grant every scope the
    users service may ask for, an admin's among them.
    """
    return {"grant_type": SESSION_GRANT, "subject": str(user_id), "scope": " ".join(scopes)}


def refresh_form(refresh_token: str, scopes: Sequence[str]) -> dict[str, str]:
    """The token request that trades ``refresh_token`` for tokens with ``scopes`` (RFC 6749 6)."""
    return {
        "grant_type": "refresh_token",
        "refresh_token": refresh_token,
        "scope": " ".join(scopes),
    }


def revoke_form(refresh_token: str) -> dict[str, str]:
    """The revocation request that ends the session of ``refresh_token`` (RFC 7009 2.1)."""
    return {"token": refresh_token, "token_type_hint": "refresh_token"}


def refusal(answer: Mapping[str, Any]) -> Exception:
    """What the token service's refusal (an RFC 6749 5.2 error) means here.

    :class:`SessionEndedError` for a refresh token refused (``invalid_grant``);
    :class:`RemoteUnavailableError` for any other: the users service's own registration at
    the token service is wrong, or the token service is not ready.
    """
    if answer.get("error") == "invalid_grant":
        return SessionEndedError()
    return RemoteUnavailableError(
        f"the token service refused the users service's request ({answer.get('error')}: "
        f"{answer.get('error_description')}); check its registration there "
        "(--clients-client-id, --clients-client-secret, and --tokens-session-clients)"
    )


def tokens_of(answer: Mapping[str, Any]) -> SessionTokens:
    """The tokens of the token service's answer (RFC 6749 5.1)."""
    return SessionTokens(
        access_token=str(answer["access_token"]),
        refresh_token=str(answer["refresh_token"]),
        expires_in=int(answer["expires_in"]),
    )


class TokenServiceSessions:
    """The sessions port, over HTTP, at atoll's token service.

    A component: :meth:`stop` closes its connections.

    Args:
        options: the ``clients`` option section: ``token_url``, ``client_id`` and
            ``client_secret`` (the users service's registration), ``timeout``.
        transport: what carries the requests; httpx's own by default.
    """

    def __init__(
        self, options: ClientOptions, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        if not options.token_url or options.client_secret is None:
            raise ConfigError(
                "the users service opens sessions at the token service: set "
                "--clients-token-url (such as http://127.0.0.1:8004/oauth/token), "
                "--clients-client-id and --clients-client-secret"
            )
        self._token_url = options.token_url
        self._revoke_url = options.token_url.rsplit("/", 1)[0] + "/revoke"
        pair = ":".join(
            urllib.parse.quote_plus(part)
            for part in (options.client_id, options.client_secret.reveal())
        )
        self._headers = {
            "Authorization": "Basic " + b64encode(pair.encode()).decode("ascii"),
            "Accept": "application/json",
        }
        self._http = httpx.AsyncClient(timeout=options.timeout, transport=transport)

    async def start(self) -> None:
        """Nothing to do: connections open at the first request."""

    async def stop(self) -> None:
        """Close the connections."""
        await self._http.aclose()

    async def open(self, user_id: int, scopes: Sequence[str]) -> SessionTokens:
        """A new session for the user, with ``scopes``."""
        return tokens_of(await self._post(self._token_url, session_form(user_id, scopes)))

    async def refresh(self, refresh_token: str, scopes: Sequence[str]) -> SessionTokens:
        """New tokens with ``scopes`` for the session of ``refresh_token``, then spent."""
        form = refresh_form(refresh_token, scopes)
        return tokens_of(await self._post(self._token_url, form))

    async def close(self, refresh_token: str) -> None:
        """End the session of ``refresh_token`` (RFC 7009)."""
        await self._post(self._revoke_url, revoke_form(refresh_token))

    async def _post(self, url: str, form: dict[str, str]) -> dict[str, Any]:
        """The answer of a 200 to ``form`` (nothing for a revocation's empty body).

        Raises:
            SessionEndedError, RemoteUnavailableError: what a refusal means (:func:`refusal`),
                or no answer.
        """
        try:
            response = await self._http.post(url, data=form, headers=self._headers)
        except httpx.HTTPError as error:
            raise RemoteUnavailableError(
                f"the token service at {url} did not answer ({type(error).__name__})"
            ) from None
        try:
            answer = response.json() if response.content else {}
        except ValueError:
            answer = None
        if not isinstance(answer, dict):
            answer = {"error": f"HTTP {response.status_code}"}
        if response.status_code != 200:  # noqa: PLR2004 - RFC 6749 5.1, RFC 7009 2.2
            raise refusal(answer)
        return answer
