"""Message keys: the public Ed25519 keys clients sign their messages with, and publish here.

A service process makes an Ed25519 key pair when it starts, keeps the private key in memory,
and registers the public key as its OAuth client: the token service vouches that the key is
that client's, and publishes it, with the client's id, for consumers to verify messages by.
A key's life::

    registered ── published ─────────────────── expires (registered + lifetime)
                      └ registered again by its client: published for lifetime more

Only a client holding the scope :data:`SIGN_MESSAGES_SCOPE` registers message keys (the
endpoint checks it, in :meth:`~atoll.auth.issuer.TokenIssuer.register_message_key`). A key
is registered under its RFC 7638 thumbprint as ``kid``, so the same key has the same ``kid``
wherever it is, and only with a proof by the key itself, made for the client registering it
(:func:`~atoll.adapters.jwt.envelopes.key_proof`): without it, a client could register a
public key it has seen, such as another client's, and pass for its owner. A ``kid`` never
changes hands: while a client's key is in the database, published or expired, no other
client registers it. A client has at most ``message_keys_per_client`` keys published:
registering one more removes the one that would expire first, its least recently registered.
Expired keys are deleted at the next registration, whoever's it is; once deleted, a key is
registered anew by whoever holds its private key and proves it.

The rules are the module's functions, on a list of :class:`~atoll.auth.model.MessageKey`
and a time; :class:`MessageKeys` applies them to the service's database. Only public keys
are kept: a JWK holding a private key is refused, and its private part never logged.
"""

from __future__ import annotations

import base64
import dataclasses
import logging
import re
from typing import TYPE_CHECKING, Any

import msgspec

from atoll.adapters.jwt.envelopes import check_key_proof
from atoll.adapters.jwt.keys import thumbprint
from atoll.auth.model import MessageKey
from atoll.auth.tables import AuthUnitOfWork
from atoll.errors import AlreadyExistsError, ConflictError

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from atoll.auth.options import TokenOptions
    from atoll.persistence.ports import Database

__all__ = [
    "PROOF_WANTED",
    "SIGN_MESSAGES_SCOPE",
    "MessageKeyRefusedError",
    "MessageKeys",
    "expired",
    "over_the_cap",
    "public_jwk",
    "published",
]

SIGN_MESSAGES_SCOPE = "atoll:sign-messages"
"""The scope a client needs to register message keys, so to sign messages as itself."""

PROOF_WANTED = (
    'send proof=<a JWS by the key itself, header {"alg": "EdDSA", "kid": <its kid>, "typ": '
    '"atoll-key-proof"}, payload {"client_id": <this client>, "iat": <now>}>, as '
    "atoll.adapters.jwt.envelopes.key_proof makes it"
)
"""What to send for a proof that the client holds the key: the end of a refusal's message."""

_X = re.compile(r"[A-Za-z0-9_-]{43}")
"""32 bytes in base64url without padding."""
_ATTEMPTS = 5
"""Conflicts a registration outlasts: each one means another registration committed first."""

logger = logging.getLogger("atoll.auth")


class MessageKeyRefusedError(ValueError):
    """A message key cannot be registered; the message says why, and what to send instead."""


def public_jwk(text: str) -> dict[str, str]:
    """The public Ed25519 JWK ``text`` holds, with exactly the members a message key has.

    They are ``kty`` (``OKP``), ``crv`` (``Ed25519``), ``x``, ``kid``, ``alg`` (``EdDSA``)
    and ``use`` (``sig``); ``alg`` and ``use`` may be left out of ``text``, and any other
    member is dropped.

    Raises:
        MessageKeyRefusedError: ``text`` is not a JSON object, holds a private key, is no
            Ed25519 key, or its ``use``, ``alg`` or ``kid`` is not a message key's.
    """
    try:
        jwk = msgspec.json.decode(text)
    except msgspec.DecodeError:
        raise MessageKeyRefusedError(
            'jwk is not JSON: send the public key as a JWK, {"kty": "OKP", "crv": "Ed25519", '
            '"x": ..., "kid": ...}'
        ) from None
    if not isinstance(jwk, dict):
        raise MessageKeyRefusedError(
            'jwk is not a JSON object: send the public key as a JWK, {"kty": "OKP", ...}'
        )
    if "d" in jwk:
        raise MessageKeyRefusedError(
            'jwk holds a private key ("d"): send the public key only, and keep the private '
            "key in the process that signs"
        )
    kty, crv = jwk.get("kty"), jwk.get("crv")
    if kty != "OKP" or crv != "Ed25519":
        raise MessageKeyRefusedError(
            f'jwk has "kty": {kty!r:.20}, "crv": {crv!r:.20}, but message keys are Ed25519: '
            'send "kty": "OKP", "crv": "Ed25519"'
        )
    x = jwk.get("x")
    if not isinstance(x, str) or _key_bytes(x) is None:
        raise MessageKeyRefusedError(
            'jwk "x" must be the 32-byte Ed25519 public key in base64url without padding '
            "(43 characters)"
        )
    use, alg = jwk.get("use", "sig"), jwk.get("alg", "EdDSA")
    if use != "sig":
        raise MessageKeyRefusedError(
            f'jwk has "use": {use!r:.20}, but a message key signs: send "use": "sig", or '
            "leave it out"
        )
    if alg != "EdDSA":
        raise MessageKeyRefusedError(
            f'jwk has "alg": {alg!r:.20}, but a message key signs with EdDSA: send "alg": '
            '"EdDSA", or leave it out'
        )
    key = {"kty": "OKP", "crv": "Ed25519", "x": x}
    kid, expected = jwk.get("kid"), thumbprint(key)
    if kid != expected:
        said = "has no" if kid is None else "has another"
        raise MessageKeyRefusedError(
            f'jwk {said} "kid": send its RFC 7638 thumbprint, "kid": "{expected}"'
        )
    return {**key, "kid": expected, "alg": "EdDSA", "use": "sig"}


def _key_bytes(x: str) -> bytes | None:
    """The 32 bytes ``x`` encodes, if it is their one base64url spelling without padding.

    Of the spellings that decode the same, only the canonical one is taken: the thumbprint
    is of ``x`` as written, and one key must have one ``kid``.
    """
    if not _X.fullmatch(x):
        return None
    raw = base64.urlsafe_b64decode(x + "=")  # 43 characters of the alphabet always decode
    return raw if base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii") == x else None


def _check_proof(jwk: dict[str, str], proof: str, client_id: str, now: float) -> None:
    """Return if ``proof`` shows that ``client_id`` holds ``jwk``'s private half, at ``now``.

    Raises:
        MessageKeyRefusedError: it does not; the message says why, and what to send.
    """
    try:
        check_key_proof(jwk, proof, client_id, now)
    except RecursionError:  # msgspec's answer to a header or payload nested too deep
        raise MessageKeyRefusedError(f"proof is no JWS: {PROOF_WANTED}") from None
    except ValueError as refused:
        raise MessageKeyRefusedError(str(refused)) from None


def expired(keys: Sequence[MessageKey], now: float) -> list[MessageKey]:
    """The keys no longer published at ``now``: nothing needs them."""
    return [key for key in keys if key.expires <= now]


def published(keys: Sequence[MessageKey], now: float) -> list[MessageKey]:
    """The keys published at ``now``, in the order they were registered."""
    return sorted(
        (key for key in keys if key.expires > now), key=lambda key: (key.registered, key.kid)
    )


def over_the_cap(keys: Sequence[MessageKey], newest: MessageKey, most: int) -> list[MessageKey]:
    """The keys of ``newest``'s client to remove so that it has ``most`` published with it.

    ``keys`` are the keys published; those that would expire first go, never ``newest``.
    """
    others = sorted(
        (key for key in keys if key.client_id == newest.client_id and key.kid != newest.kid),
        key=lambda key: (key.expires, key.registered, key.kid),
    )
    return others[: max(len(others) - (most - 1), 0)]


class MessageKeys:
    """The clients' message keys, in the token service's database: registered, published.

    Args:
        database: the token service's database.
        options: the ``[tokens]`` section: the keys' lifetime, and how many a client has.
        clock: the current time.
    """

    def __init__(
        self, database: Database, options: TokenOptions, clock: Callable[[], float]
    ) -> None:
        self.database = database
        self.options = options
        self.clock = clock

    async def register(self, client_id: str, text: str, proof: str) -> MessageKey:
        """Publish the public key ``text`` holds as ``client_id``'s, for the key lifetime.

        A key the client has registered already is published for the lifetime from now;
        one more key than ``message_keys_per_client`` removes the client's oldest. Expired
        keys are deleted meanwhile, whoever's they are.

        Args:
            client_id: the client, authenticated, holding :data:`SIGN_MESSAGES_SCOPE`.
            text: the JSON of the public JWK (see :func:`public_jwk`).
            proof: a JWS by the key itself, made for ``client_id`` within 300 s of now
                (see :func:`~atoll.adapters.jwt.envelopes.check_key_proof`).

        Returns:
            The key as registered.

        Raises:
            MessageKeyRefusedError: the JWK is not a message key's, the proof does not
                hold, or another client holds its ``kid``, published or expired.
            ConflictError: the keys changed under each of several attempts.
        """
        jwk = public_jwk(text)
        try:
            _check_proof(jwk, proof, client_id, self.clock())
        except MessageKeyRefusedError as refused:
            logger.info("refused message key %s to client %s: %s", jwk["kid"], client_id, refused)
            raise
        attempts = 0
        while True:
            try:
                return await self._register(client_id, jwk)
            except (ConflictError, AlreadyExistsError):
                # Another registration committed first (the same new key, or a key this one
                # removes): read the keys again, with its change.
                attempts += 1
                if attempts >= _ATTEMPTS:
                    logger.error(  # noqa: TRY400 - the conflict's trace says nothing more
                        "could not register message key %s of client %s: the keys changed "
                        "under %d attempts",
                        jwk["kid"],
                        client_id,
                        attempts,
                    )
                    raise

    async def _register(self, client_id: str, jwk: dict[str, str]) -> MessageKey:
        now = self.clock()
        kid, expires = jwk["kid"], now + self.options.message_key_lifetime
        async with AuthUnitOfWork(self.database) as uow:
            keys = await uow.message_keys.find()
            held = next((key for key in keys if key.kid == kid), None)
            if held is not None and held.client_id != client_id:
                # Even expired: a consumer's copy of the JWKS may still name its client.
                logger.info(
                    "refused message key %s to client %s: client %s holds it%s",
                    kid,
                    client_id,
                    held.client_id,
                    "" if held.expires > now else " (expired)",
                )
                raise MessageKeyRefusedError(
                    f"kid {kid} is registered by another client, and a kid never changes "
                    "hands, even once expired: make a key pair of this client's own, and "
                    "register its public key"
                )
            renewed = held is not None and held.expires > now
            gone = [key for key in expired(keys, now) if key is not held]
            for key in gone:
                await uow.message_keys.remove(key)
            if held is None:
                held = MessageKey(kid, client_id, _json(jwk), now, expires)
                await uow.message_keys.add(held)
                keys.append(held)
            elif not renewed:  # the client's, expired and not deleted yet: as if it had been
                held.registered = now
            held.expires = expires
            most = self.options.message_keys_per_client
            dropped = over_the_cap(published(keys, now), held, most)
            for key in dropped:
                await uow.message_keys.remove(key)
            removed = [key.kid for key in dropped]
            registered = dataclasses.replace(held)  # readable once the block is over
            await uow.commit()
        logger.info(
            "%s message key %s of client %s for %d s; removed %d older key(s) of the client, "
            "and %d expired",
            "renewed" if renewed else "registered",
            kid,
            client_id,
            self.options.message_key_lifetime,
            len(removed),
            len(gone),
        )
        if removed:
            logger.warning(
                "removed message key(s) %s of client %s to publish %s, as a client has %d "
                "published at most: messages still signed with them will be refused: raise "
                "--tokens-message-keys-per-client above the number of processes signing as "
                "this client, restarts included",
                ", ".join(removed),
                client_id,
                kid,
                most,
            )
        return registered

    async def jwks(self) -> dict[str, Any]:
        """The JWKS of the keys published now, in the order they were registered.

        Each key is its JWK as registered, with ``client_id``: the client that signs with it.
        """
        async with AuthUnitOfWork(self.database) as uow:
            keys = published(await uow.message_keys.find(), self.clock())
            jwks = [{**msgspec.json.decode(key.jwk), "client_id": key.client_id} for key in keys]
        return {"keys": jwks}


def _json(jwk: dict[str, str]) -> str:
    return msgspec.json.encode(jwk).decode("ascii")
