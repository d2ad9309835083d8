"""The token service, declared: its options, components, endpoints and database.

:func:`token_service` declares one (``atoll.auth.service`` is the one ``atoll run
atoll.auth:service`` runs); each call makes a service of its own, with its own token endpoint.
"""

from __future__ import annotations

from typing import Any

from atoll.auth.clients import Registrations, registrations_provider
from atoll.auth.endpoint import (
    MESSAGE_KEYS_PATH,
    REVOKE_PATH,
    TOKEN_PATH,
    EndpointServing,
    TokenEndpoint,
)
from atoll.auth.issuer import GRANTS, TokenIssuer
from atoll.auth.keyring import Keyring
from atoll.auth.message_keys import MessageKeys
from atoll.auth.options import Clock, TokenOptions, on_database
from atoll.auth.sessions import Sessions
from atoll.auth.tables import AuthUnitOfWork, schema
from atoll.messaging.context import Response  # noqa: TC001 - the container reads hints at run time
from atoll.service.runnable import Service

__all__ = [
    "JWKS_PATH",
    "MESSAGE_JWKS_PATH",
    "MESSAGE_KEYS_ENDPOINT",
    "METADATA_PATH",
    "REVOCATION_ENDPOINT",
    "TOKEN_ENDPOINT",
    "metadata",
    "token_service",
]

JWKS_PATH = "/.well-known/jwks.json"
METADATA_PATH = "/.well-known/oauth-authorization-server"
TOKEN_ENDPOINT = "/oauth" + TOKEN_PATH
REVOCATION_ENDPOINT = "/oauth" + REVOKE_PATH
MESSAGE_JWKS_PATH = "/.well-known/message-keys.json"
MESSAGE_KEYS_ENDPOINT = "/oauth" + MESSAGE_KEYS_PATH
AUTH_METHODS = ["client_secret_basic", "client_secret_post"]


def metadata(options: TokenOptions) -> dict[str, Any]:
    """The authorization server's metadata (RFC 8414), for the issuer ``options`` name.

    Beside RFC 8414's fields, two of atoll's own (RFC 8414 2 lets a server add fields): where
    clients register their message keys, and where those are published.
    """
    base = options.base_url
    return {
        "issuer": options.issuer,
        "token_endpoint": base + TOKEN_ENDPOINT,
        "jwks_uri": base + JWKS_PATH,
        "grant_types_supported": list(GRANTS),
        "token_endpoint_auth_methods_supported": AUTH_METHODS,
        "revocation_endpoint": base + REVOCATION_ENDPOINT,
        "revocation_endpoint_auth_methods_supported": AUTH_METHODS,
        "response_types_supported": [],
        "atoll_message_keys_endpoint": base + MESSAGE_KEYS_ENDPOINT,
        "atoll_message_jwks_uri": base + MESSAGE_JWKS_PATH,
    }


def token_service(name: str = "auth", *, version: str = "1.0.0") -> Service:
    """A token service named ``name``: an OAuth2 authorization server for service calls.

    It serves the client credentials, session and refresh token grants at ``POST
    /oauth/token``, the revocation of refresh tokens at ``POST /oauth/revoke``, its JWKS at
    ``/.well-known/jwks.json`` and its metadata at ``/.well-known/oauth-authorization-server``.
    Clients register the public keys they sign their messages with at ``POST
    /oauth/message-keys``, and it publishes them at ``/.well-known/message-keys.json``. It
    keeps its clients, keys, users' refresh tokens and message keys in a database of its own
    (``--db-url``).
    """
    service = Service(
        name,
        version=version,
        description="An OAuth2 token service: client credentials, users' sessions, message "
        "keys, JWKS, and metadata.",
    )
    service.options("tokens", TokenOptions)
    service.database(schema, AuthUnitOfWork)
    endpoint = TokenEndpoint(name)
    service.mount("/oauth", endpoint)
    service.provide(Clock)
    service.provide(on_database(Keyring, name))
    service.provide(registrations_provider(name))
    service.provide(on_database(Sessions, name))
    service.provide(on_database(MessageKeys, name))

    def issuer(  # noqa: PLR0917 - what the issuer is made of, each by type
        options: TokenOptions,
        keyring: Keyring,
        registrations: Registrations,
        sessions: Sessions,
        message_keys: MessageKeys,
        clock: Clock,
    ) -> TokenIssuer:
        return TokenIssuer(options, keyring, registrations, sessions, message_keys, clock)

    def serving(issuer: TokenIssuer) -> EndpointServing:
        return EndpointServing(endpoint, issuer)

    service.provide(issuer)
    service.provide(serving)

    @service.get(JWKS_PATH, public=True)
    async def jwks(keyring: Keyring, options: TokenOptions, response: Response) -> dict[str, Any]:
        """The public keys tokens are signed with (RFC 7517), with the next one's."""
        response.headers["cache-control"] = f"public, max-age={options.jwks_max_age}"
        return await keyring.jwks()

    @service.get(MESSAGE_JWKS_PATH, public=True)
    async def message_jwks(
        message_keys: MessageKeys, options: TokenOptions, response: Response
    ) -> dict[str, Any]:
        """The public keys clients sign their messages with, each with its ``client_id``."""
        response.headers["cache-control"] = f"public, max-age={options.jwks_max_age}"
        return await message_keys.jwks()

    @service.get(METADATA_PATH, public=True)
    async def authorization_server(options: TokenOptions, response: Response) -> dict[str, Any]:
        """Where the endpoints and the JWKS are, and what they take (RFC 8414)."""
        response.headers["cache-control"] = "public, max-age=3600"
        return metadata(options)

    return service
