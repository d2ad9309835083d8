"""Credentials a client sends: a token for each service it calls, got, kept and renewed.

Two kinds, both :class:`Credentials`:

- :class:`StaticToken`: one token, given (``--clients-token``), sent to every service;
- :class:`ClientCredentials`: OAuth2's client credentials grant (RFC 6749, 4.4), against a
  token endpoint such as atoll's token service (``--clients-token-url``, ``--clients-client-id``,
  ``--clients-client-secret``). It asks for a token per audience (RFC 8707's ``resource``:
  the service's name, or what ``--clients-audiences`` maps it to), keeps it, and asks for a
  new one shortly before it expires: once, however many calls want one at that moment.

A call refused because its token was not taken (JSON-RPC -32012: expired, revoked, a key the
service no longer trusts) gets one new token and is sent once more
(:class:`AuthorizedTransport`, over HTTP or the broker alike); a second refusal is the
caller's.

The client secret and the tokens never appear in a message or a log line.
"""

from __future__ import annotations

import asyncio
import base64
import time
import urllib.parse
from typing import TYPE_CHECKING, Any, Protocol

import msgspec

from atoll.errors import CredentialsRefusedError, RemoteUnavailableError
from atoll.kernel.options import masked_url

if TYPE_CHECKING:
    from collections.abc import Callable

    import httpx

    from atoll.clients.transports import TokenTransport
    from atoll.kernel.options import Secret

__all__ = [
    "AuthorizedTransport",
    "ClientCredentials",
    "Credentials",
    "StaticToken",
    "basic_authorization",
    "oauth_error",
]

UNAUTHENTICATED = -32012
"""The JSON-RPC code of a call whose token was not taken (atoll's, on every transport)."""

RENEW_BEFORE = 30.0
"""Seconds before its expiry when a kept token is renewed (or half its life, if shorter)."""


class Credentials(Protocol):
    """What gives a client a token for the service it calls."""

    async def token(self, audience: str, *, renew: bool = False) -> str:
        """A token for ``audience``: the one kept, or a new one when ``renew`` or expiring.

        Raises:
            CredentialsRefusedError: the token endpoint refused the client.
            RemoteUnavailableError: the token endpoint did not answer.
        """
        ...

    async def aclose(self) -> None:
        """Release the connections."""
        ...


class StaticToken:
    """One token, given, sent to every service; it cannot be renewed.

    Args:
        token: the token.
    """

    def __init__(self, token: Secret) -> None:
        self._token = token

    async def token(self, audience: str, *, renew: bool = False) -> str:  # noqa: ARG002 - one for all
        """The token given."""
        return self._token.reveal()

    async def aclose(self) -> None:
        """Nothing to release."""

    def __repr__(self) -> str:
        return "StaticToken(********)"


class _Kept(msgspec.Struct):
    access_token: str
    token_type: str
    expires_in: float | None = None


class ClientCredentials:
    """Tokens from a token endpoint, by the client credentials grant; kept per audience.

    Args:
        url: the token endpoint (``http://127.0.0.1:8100/oauth/token``).
        client_id: this client's id.
        client_secret: its secret, sent with HTTP Basic (``client_secret_basic``).
        scope: the scopes to ask for (space-separated); the client's own when empty.
        timeout: seconds a token request may take at each step.
        clock: the time, in seconds (a test sets it).
        client: the ``httpx.AsyncClient`` to ask with, which its owner closes.
    """

    def __init__(
        self,
        url: str,
        client_id: str,
        client_secret: Secret,
        *,
        scope: str = "",
        timeout: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self.url = url
        self.client_id = client_id
        self._secret = client_secret
        self.scope = scope
        self.timeout = timeout
        self._clock = clock
        self._client = client
        self._owned = client is None
        self._kept: dict[str, tuple[str, float]] = {}
        self._asking: dict[str, asyncio.Future[str]] = {}

    async def token(self, audience: str, *, renew: bool = False) -> str:
        """A token for ``audience``: the one kept while it is fresh, else a new one.

        Concurrent callers wanting a new one share one request.
        """
        kept = self._kept.get(audience)
        if kept is not None and not renew and self._clock() < kept[1]:
            return kept[0]
        asking = self._asking.get(audience)
        if asking is None:
            asking = asyncio.get_running_loop().create_future()
            self._asking[audience] = asking
            try:
                asking.set_result(await self._ask(audience))
            except BaseException as error:
                asking.set_exception(error)
                asking.exception()  # read here: a future nobody else awaits logs nothing
                raise
            finally:
                del self._asking[audience]
        return await asyncio.shield(asking)

    async def _ask(self, audience: str) -> str:
        import httpx  # noqa: PLC0415 - loaded by the first request, not by `import atoll`

        if self._client is None:
            self._client = httpx.AsyncClient()
        form = {"grant_type": "client_credentials", "resource": audience}
        if self.scope:
            form["scope"] = self.scope
        basic = basic_authorization(self.client_id, self._secret)
        started = self._clock()
        try:
            answer = await self._client.post(
                self.url,
                data=form,
                headers={"Authorization": basic, "Accept": "application/json"},
                timeout=self.timeout,
                follow_redirects=False,
            )
        except httpx.TransportError as error:
            raise RemoteUnavailableError(
                f"cannot get a token from {masked_url(self.url)} ({type(error).__name__}); "
                "check --clients-token-url and that the token service runs"
            ) from None
        if answer.status_code != 200:  # noqa: PLR2004 - RFC 6749 5.1
            raise CredentialsRefusedError(_refusal(answer, self.url, self.client_id))
        try:
            kept = msgspec.json.decode(answer.content, type=_Kept)
        except msgspec.DecodeError:
            raise CredentialsRefusedError(
                f"{masked_url(self.url)} answered 200 without a token (RFC 6749 5.1 asks for "
                "access_token, token_type and expires_in); check --clients-token-url"
            ) from None
        if kept.token_type.lower() != "bearer":
            raise CredentialsRefusedError(
                f"{masked_url(self.url)} gave a {kept.token_type!r} token; atoll sends Bearer "
                "tokens only"
            )
        life = kept.expires_in if kept.expires_in is not None else 60.0
        self._kept[audience] = (kept.access_token, started + life - min(RENEW_BEFORE, life / 2))
        return kept.access_token

    async def aclose(self) -> None:
        """Close the connections, unless the client was given; forget the tokens."""
        self._kept.clear()
        if self._owned and self._client is not None:
            client, self._client = self._client, None
            await client.aclose()

    def __repr__(self) -> str:
        return f"ClientCredentials({masked_url(self.url)!r}, client_id={self.client_id!r})"


def basic_authorization(client_id: str, secret: Secret) -> str:
    """The ``Authorization`` header of a client authenticating with HTTP Basic.

    RFC 6749 2.3.1: the id and secret are form-encoded before they are joined.
    """
    pair = f"{_quote(client_id)}:{_quote(secret.reveal())}"
    return "Basic " + base64.b64encode(pair.encode()).decode("ascii")


def _quote(text: str) -> str:
    return urllib.parse.quote(text, safe="")


def oauth_error(answer: httpx.Response) -> tuple[str, str]:
    """The ``error`` and ``error_description`` of an RFC 6749 5.2 answer; empty if none."""
    try:
        body: Any = msgspec.json.decode(answer.content)
    except msgspec.DecodeError:
        return "", ""
    if not isinstance(body, dict):
        return "", ""
    return str(body.get("error", "")), str(body.get("error_description", ""))


def _refusal(answer: httpx.Response, url: str, client_id: str) -> str:
    """Why the token endpoint refused, from its RFC 6749 5.2 answer (never the secret)."""
    code, described = oauth_error(answer)
    why = {
        "invalid_client": f"it does not know the client {client_id!r} with this secret; check "
        "--clients-client-id and --clients-client-secret",
        "invalid_scope": "the scopes asked for are not the client's; check --clients-scope",
        "invalid_target": "the client may not call this service; ask for its audience to be "
        "added to the client",
        "unauthorized_client": "the client may not use the client credentials grant",
    }.get(code, f"HTTP {answer.status_code}")
    shown = f" ({described[:120]})" if described else ""
    return f"{masked_url(url)} refused a token: {code or 'error'}{shown}: {why}"


class AuthorizedTransport:
    """A transport that sends a token with each request, renewed once if refused.

    Args:
        transport: the transport carrying the bodies and the token: over HTTP
            (:class:`~atoll.clients.transports.HttpTransport`) or a broker
            (:class:`~atoll.clients.transports.BrokerTransport`).
        credentials: what gives the tokens.
        audience: the audience of the service called.
    """

    def __init__(self, transport: TokenTransport, credentials: Credentials, audience: str) -> None:
        self.transport = transport
        self.credentials = credentials
        self.audience = audience
        self.url = transport.url

    async def exchange(self, body: bytes, *, notification: bool) -> bytes | None:
        """Send ``body`` with a token; once more with a new one if every answer refused it.

        Only when every call of the request was refused for its token (nothing ran) is the
        request sent again; a notification, which gets no answer, is sent once.
        """
        token = await self.credentials.token(self.audience)
        answer = await self.transport.exchange(body, notification=notification, token=token)
        if answer is None or not _all_refused(answer):
            return answer
        token = await self.credentials.token(self.audience, renew=True)
        return await self.transport.exchange(body, notification=notification, token=token)

    async def aclose(self) -> None:
        """Close the transport's connections (the credentials are the directory's)."""
        await self.transport.aclose()

    def __repr__(self) -> str:
        return f"AuthorizedTransport({self.url!r})"


def _all_refused(answer: bytes) -> bool:
    """Whether each answer of ``answer`` (one, or a batch's) is a -32012 refusal."""
    if b"-32012" not in answer:  # the common case, found without decoding
        return False
    try:
        decoded: Any = msgspec.json.decode(answer)
    except msgspec.DecodeError:
        return False
    answers = decoded if isinstance(decoded, list) else [decoded]
    return bool(answers) and all(
        isinstance(one, dict)
        and isinstance(one.get("error"), dict)
        and one["error"].get("code") == UNAUTHENTICATED
        for one in answers
    )
