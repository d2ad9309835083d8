"""Idempotency keys: a call a client repeats with the same key runs once, and answers the same.

A client that cannot tell whether an unsafe call took effect (the connection broke, a timeout
ran out) sends it again with the same key, as the IETF draft "The Idempotency-Key HTTP Header
Field" says: REST takes it from the ``Idempotency-Key`` header of a POST, PUT, PATCH or DELETE,
JSON-RPC from the ``idempotency_key`` member of a request object (each member of a batch on its
own, over HTTP and brokers alike). Then, per caller (the identity the call proves; anonymous
callers share one scope) and key:

- the first call reserves the key and runs; its answer is kept for ``--idempotency-retention``;
- the same key with the same request (operation and arguments) replays that answer, and runs
  nothing (REST adds ``Idempotent-Replayed: true``);
- the same key with another request is refused: :class:`~atoll.errors.IdempotencyKeyReusedError`
  (422, JSON-RPC -32016);
- the same key while the first call runs is refused: :class:`~atoll.errors.IdempotencyKeyInUseError`
  (409, JSON-RPC -32017), and the client tries again later.

The key is kept in the service's database (``atoll_idempotency``; in memory for a service with
none), and the unit of work of the call marks it committed in the transaction of its effect
(:class:`~atoll.persistence.idempotency.KeyHold`). So a crash between the effect and the stored
answer cannot run the effect twice: a retry then gets a 409 saying the request took effect and
its answer was lost. A call that fails before committing anything gives its key back, so that a
retry runs it. A call whose process died holds its key until ``--idempotency-lock-timeout``;
then a retry takes the key over (and if the first call was only slow, its commit is refused).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import msgspec

from atoll.errors import IdempotencyKeyInUseError, IdempotencyKeyReusedError
from atoll.kernel.options import option
from atoll.messaging.context import IDEMPOTENCY_KEY, CallContext, current_call, enter, leave
from atoll.messaging.handlers import HandlerKind
from atoll.persistence.idempotency import HOLD, KeyHold, KeyRecord, MemoryKeyStore
from atoll.persistence.shown import shown

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from atoll.messaging.handlers import Handler
    from atoll.persistence.idempotency import KeyStore
    from atoll.persistence.inboxes import Inboxes
    from atoll.security.identity import Identity

__all__ = [
    "MAX_KEY_LENGTH",
    "REPLAYED_HEADER",
    "Idempotency",
    "IdempotencyOptions",
    "key_problem",
]

logger = logging.getLogger("atoll.idempotency")

MAX_KEY_LENGTH = 255
"""The longest key a client may send: a UUID is 36 characters."""

_RACES = 3
"""How often a reservation is tried again after losing a race for the key to another call."""

REPLAYED_HEADER = "Idempotent-Replayed"
"""The header of a REST answer replayed for a repeated key."""


@dataclass(frozen=True)
class IdempotencyOptions:
    """How the idempotency keys of a service's calls are kept."""

    enabled: bool = option(
        default=True,
        help="honour the Idempotency-Key header of unsafe REST calls and the idempotency_key "
        "member of JSON-RPC calls",
    )
    retention: float = option(
        86400.0, help="how long a key's answer is kept and replayed, in seconds"
    )
    lock_timeout: float = option(
        60.0,
        help="how long a call holds its key before a retry may take it over as abandoned, in "
        "seconds; longer than the slowest call",
    )

    def __post_init__(self) -> None:
        for name in ("retention", "lock_timeout"):
            value = getattr(self, name)
            if not value > 0:
                msg = f"{name} must be a number of seconds above 0, such as 60; got {value}"
                raise ValueError(msg)
        if not self.retention > self.lock_timeout:
            msg = (
                f"retention ({self.retention:g} s) must be longer than lock_timeout "
                f"({self.lock_timeout:g} s): a key is kept at least as long as a call may hold it"
            )
            raise ValueError(msg)


def key_problem(key: object) -> str | None:
    """Why ``key`` cannot be an idempotency key; ``None`` when it can.

    A key is 1 to :data:`MAX_KEY_LENGTH` printable ASCII characters (a UUID, say).
    """
    if type(key) is not str:
        return f"an idempotency key is a string; got {type(key).__name__}"
    if not 0 < len(key) <= MAX_KEY_LENGTH or not key.isascii() or not key.isprintable():
        return (
            f"an idempotency key is 1 to {MAX_KEY_LENGTH} printable ASCII characters, such as "
            "a UUID; got " + (f"{len(key)} characters" if key else "an empty one")
        )
    return None


class _Stored(msgspec.Struct, array_like=True):
    """An answer as it is kept: the result's JSON, and what the handler added to the response."""

    result: msgspec.Raw
    responses: list[tuple[int | None, dict[str, str], list[str]]]


_ENCODER = msgspec.json.Encoder(order="sorted")


class Idempotency:
    """Runs the calls that carry a key at most once per caller and key.

    Args:
        options: the ``[idempotency]`` section.
        databases: the database of each service that has one, whose keys it keeps.
        clock: the time, in epoch seconds.
    """

    def __init__(
        self,
        options: IdempotencyOptions,
        databases: Inboxes,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.options = options
        self._databases = databases
        self._memory = MemoryKeyStore()
        self._clock = clock
        self._purging: asyncio.Task[None] | None = None

    def serves(self, handler: Handler) -> bool:
        """Whether a call of ``handler`` may carry a key: enabled, no query, not public.

        A public handler (``public=True``) is one for callers who prove nothing: logging in,
        refreshing a session, registering. Its requests and answers carry credentials, which
        a key's record would keep at rest (the answer, and a digest of the request).
        """
        return self.options.enabled and handler.kind is not HandlerKind.QUERY and not handler.public

    def store_for(self, handler: Handler) -> KeyStore:
        """Where the keys of ``handler``'s calls are kept: its service's database, or memory."""
        database = self._databases.database(handler.service)
        return self._memory if database is None else database.keys

    async def start(self) -> None:
        """Purge expired keys now and then, in the background."""
        self._purging = asyncio.create_task(self._purge_forever(), name="atoll-idempotency-purge")

    async def stop(self) -> None:
        """Stop purging."""
        task, self._purging = self._purging, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def call(
        self,
        handler: Handler,
        identity: Identity,
        key: str,
        arguments: dict[str, Any],
        call: Callable[[dict[str, Any]], Awaitable[Any]],
    ) -> Any:
        """``call(arguments)`` once for ``key``, or the answer of the call that ran with it.

        Raises:
            IdempotencyKeyReusedError: the key came with another request before.
            IdempotencyKeyInUseError: its first call runs still, or took effect and its
                answer was lost.
        """
        store = self.store_for(handler)
        scope = _scope(identity)
        fingerprint = _fingerprint(handler, arguments)
        found = await self._reserve(store, scope, key, fingerprint)
        if isinstance(found, KeyRecord):
            return self._replay(handler, found)
        hold = KeyHold(store, scope, key, found)
        outer = current_call()
        # A context of its own, whose responses alone are this call's: a batch's members
        # share their transport's, where another member's headers would mix in.
        inner = None if outer is None else CallContext(outer.request, outer.identity)
        entered = None if inner is None else enter(inner)
        held = HOLD.set(hold)
        unkeyed = IDEMPOTENCY_KEY.set(None)  # the handler's own calls carry no key of it
        try:
            result = await call(arguments)
        except BaseException:
            if not hold.committed:
                await self._release(store, hold)
            raise
        finally:
            IDEMPOTENCY_KEY.reset(unkeyed)
            HOLD.reset(held)
            if entered is not None:
                leave(entered)
        added = [] if inner is None else inner.responses
        if outer is not None:
            outer.responses.extend(added)
        answer = _ENCODER.encode(
            _Stored(
                msgspec.Raw(_ENCODER.encode(_shown(handler, result))),
                [(made.status_code, made.headers, made.cookies) for made in added],
            )
        )
        await self._keep(store, hold, answer, handler)
        return result

    async def _keep(self, store: KeyStore, hold: KeyHold, answer: bytes, handler: Handler) -> None:
        """Store the answer of a call that has run; its caller gets it whether or not it is kept.

        Shielded: a cancellation now (the client gone, the server stopping) leaves the write to
        finish. A write that fails is logged: a retry is then told the answer was lost.
        """
        try:
            kept = await asyncio.shield(store.answer(hold.scope, hold.key, hold.owner, answer))
        except Exception:
            logger.warning(
                "the answer to %s with idempotency key %r is not kept: a retry will be told "
                "it was lost",
                handler.label,
                hold.key,
                exc_info=True,
            )
            return
        if not kept:
            logger.warning(
                "the answer to %s with idempotency key %r is not kept: a retry took the key "
                "over while the call ran past --idempotency-lock-timeout",
                handler.label,
                hold.key,
            )

    async def _reserve(
        self, store: KeyStore, scope: str, key: str, fingerprint: str
    ) -> str | KeyRecord:
        """This call's hold on ``key`` (its owner id), or the answered record to replay.

        Raises:
            IdempotencyKeyReusedError: the key's record is another request's.
            IdempotencyKeyInUseError: it is held still, or its answer was lost.
        """
        options = self.options
        for _ in range(_RACES):
            now = self._clock()
            record = await store.get(scope, key)
            if record is not None and record.expires_at > now:
                if record.fingerprint != fingerprint:
                    raise IdempotencyKeyReusedError(
                        f"the idempotency key {key!r} was used before with another request "
                        "(another operation, arguments or body); send a new key with each new "
                        "request, and the same key only to retry the same request"
                    )
                if record.response is not None:
                    return record
                if record.committed:
                    raise IdempotencyKeyInUseError(
                        f"the request with idempotency key {key!r} took effect, and its answer "
                        "was lost (the call failed or its process stopped after committing): "
                        "it is not run again; read the result, or send a new request"
                    )
                if record.locked_until > now:
                    raise IdempotencyKeyInUseError(
                        f"a request with idempotency key {key!r} is running; try again once it "
                        "has answered"
                    )
                # Held past its lock: its call ended without answering nor committing.
            owner = uuid.uuid4().hex
            mine = KeyRecord(
                scope,
                key,
                fingerprint,
                owner,
                locked_until=now + options.lock_timeout,
                expires_at=now + options.retention,
            )
            if await store.put(mine, record):
                return owner
        raise IdempotencyKeyInUseError(
            f"requests with idempotency key {key!r} are racing for it; try again once one has "
            "answered"
        )

    def _replay(self, handler: Handler, record: KeyRecord) -> Any:
        """The result of the call that answered ``record``, its response headers added again."""
        assert record.response is not None  # noqa: S101 - only an answered record is replayed
        stored = msgspec.json.decode(record.response, type=_Stored)
        result = msgspec.json.decode(stored.result, type=shown(handler.returns).type)
        context = current_call()
        if context is not None:
            for status, headers, cookies in stored.responses:
                response = context.respond()
                response.status_code = status
                response.headers.update(headers)
                response.cookies.extend(cookies)
            context.respond().headers[REPLAYED_HEADER] = "true"
        return result

    async def _release(self, store: KeyStore, hold: KeyHold) -> None:
        """Give the key back, so that a retry runs; its lock runs out if this fails."""
        try:
            await asyncio.shield(store.release(hold.scope, hold.key, hold.owner))
        except Exception:
            logger.warning(
                "could not give back idempotency key %r; a retry may take it over in %s s",
                hold.key,
                self.options.lock_timeout,
                exc_info=True,
            )

    async def _purge_forever(self) -> None:
        every = min(self.options.retention, 3600.0)
        while True:
            await asyncio.sleep(every)
            stores = [database.keys for database in self._databases.databases()]
            for store in (*stores, self._memory):
                try:
                    await store.purge(self._clock())
                except Exception:
                    logger.warning("could not purge expired idempotency keys", exc_info=True)

    def __repr__(self) -> str:
        return f"Idempotency(enabled={self.options.enabled}, {self._databases!r})"


def _scope(identity: Identity) -> str:
    """Whose keys: a digest of who the identity is (its kind, issuer and subject)."""
    who = f"{identity.kind}\0{identity.issuer}\0{identity.subject}"
    return hashlib.sha256(who.encode()).hexdigest()


def _fingerprint(handler: Handler, arguments: dict[str, Any]) -> str:
    """A digest of the request: the operation, and its arguments as the handler gets them.

    A message's fields are its arguments, whether the transport gives them as the message
    (REST) or as params (JSON-RPC): one request over either is the same request.
    """
    digest = hashlib.sha256(f"{handler.service}.{handler.name}\0".encode())
    given: Any = arguments
    if handler.message is not None and len(arguments) == 1:
        (value,) = arguments.values()
        if isinstance(value, handler.message):
            given = value
    try:
        digest.update(_ENCODER.encode(given))
    except (TypeError, ValueError):  # an argument msgspec cannot encode: its repr tells
        digest.update(repr(sorted(arguments.items())).encode())
    return digest.hexdigest()


def _shown(handler: Handler, result: Any) -> Any:
    convert = shown(handler.returns).convert
    return result if convert is None or result is None else convert(result)
