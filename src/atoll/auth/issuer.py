"""The client credentials grant (RFC 6749 4.4): who asks, for what, and the token it gets.

:class:`TokenIssuer` takes a token request already read off the wire (its form parameters,
and the HTTP Basic credentials if any) and answers as RFC 6749 5.1 says, or raises
:class:`OAuthError`, which the endpoint answers as 5.2 says. The token is an RFC 9068 access
token: header ``typ: at+jwt``, ``kid``; claims ``iss``, ``sub`` and ``client_id`` (the client,
calling for itself), ``aud`` (the service it is for, RFC 8707's ``resource``), ``scope``,
``iat``, ``nbf``, ``exp`` and a random ``jti``.
"""

from __future__ import annotations

import logging
import secrets
from typing import TYPE_CHECKING, Any

from atoll.auth.clients import SCOPE_TOKEN

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

    from atoll.auth.clients import Registrations
    from atoll.auth.keyring import Keyring
    from atoll.auth.model import Client
    from atoll.auth.options import TokenOptions

__all__ = ["GRANT", "OAuthError", "TokenIssuer"]

GRANT = "client_credentials"
"""The one grant the token service serves."""

logger = logging.getLogger("atoll.auth")


class OAuthError(Exception):
    """A token request refused, as RFC 6749 5.2 answers it.

    Attributes:
        error: the error code (``invalid_client``, ``invalid_scope``...).
        description: ``error_description``: safe to show, holding nothing of a secret.
        status: 400, or 401 for ``invalid_client``.
    """

    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(f"{error}: {description}")
        self.error = error
        self.description = description
        self.status = status


def invalid_request(description: str) -> OAuthError:
    """A request missing a parameter, repeating one, or otherwise malformed."""
    return OAuthError("invalid_request", description)


_INVALID_CLIENT = "the client is unknown, or its secret is wrong"


class TokenIssuer:
    """Issues tokens to the clients registered, signed with the key that signs now.

    Args:
        options: the ``[tokens]`` section.
        keyring: the signing keys.
        registrations: the clients.
        clock: the current time.
    """

    def __init__(
        self,
        options: TokenOptions,
        keyring: Keyring,
        registrations: Registrations,
        clock: Callable[[], float],
    ) -> None:
        self.options = options
        self.keyring = keyring
        self.registrations = registrations
        self.clock = clock

    async def issue(
        self, form: Mapping[str, Sequence[str]], basic: tuple[str, str] | None
    ) -> dict[str, Any]:
        """The token response (RFC 6749 5.1) to a request with ``form`` and ``basic``.

        Args:
            form: the request's parameters, each with its values (one, but ``resource`` and
                ``audience`` may repeat); a parameter without a value is left out.
            basic: the client id and secret of ``Authorization: Basic``, decoded.

        Raises:
            OAuthError: the request is refused; the error says why.
        """
        grant = _single(form, "grant_type")
        if grant is None:
            raise invalid_request("grant_type is missing: send grant_type=client_credentials")
        client = await self._client(form, basic)
        if grant != GRANT:
            raise OAuthError(
                "unsupported_grant_type",
                f"this server issues tokens for grant_type={GRANT} only",
            )
        scopes = _granted_scopes(client, _single(form, "scope"))
        audience = _audience(client, [*form.get("resource", ()), *form.get("audience", ())])
        signer = await self.keyring.signer()
        if signer is None:
            logger.error("no signing key signs now; rotate the keys (atoll auth keys rotate)")
            raise OAuthError(
                "temporarily_unavailable", "no signing key is active; try again later", 503
            )
        now = int(self.clock())
        lifetime = self.options.lifetime
        claims: dict[str, Any] = {
            "iss": self.options.issuer,
            "sub": client.id,
            "client_id": client.id,
            "aud": audience[0] if len(audience) == 1 else audience,
            "iat": now,
            "nbf": now,
            "exp": now + lifetime,
            "jti": secrets.token_urlsafe(16),
        }
        if scopes:
            claims["scope"] = " ".join(scopes)
        token = signer.sign(claims)
        logger.info(
            "issued token %s to client %s for %s (scope %r, key %s)",
            claims["jti"],
            client.id,
            " ".join(audience),
            claims.get("scope", ""),
            signer.kid,
        )
        answer: dict[str, Any] = {
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": lifetime,
        }
        if scopes:
            answer["scope"] = claims["scope"]
        return answer

    async def _client(
        self, form: Mapping[str, Sequence[str]], basic: tuple[str, str] | None
    ) -> Client:
        """The client the request authenticates, by one method (RFC 6749 2.3.1)."""
        posted_id, posted_secret = _single(form, "client_id"), _single(form, "client_secret")
        if basic is not None:
            if posted_secret is not None:
                raise invalid_request(
                    "the client authenticates twice (Authorization: Basic and client_secret); "
                    "use one method"
                )
            if posted_id is not None and posted_id != basic[0]:
                raise invalid_request("client_id differs from the one of Authorization: Basic")
            client_id, secret = basic
        elif posted_id is not None and posted_secret is not None:
            client_id, secret = posted_id, posted_secret
        else:
            raise OAuthError(
                "invalid_client",
                "the client must authenticate: with Authorization: Basic, or with client_id "
                "and client_secret in the body",
                401,
            )
        client = await self.registrations.authenticate(client_id, secret)
        if client is None:
            logger.info("refused a token request: client %r not authenticated", client_id[:200])
            raise OAuthError("invalid_client", _INVALID_CLIENT, 401)
        return client


def _single(form: Mapping[str, Sequence[str]], name: str) -> str | None:
    values = form.get(name)
    return values[0] if values else None


def _granted_scopes(client: Client, asked: str | None) -> list[str]:
    """The scopes granted: those asked for, all of them the client's; or all the client's."""
    allowed = client.scopes.split()
    if asked is None:
        return allowed
    wanted = list(dict.fromkeys(asked.split(" ")))
    if not all(SCOPE_TOKEN.fullmatch(scope) for scope in wanted):
        raise OAuthError("invalid_scope", "scope must be scope tokens separated by single spaces")
    refused = [scope for scope in wanted if scope not in allowed]
    if refused:
        raise OAuthError(
            "invalid_scope",
            f"the client may not ask for {' '.join(refused)[:200]}",
        )
    return wanted


def _audience(client: Client, asked: Sequence[str]) -> list[str]:
    """The audience of the token: the services asked for, each allowed to the client."""
    allowed = client.audience_list
    if not asked:
        if len(allowed) == 1:
            return allowed
        raise OAuthError(
            "invalid_target",
            "name the service the token is for with resource (one of the client's audiences)",
        )
    wanted = list(dict.fromkeys(asked))
    refused = [name for name in wanted if name not in allowed]
    if refused:
        raise OAuthError(
            "invalid_target", f"the client may not ask for a token for {refused[0][:200]!r}"
        )
    return wanted
