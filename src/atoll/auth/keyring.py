"""The signing keys: which one signs now, which are published, and how they rotate.

A key's life, with ``delay`` the rotation delay and ``hold`` a token's lifetime plus leeway::

    created ──── published ──────────────────────────────────────────────── withdrawn
      │ activates_at = created + delay: signs ── retires_at: stops signing │
      │                                                                    └ retires_at + hold

Rotating makes a new key that activates after ``delay`` (so that every verifier has fetched
the JWKS holding it before its first token), and retires the keys signing now at that same
moment; a retired key stays in the JWKS until the last token it signed has expired, then
leaves it, and the database. The first start, with no key, makes one that signs at once.

The rules are the module's functions, on a list of :class:`~atoll.auth.model.SigningKey`
and a time; :class:`Keyring` applies them to the service's database.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from typing import TYPE_CHECKING, Any

from atoll.adapters.jwt.signer import Signer, new_private_key
from atoll.auth.model import SigningKey
from atoll.auth.tables import AuthUnitOfWork

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from atoll.auth.options import TokenOptions
    from atoll.persistence.ports import Database

__all__ = [
    "Keyring",
    "new_key",
    "published",
    "retire_for",
    "signing_key",
    "withdrawn",
]

logger = logging.getLogger("atoll.auth")


def signing_key(keys: Sequence[SigningKey], now: float) -> SigningKey | None:
    """The key that signs at ``now``: the newest of those active and not retired."""
    active = [
        key
        for key in keys
        if key.activates_at <= now and (key.retires_at is None or now < key.retires_at)
    ]
    return max(active, key=lambda key: (key.activates_at, key.created, key.id), default=None)


def published(keys: Sequence[SigningKey], now: float, hold: float) -> list[SigningKey]:
    """The keys in the JWKS at ``now``: made, and not retired for more than ``hold`` seconds."""
    return sorted(
        (key for key in keys if key.retires_at is None or now < key.retires_at + hold),
        key=lambda key: (key.activates_at, key.created, key.id),
    )


def withdrawn(keys: Sequence[SigningKey], now: float, hold: float) -> list[SigningKey]:
    """The keys whose last token expired: out of the JWKS, to remove from the database."""
    return [key for key in keys if key.retires_at is not None and now >= key.retires_at + hold]


def new_key(
    algorithm: str, now: float, activates_at: float, passphrase: bytes | None
) -> SigningKey:
    """A new signing key, its private key encrypted when a passphrase is given."""
    pem = new_private_key(algorithm, passphrase).decode("ascii")
    return SigningKey(
        id=secrets.token_urlsafe(12),
        algorithm=algorithm,
        private_key=pem,
        created=now,
        activates_at=activates_at,
    )


def retire_for(keys: Sequence[SigningKey], successor: SigningKey) -> list[SigningKey]:
    """Retire, when ``successor`` activates, every key that would sign after it did.

    Returns the keys changed.
    """
    changed = []
    for key in keys:
        if key is successor:
            continue
        if key.retires_at is None or key.retires_at > successor.activates_at:
            key.retires_at = max(successor.activates_at, key.activates_at)
            changed.append(key)
    return changed


class Keyring:
    """The service's signing keys, in its database: the key that signs, the JWKS, rotation.

    An app-scoped component: :meth:`start` makes the first key when there is none. Each
    call reads the keys again (so a rotation made by ``atoll auth keys rotate`` in another
    process is seen at once), and keeps each private key loaded by its ``kid``.

    Args:
        database: the token service's database.
        options: the ``[tokens]`` section.
        clock: the current time.
    """

    def __init__(
        self, database: Database, options: TokenOptions, clock: Callable[[], float]
    ) -> None:
        self.database = database
        self.options = options
        self.clock = clock
        self._signers: dict[str, Signer] = {}

    async def start(self) -> None:
        """Make a key that signs at once when none does (the first start, say).

        A key made by a rotation before the first start, not signing yet, takes over from it
        when it activates.
        """
        now = self.clock()
        async with self._unit() as uow:
            keys = await uow.keys.find()
            if signing_key(keys, now) is not None:
                return
            key = new_key(self.options.algorithm, now, now, self.options.passphrase)
            later = [old.activates_at for old in keys if old.activates_at > now]
            key.retires_at = min(later, default=None)
            await uow.keys.add(key)
            await uow.commit()
        logger.info("made the first signing key %r (%s)", key.id, key.algorithm)

    async def stop(self) -> None:
        """Forget the private keys loaded."""
        self._signers.clear()

    async def keys(self) -> list[SigningKey]:
        """Every key in the database, published or not yet withdrawn."""
        async with self._unit() as uow:
            return await uow.keys.find()

    async def signer(self) -> Signer | None:
        """What signs now: the signing key, loaded; ``None`` when no key signs now."""
        key = signing_key(await self.keys(), self.clock())
        return None if key is None else await self._loaded(key)

    async def jwks(self) -> dict[str, Any]:
        """The JWKS: the public keys of the keys published now."""
        hold = self.options.published_after_retirement
        keys = published(await self.keys(), self.clock(), hold)
        return {"keys": [(await self._loaded(key)).public_jwk() for key in keys]}

    async def rotate(self) -> tuple[SigningKey, list[SigningKey]]:
        """Make a key that signs after the rotation delay, retiring the others then.

        Returns the new key, and the keys withdrawn (removed, their last token expired).
        """
        now = self.clock()
        options = self.options
        hold = options.published_after_retirement
        key = new_key(options.algorithm, now, now + options.rotation_delay, options.passphrase)
        async with self._unit() as uow:
            keys = await uow.keys.find()
            gone = withdrawn(keys, now, hold)
            for old in gone:
                await uow.keys.remove(old)
            retire_for([k for k in keys if k not in gone], key)
            await uow.keys.add(key)
            await uow.commit()
        logger.info(
            "made signing key %r (%s), signing in %g s; withdrew %d",
            key.id,
            key.algorithm,
            options.rotation_delay,
            len(gone),
        )
        return key, gone

    async def _loaded(self, key: SigningKey) -> Signer:
        signer = self._signers.get(key.id)
        if signer is None:
            pem, passphrase = key.private_key.encode("ascii"), self.options.passphrase
            # An encrypted key takes a key derivation to load: off the event loop.
            signer = await asyncio.to_thread(Signer, key.id, key.algorithm, pem, passphrase)
            self._signers[key.id] = signer
        return signer

    def _unit(self) -> AuthUnitOfWork:
        return AuthUnitOfWork(self.database)
