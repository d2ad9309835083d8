"""atoll's own token service: an OAuth2 authorization server for services, and their users.

::

    atoll run atoll.auth:service --tokens-issuer https://id.example.org --db-url ...
    atoll auth clients add --client-id runs-worker --scope runs:read --audience runs

It issues access tokens (RFC 9068 JWTs, EdDSA or RS256) by the client credentials grant
(RFC 6749 4.4) at ``POST /oauth/token``, and users' tokens to the services that check their
passwords (the session grant, with refresh tokens rotated at each use and revoked at
``POST /oauth/revoke``); it publishes its keys at ``/.well-known/jwks.json`` and its
metadata (RFC 8414) at ``/.well-known/oauth-authorization-server``. A service trusts its
tokens with ``--auth-jwt-issuer``, ``--auth-jwt-audience`` and ``--auth-jwt-jwks-url``.
Clients register the public keys they sign their messages with at ``POST
/oauth/message-keys``, published at ``/.well-known/message-keys.json``.

Declaring it does nothing: the database, the keys and the endpoint come to life when it runs.
See ``docs/reference/token-service.md``.
"""

from atoll.auth.options import Clock, TokenOptions
from atoll.auth.service import token_service

__all__ = ["Clock", "TokenOptions", "service", "token_service"]

service = token_service()
"""The token service ``atoll run atoll.auth:service`` runs; compose it into a System as well."""
