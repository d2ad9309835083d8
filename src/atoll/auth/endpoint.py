"""The token service's endpoints: ``POST /oauth/token``, ``/oauth/revoke``, ``/oauth/message-keys``.

atoll's typed REST reads JSON; a token request is ``application/x-www-form-urlencoded``
(RFC 6749 4.4.2), and so is a revocation request (RFC 7009 2.1) and, to be read the same way,
a message key's registration, so the endpoints are an ASGI app of their own, mounted under
``/oauth``. It reads the request (POST only, the form media type, a small body, each
parameter once but ``resource`` and ``audience``, nothing in the query string, HTTP Basic
decoded as RFC 6749 2.3.1 says) and hands it to the
:class:`~atoll.auth.issuer.TokenIssuer` that :meth:`TokenEndpoint.attach` gave it, which the
service's start does. Every answer has ``Cache-Control: no-store`` and ``Pragma: no-cache``
(RFC 6749 5.1); a token or a message key registered is answered in JSON, a revocation with
an empty body (RFC 7009 2.2); an error is JSON, ``{"error", "error_description"}``
(RFC 6749 5.2), ``invalid_client`` with 401 and ``WWW-Authenticate: Basic``.

No answer and no log line holds a client secret or a token, nor a part of one.
"""

from __future__ import annotations

import binascii
import logging
from base64 import b64decode
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, unquote_plus

import msgspec

from atoll.auth.issuer import OAuthError, invalid_request
from atoll.errors import ConfigError

if TYPE_CHECKING:
    from atoll.auth.issuer import TokenIssuer
    from atoll.endpoints.http.types import Receive, Scope, Send

__all__ = ["MESSAGE_KEYS_PATH", "REVOKE_PATH", "TOKEN_PATH", "EndpointServing", "TokenEndpoint"]

TOKEN_PATH = "/token"  # noqa: S105 - a path, not a password
"""The token endpoint's path below the mount (``/oauth``)."""
REVOKE_PATH = "/revoke"
"""The revocation endpoint's path below the mount (``/oauth``)."""
MESSAGE_KEYS_PATH = "/message-keys"
"""The message keys endpoint's path below the mount (``/oauth``)."""

logger = logging.getLogger("atoll.auth")

_FORM = "application/x-www-form-urlencoded"
_REPEATABLE = frozenset({"resource", "audience"})
_MOST_FIELDS = 32
_NOT_KEPT = [(b"cache-control", b"no-store"), (b"pragma", b"no-cache")]
_NO_CACHE = [(b"content-type", b"application/json"), *_NOT_KEPT]
_NAMES = {
    TOKEN_PATH: "the token endpoint",
    REVOKE_PATH: "the revocation endpoint",
    MESSAGE_KEYS_PATH: "the message keys endpoint",
}


class TokenEndpoint:
    """The ASGI app of the token service's endpoints; it serves once a service attaches.

    Args:
        realm: the realm of the ``WWW-Authenticate: Basic`` challenge: the service's name.
    """

    def __init__(self, realm: str) -> None:
        self.realm = realm
        self._issuer: TokenIssuer | None = None

    def attach(self, issuer: TokenIssuer) -> None:
        """Serve with ``issuer``, until :meth:`detach`.

        Raises:
            ConfigError: another running instance of the service has attached one: a token
                service runs once in a process.
        """
        if self._issuer is not None and self._issuer is not issuer:
            raise ConfigError(
                f"token service {self.realm!r} is running already in this process; run it "
                "once, or make another with atoll.auth.token_service()"
            )
        self._issuer = issuer

    def detach(self, issuer: TokenIssuer) -> None:
        """Stop serving with ``issuer``: requests get 503 until another is attached."""
        if self._issuer is issuer:
            self._issuer = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer one request: a token, a revocation, a message key."""
        if scope["type"] != "http":  # a websocket: refused by closing
            if scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 1000})
            return
        try:
            answer = await self._answer(scope, receive)
        except OAuthError as error:
            await self._refuse(send, error)
            return
        if answer is None:  # revoked, or nothing to revoke: the same answer (RFC 7009 2.2)
            await _send(send, 200, b"", _NOT_KEPT)
            return
        await _send(send, 200, msgspec.json.encode(answer), _NO_CACHE)

    async def _answer(self, scope: Scope, receive: Receive) -> dict[str, Any] | None:
        """The JSON answer, or ``None`` for a revocation done."""
        path = scope["path"][len(scope.get("root_path", "")) :]
        endpoint = _NAMES.get(path)
        if endpoint is None:
            raise OAuthError(
                "invalid_request",
                f"no endpoint here; the token endpoint is {TOKEN_PATH}, the revocation "
                f"endpoint {REVOKE_PATH}, the message keys endpoint {MESSAGE_KEYS_PATH}",
                404,
            )
        if scope["method"] != "POST":
            raise OAuthError("invalid_request", f"{endpoint} takes POST requests", 405)
        issuer = self._issuer
        if issuer is None:
            raise OAuthError("temporarily_unavailable", "the token service is not started", 503)
        headers = _headers(scope)
        media_type = headers.get(b"content-type", [b""])[0].split(b";")[0].strip().lower()
        if media_type != _FORM.encode():
            raise invalid_request(f"send the parameters as {_FORM} (RFC 6749 4.4.2)")
        if scope.get("query_string"):
            raise invalid_request("send the parameters in the body, never in the URL")
        body = await _body(receive, headers, issuer.options.max_body)
        form = _form(body)
        basic = _basic(headers.get(b"authorization", []))
        if path == REVOKE_PATH:
            await issuer.revoke(form, basic)
            return None
        if path == MESSAGE_KEYS_PATH:
            return await issuer.register_message_key(form, basic)
        return await issuer.issue(form, basic)

    async def _refuse(self, send: Send, error: OAuthError) -> None:
        headers = list(_NO_CACHE)
        if error.status == 401:  # noqa: PLR2004 - RFC 6749 5.2: the challenge of invalid_client
            headers.append((b"www-authenticate", f'Basic realm="{self.realm}"'.encode()))
        elif error.status == 405:  # noqa: PLR2004 - what the endpoint takes
            headers.append((b"allow", b"POST"))
        body = {"error": error.error, "error_description": error.description}
        await _send(send, error.status, msgspec.json.encode(body), headers)


class EndpointServing:
    """The component that has a :class:`TokenEndpoint` serve with the running service's issuer.

    A mounted app is declared with the service, before anything runs, and has no other way
    to reach what the service makes when it starts.
    """

    def __init__(self, endpoint: TokenEndpoint, issuer: TokenIssuer) -> None:
        self.endpoint = endpoint
        self.issuer = issuer

    async def start(self) -> None:
        """Serve the endpoint with the issuer."""
        self.endpoint.attach(self.issuer)

    async def stop(self) -> None:
        """Stop serving: the endpoint answers 503 until started again."""
        self.endpoint.detach(self.issuer)


def _headers(scope: Scope) -> dict[bytes, list[bytes]]:
    headers: dict[bytes, list[bytes]] = {}
    for name, value in scope.get("headers", ()):
        headers.setdefault(name.lower(), []).append(value)
    return headers


async def _body(receive: Receive, headers: dict[bytes, list[bytes]], limit: int) -> bytes:
    """The request's body, refused past ``limit`` bytes before or while it is read."""
    declared = headers.get(b"content-length", [b""])[0]
    if declared.isdigit() and int(declared) > limit:
        raise OAuthError("invalid_request", f"the request is larger than {limit} bytes", 413)
    body = bytearray()
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise invalid_request("the client went away")
        body += message.get("body", b"")
        if len(body) > limit:
            raise OAuthError("invalid_request", f"the request is larger than {limit} bytes", 413)
        if not message.get("more_body", False):
            return bytes(body)


def _form(body: bytes) -> dict[str, list[str]]:
    """The parameters of a form body; a parameter sent without a value is left out (3.2)."""
    try:
        text = body.decode("ascii")
        form = parse_qs(
            text,
            keep_blank_values=False,
            strict_parsing=False,
            encoding="utf-8",
            errors="strict",
            max_num_fields=_MOST_FIELDS,
        )
    except (UnicodeDecodeError, ValueError):
        raise invalid_request("the body is not a form of at most 32 UTF-8 parameters") from None
    for name, values in form.items():
        if len(values) > 1 and name not in _REPEATABLE:
            raise invalid_request(f"{name[:40]} is sent more than once")
    return form


def _basic(given: list[bytes]) -> tuple[str, str] | None:
    """The client id and secret of ``Authorization: Basic``, or ``None`` without one."""
    if not given:
        return None
    if len(given) > 1:
        raise invalid_request("send one Authorization header")
    scheme, _, credentials = given[0].strip().partition(b" ")
    if scheme.lower() != b"basic":
        raise OAuthError("invalid_client", "authenticate the client with Authorization: Basic", 401)
    try:
        decoded = b64decode(credentials.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise OAuthError(
            "invalid_client", "Authorization: Basic holds no base64 client_id:secret", 401
        ) from None
    client_id, colon, secret = decoded.partition(":")
    if not colon:
        raise OAuthError(
            "invalid_client", "Authorization: Basic holds no base64 client_id:secret", 401
        )
    # RFC 6749 2.3.1: each is form-encoded before it is joined and encoded in base64.
    return unquote_plus(client_id), unquote_plus(secret)


async def _send(send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]]) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [*headers, (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})
