"""The token endpoint's grants (RFC 6749), refresh tokens' revocation (RFC 7009), message keys.

:class:`TokenIssuer` takes a request already read off the wire (its form parameters, and the
HTTP Basic credentials if any), authenticates the client, and answers as RFC 6749 5.1 says,
or raises :class:`OAuthError`, which the endpoint answers as 5.2 says. It serves three grants:

- ``client_credentials`` (4.4): a service's token for itself; ``sub`` and ``client_id`` are
  the client's.
- the session grant (:data:`SESSION_GRANT`, an extension grant, 4.5): a session client, a
  service that has checked a user's password, opens a session for the user, and gets the
  user's access token (``sub`` the user, ``client_id`` the client, ``sid`` the session) with a
  refresh token.
- ``refresh_token`` (6): a session client exchanges a session's refresh token for a new
  access token and the next refresh token (:mod:`atoll.auth.sessions`).

Every access token is an RFC 9068 JWT: header ``typ: at+jwt``, ``kid``; claims ``iss``,
``sub``, ``client_id``, ``aud`` (the services it is for, RFC 8707's ``resource``),
``scope``, ``iat``, ``nbf``, ``exp``, a random ``jti``, and a user's ``sid``.

A client authenticated as at the token endpoint registers the public key it signs its
messages with (:mod:`atoll.auth.message_keys`), with a proof by the key itself; a key or a
proof refused is ``invalid_request``, a client without the scope ``atoll:sign-messages``
``invalid_scope``.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from atoll.auth.clients import SCOPE_TOKEN
from atoll.auth.message_keys import PROOF_WANTED, SIGN_MESSAGES_SCOPE, MessageKeyRefusedError
from atoll.auth.sessions import SUBJECT

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

    from atoll.adapters.jwt.signer import Signer
    from atoll.auth.clients import Registrations
    from atoll.auth.keyring import Keyring
    from atoll.auth.message_keys import MessageKeys
    from atoll.auth.model import Client, RefreshToken
    from atoll.auth.options import TokenOptions
    from atoll.auth.sessions import Sessions

__all__ = [
    "GRANT",
    "GRANTS",
    "REFRESH_GRANT",
    "SESSION_GRANT",
    "OAuthError",
    "TokenIssuer",
]

GRANT = "client_credentials"
"""The client credentials grant: a service's token for itself."""
SESSION_GRANT = "urn:atoll:params:oauth:grant-type:session"
"""The session grant: a session client opens a user's session (an RFC 6749 4.5 extension)."""
REFRESH_GRANT = "refresh_token"
"""The refresh token grant (RFC 6749 6): a session's next access and refresh tokens."""
GRANTS = (GRANT, REFRESH_GRANT, SESSION_GRANT)
"""Every grant the token service serves."""

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
_INVALID_GRANT = "the refresh token is unknown, expired or revoked; open a new session"
# The descriptions of invalid_scope and invalid_target; {} stands for what is refused.
_CLIENT_MAY_NOT = "the client may not ask for {}"
_CLIENT_MAY_NOT_TARGET = "the client may not ask for a token for {}"
_SESSION_HAS_NO = "the session was not granted {}"
_SESSION_HAS_NO_TARGET = "the session was not granted tokens for {}"


@dataclass(frozen=True)
class _Grant:
    """What one access token says: whose it is, who holds it, for what."""

    subject: str
    client_id: str
    audience: list[str]
    scopes: list[str]
    session: str | None = None


class TokenIssuer:
    """Issues tokens to the clients registered, signed with the key that signs now.

    Args:
        options: the ``[tokens]`` section.
        keyring: the signing keys.
        registrations: the clients.
        sessions: users' sessions, for the session and refresh token grants.
        message_keys: the clients' message keys.
        clock: the current time.
    """

    def __init__(  # noqa: PLR0917 - built in one place, each collaborator by type
        self,
        options: TokenOptions,
        keyring: Keyring,
        registrations: Registrations,
        sessions: Sessions,
        message_keys: MessageKeys,
        clock: Callable[[], float],
    ) -> None:
        self.options = options
        self.keyring = keyring
        self.registrations = registrations
        self.sessions = sessions
        self.message_keys = message_keys
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
            raise invalid_request(f"grant_type is missing: send one of {', '.join(GRANTS)}")
        client = await self._client(form, basic)
        if grant == GRANT:
            return await self._client_credentials(client, form)
        if grant == SESSION_GRANT:
            return await self._open_session(client, form)
        if grant == REFRESH_GRANT:
            return await self._refresh(client, form)
        raise OAuthError(
            "unsupported_grant_type",
            f"this server issues tokens for grant_type {', '.join(GRANTS)} only",
        )

    async def revoke(
        self, form: Mapping[str, Sequence[str]], basic: tuple[str, str] | None
    ) -> None:
        """Revoke the refresh token a request names, and its session (RFC 7009 2.1).

        Anything else (an unknown token, another client's, an access token) revokes nothing,
        and is answered as if it had: RFC 7009 2.2.

        Raises:
            OAuthError: no token is named, or the client is not authenticated.
        """
        token = _single(form, "token")
        if token is None:
            raise invalid_request("token is missing: send token=<the refresh token to revoke>")
        client = await self._client(form, basic)
        await self.sessions.revoke(token, client.id)

    async def register_message_key(
        self, form: Mapping[str, Sequence[str]], basic: tuple[str, str] | None
    ) -> dict[str, Any]:
        """Register the public key a request's ``jwk`` holds as its client's message key.

        The request's ``proof`` is a JWS by that key, made for the client: only the holder
        of the private key registers it. The client needs the scope
        :data:`~atoll.auth.message_keys.SIGN_MESSAGES_SCOPE`.

        Returns:
            ``{"kid", "expires_in"}``: the key's id, and the seconds it is published for.

        Raises:
            OAuthError: no ``jwk`` or ``proof`` is sent, the client is not authenticated,
                it lacks the scope (``invalid_scope``), or the key or its proof is refused
                (``invalid_request``, saying why).
        """
        text = _single(form, "jwk")
        if text is None:
            raise invalid_request(
                "jwk is missing: send jwk=<the JSON of the public Ed25519 JWK to sign with>"
            )
        proof = _single(form, "proof")
        if proof is None:
            raise invalid_request(f"proof is missing: {PROOF_WANTED}")
        client = await self._client(form, basic)
        if SIGN_MESSAGES_SCOPE not in client.scope_set:
            logger.info(
                "refused a message key to client %s: no scope %s", client.id, SIGN_MESSAGES_SCOPE
            )
            raise OAuthError(
                "invalid_scope",
                f"client {client.id!r} may not register message keys: it lacks the scope "
                f"{SIGN_MESSAGES_SCOPE}. Add the client again with it: atoll auth clients "
                f"remove {client.id}, then atoll auth clients add --client-id {client.id} "
                f"--scope {SIGN_MESSAGES_SCOPE} with its other scopes and audiences, and give "
                "it the new secret",
            )
        try:
            key = await self.message_keys.register(client.id, text, proof)
        except MessageKeyRefusedError as refused:
            raise invalid_request(str(refused)) from None
        return {"kid": key.kid, "expires_in": self.options.message_key_lifetime}

    async def _client_credentials(
        self, client: Client, form: Mapping[str, Sequence[str]]
    ) -> dict[str, Any]:
        """A client's token for itself: for the one audience it names, or its only one."""
        scopes = _scopes(client.scopes.split(), _single(form, "scope"), _CLIENT_MAY_NOT)
        asked = _asked_audience(form)
        if not asked and len(client.audience_list) > 1:
            raise OAuthError(
                "invalid_target",
                "name the service the token is for with resource (one of the client's audiences)",
            )
        audience = _targets(client.audience_list, asked, _CLIENT_MAY_NOT_TARGET)
        signer = await self._signer()
        return self._answer(signer, _Grant(client.id, client.id, audience, scopes))

    async def _open_session(
        self, client: Client, form: Mapping[str, Sequence[str]]
    ) -> dict[str, Any]:
        """A user's first access token and refresh token, for every audience by default."""
        self._check_session_client(client)
        subject = _subject(client, _single(form, "subject"))
        scopes = _scopes(client.scopes.split(), _single(form, "scope"), _CLIENT_MAY_NOT)
        audience = _targets(client.audience_list, _asked_audience(form), _CLIENT_MAY_NOT_TARGET)
        signer = await self._signer()  # before the session: none is opened to be lost
        record, refresh_token = await self.sessions.open(client.id, subject, audience, scopes)
        answer = self._answer(signer, _Grant(subject, client.id, audience, scopes, record.family))
        answer["refresh_token"] = refresh_token
        return answer

    async def _refresh(self, client: Client, form: Mapping[str, Sequence[str]]) -> dict[str, Any]:
        """A session's next access token and refresh token; the one presented is used up."""
        self._check_session_client(client)
        presented = _single(form, "refresh_token")
        if presented is None:
            raise invalid_request(
                "refresh_token is missing: send the refresh token of the session's last answer"
            )
        asked_scope, asked_audience = _single(form, "scope"), _asked_audience(form)

        def narrowed(session: RefreshToken) -> _Grant:
            scopes = _scopes(session.scopes.split(), asked_scope, _SESSION_HAS_NO)
            audience = _targets(session.audiences.split(), asked_audience, _SESSION_HAS_NO_TARGET)
            return _Grant(session.subject, client.id, audience, scopes, session.family)

        signer = await self._signer()  # before the rotation: no token is used up for nothing
        refreshed = await self.sessions.refresh(presented, client.id, narrowed)
        if refreshed is None:
            raise OAuthError("invalid_grant", _INVALID_GRANT)
        grant, _, refresh_token = refreshed
        answer = self._answer(signer, grant)
        answer["refresh_token"] = refresh_token
        return answer

    def _check_session_client(self, client: Client) -> None:
        """Refuse a client the service's ``session_clients`` does not name (RFC 6749 5.2)."""
        if client.id not in self.options.session_clients:
            logger.info("refused a user's session to client %s: no session client", client.id)
            raise OAuthError(
                "unauthorized_client",
                f"client {client.id!r} may not open or refresh users' sessions: only the "
                "token service's session_clients may",
            )

    async def _signer(self) -> Signer:
        """The key that signs now.

        Raises:
            OAuthError: ``temporarily_unavailable``: no key signs now.
        """
        signer = await self.keyring.signer()
        if signer is None:
            logger.error("no signing key signs now; rotate the keys (atoll auth keys rotate)")
            raise OAuthError(
                "temporarily_unavailable", "no signing key is active; try again later", 503
            )
        return signer

    def _answer(self, signer: Signer, grant: _Grant) -> dict[str, Any]:
        """The token response holding a new access token for ``grant``, signed by ``signer``."""
        now = int(self.clock())
        lifetime = self.options.lifetime
        audience = grant.audience
        claims: dict[str, Any] = {
            "iss": self.options.issuer,
            "sub": grant.subject,
            "client_id": grant.client_id,
            "aud": audience[0] if len(audience) == 1 else audience,
            "iat": now,
            "nbf": now,
            "exp": now + lifetime,
            "jti": secrets.token_urlsafe(16),
        }
        if grant.scopes:
            claims["scope"] = " ".join(grant.scopes)
        if grant.session is not None:
            claims["sid"] = grant.session
        token = signer.sign(claims)
        whose = ""
        if grant.session is not None:
            whose = f" for user {grant.subject}, session {grant.session},"
        logger.info(
            "issued token %s to client %s%s for %s (scope %r, key %s)",
            claims["jti"],
            grant.client_id,
            whose,
            " ".join(audience),
            claims.get("scope", ""),
            signer.kid,
        )
        answer: dict[str, Any] = {
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": lifetime,
        }
        if grant.scopes:
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


def _subject(client: Client, subject: str | None) -> str:
    """The user a session is opened for: named, well formed, and not the client itself."""
    if subject is None:
        raise invalid_request("subject is missing: send subject=<the user's id>")
    if not SUBJECT.fullmatch(subject):
        raise invalid_request(
            "subject must be the user's id: 1 to 200 printable ASCII characters, no spaces"
        )
    if subject == client.id:
        raise invalid_request(
            "subject is the client's own id, and a token whose sub is its client_id reads as "
            "the client's; name the user"
        )
    return subject


def _scopes(allowed: list[str], asked: str | None, refusal: str) -> list[str]:
    """The scopes granted: those asked for, each one ``allowed``; or all of ``allowed``.

    ``refusal`` is the description of ``invalid_scope``, ``{}`` standing for the scopes.
    """
    if asked is None:
        return allowed
    wanted = list(dict.fromkeys(asked.split(" ")))
    if not all(SCOPE_TOKEN.fullmatch(scope) for scope in wanted):
        raise OAuthError("invalid_scope", "scope must be scope tokens separated by single spaces")
    refused = [scope for scope in wanted if scope not in allowed]
    if refused:
        raise OAuthError("invalid_scope", refusal.format(" ".join(refused)[:200]))
    return wanted


def _asked_audience(form: Mapping[str, Sequence[str]]) -> list[str]:
    """The services a request names as ``resource`` (RFC 8707) or ``audience``."""
    return [*form.get("resource", ()), *form.get("audience", ())]


def _targets(allowed: list[str], asked: Sequence[str], refusal: str) -> list[str]:
    """The audience of a token: the services asked for, each one ``allowed``; or all of them.

    ``refusal`` is the description of ``invalid_target``, ``{}`` standing for the service.
    """
    if not asked:
        return allowed
    wanted = list(dict.fromkeys(asked))
    refused = [name for name in wanted if name not in allowed]
    if refused:
        raise OAuthError("invalid_target", refusal.format(repr(refused[0][:200])))
    return wanted
