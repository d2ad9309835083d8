"""A token endpoint for the tests of client credentials: RFC 6749's client credentials grant.

:class:`TokenEndpoint` is an ASGI app, served for real by :func:`tests.security.jwks_server.
serving`, that gives a JWT signed with :func:`tests.security.tokens.ed25519_pair` (the issuer
:data:`tests.security.tokens.ISSUER`) to a client authenticated by HTTP Basic, for the
audience it asks with ``resource``. It records each request, and can hand out tokens a
service will refuse (``spoiled``: signed by another key) to show a client renewing them.
"""

from __future__ import annotations

import base64
import json
import threading
import time
import urllib.parse
import uuid
from typing import Any

from tests.security import tokens


class TokenEndpoint:
    """Gives tokens to ``clients`` (id -> secret), each valid ``lifetime`` seconds.

    Attributes:
        forms: the form of each request, in order (the secret is never in it: Basic).
        spoiled: how many of the next tokens are signed by a key no service trusts.
        arrived: set when a request arrives; ``hold``, when set, delays each answer.
    """

    def __init__(self, clients: dict[str, str], *, lifetime: int = 300) -> None:
        self.clients = clients
        self.lifetime = lifetime
        self.forms: list[dict[str, str]] = []
        self.spoiled = 0
        self.arrived = threading.Event()
        self.hold: threading.Event | None = None

    @property
    def hits(self) -> int:
        return len(self.forms)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        form = dict(urllib.parse.parse_qsl(body.decode()))
        self.forms.append(form)
        self.arrived.set()
        if self.hold is not None:
            import asyncio  # noqa: PLC0415 - only when a test holds the answers

            await asyncio.to_thread(self.hold.wait, 10.0)
        client = self._client(dict(scope["headers"]).get(b"authorization", b""))
        if client is None:
            await _answer(send, 401, {"error": "invalid_client"})
        elif form.get("grant_type") != "client_credentials":
            await _answer(send, 400, {"error": "unsupported_grant_type"})
        else:
            token = self._mint(client, form.get("resource", ""), form.get("scope", "runs:read"))
            await _answer(
                send,
                200,
                {"access_token": token, "token_type": "Bearer", "expires_in": self.lifetime},
            )

    def _client(self, header: bytes) -> str | None:
        scheme, _, encoded = header.decode().partition(" ")
        if scheme != "Basic":
            return None
        client_id, _, secret = base64.b64decode(encoded).decode().partition(":")
        client_id, secret = urllib.parse.unquote(client_id), urllib.parse.unquote(secret)
        return client_id if self.clients.get(client_id) == secret else None

    def _mint(self, client: str, audience: str, scope: str) -> str:
        now = int(time.time())
        claims = {"iss": tokens.ISSUER, "sub": client, "client_id": client, "aud": audience,
                  "scope": scope, "iat": now, "exp": now + self.lifetime,
                  "jti": uuid.uuid4().hex}  # fmt: skip
        key = tokens.ed25519_pair()
        if self.spoiled:
            self.spoiled -= 1
            key = tokens.ed25519_pair(9)  # another key, the same kid: a signature refused
            return tokens.mint(claims, key, headers={"kid": tokens.ed25519_pair().kid})
        return tokens.mint(claims, key)


async def _answer(send: Any, status: int, document: dict[str, Any]) -> None:
    headers = [(b"content-type", b"application/json"), (b"cache-control", b"no-store")]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": json.dumps(document).encode()})
