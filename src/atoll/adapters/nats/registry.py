"""The NATS adapter of the registry port: a JetStream key-value bucket, one key per instance.

:class:`NatsRegistry` is the registry when its URL is ``nats://``::

    nats://[user:password@]host:4222[?bucket=NAME][&max_age=SECONDS]

``bucket`` names the key-value bucket (``atoll_registry`` by default: letters, digits, ``_``
and ``-``); ``max_age`` is how long the bucket keeps a value at the most (3600 by default),
used only when this registry makes the bucket.

An instance is the key ``<service>.<id>``, its id's ``.`` and ``:`` written ``=2E`` and
``=3A`` (NATS keys take neither ``:`` nor a ``.`` inside a token; ids never hold ``=``, so
two ids never share a key). Its value is :func:`~atoll.resilience.registry.encode_instance`'s
JSON with one field more, ``expires_at``; :func:`~atoll.resilience.registry.decode_instance`
reads it as it is, and is what says which instance a value holds: the key is only where it is
kept.

**Why each value carries its expiry.** nats-server 2.9 has no ttl per key, only the bucket's
``max_age``, one age for every value in it; a registration's ``ttl`` is its own (one service
beats every 2 s with a ttl of 6, another every 30 s with 90). So each value says when it
expires (the registering clock's now plus its ttl), and a read leaves out, and deletes, the
values past it: an instance silent past its ttl is gone for every reader at once, whatever the
bucket's age. The delete is conditional on the revision read, so that it never removes a
registration made meanwhile. ``max_age`` is the garbage collector behind it, for the keys of
instances killed when nobody reads their service: JetStream removes a value ``max_age`` after
its last write. A registration whose ttl is longer than the bucket's ``max_age`` is refused,
as the bucket would drop it before its ttl ran out; open the registry with a larger
``max_age`` (a new bucket: an existing bucket keeps the age it was made with). Expiry compares
the registering host's clock with the reading host's: keep them in step (NTP) to well within
the shortest ttl.

The bucket (file storage, one value per key) is made at start when missing; two processes
starting at once both succeed, and one opening a bucket made with another ``max_age`` uses it
as it is.

**What a read costs.** :meth:`NatsRegistry.instances` asks the bucket's stream for its subjects
under ``<service>.*`` (one request), then for the last message of each (a request per
instance, sent together): nothing of the other services' keys is read.
:meth:`NatsRegistry.lookup` lists every key, since NATS filters whole tokens only and a
pattern such as ``users*`` is not one: fine for fleets of hundreds or a few thousand
instances, and for discovery at start and now and then, not for every call. A deregistration
leaves a delete marker in the bucket until its ``max_age``. (A consumer delivering the last
message of each subject, what ``KeyValue.watch`` is, would read it all in one go, but on
nats-server 2.9 it gave one value several times in place of others' while keys were written.)
"""

from __future__ import annotations

import asyncio
import contextlib
import fnmatch
import logging
import math
import time
import urllib.parse
from typing import TYPE_CHECKING, Any

import msgspec

from atoll.adapters.nats.broker import API_TIMEOUT, CONNECT_TIMEOUT, next_server
from atoll.adapters.nats.delivery import UNREACHABLE
from atoll.errors import ConfigError, MissingDependencyError, UnavailableError
from atoll.kernel.options import masked_url
from atoll.resilience.registry import (
    Instance,
    check_service,
    decode_instance,
    encode_instance,
)

try:
    import nats.errors
    from nats.aio.client import Client
    from nats.js import api
    from nats.js.errors import APIError, BadBucketError, BucketNotFoundError, NotFoundError
    from nats.js.errors import ServiceUnavailableError as JetStreamUnavailableError
except ImportError as error:  # pragma: no cover - exercised only without the extra installed
    raise MissingDependencyError("nats-py", "nats") from error

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from nats.js import JetStreamContext
    from nats.js.kv import KeyValue

__all__ = ["BUCKET", "MAX_AGE", "NatsRegistry", "instance_key", "open_registry"]

logger = logging.getLogger("atoll.registry")

BUCKET = "atoll_registry"
"""The bucket's name unless the URL gives ``?bucket=``."""
MAX_AGE = 3600.0
"""Seconds the bucket keeps a value unless the URL gives ``?max_age=``: the garbage collector."""

_ESCAPES = {".": "=2E", ":": "=3A"}
_WRONG_LAST_SEQUENCE = 10071
_DELETED = frozenset({"KV-Operation", "Nats-Marker-Reason"})
"""The headers of a key's delete or purge marker (a value put carries neither)."""
"""JetStream's error code when a conditional write finds another revision."""
_BUCKET_CHARACTERS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-")


class _Expiry(msgspec.Struct):
    """The field a value carries besides the instance."""

    expires_at: float


_decode_expiry = msgspec.json.Decoder(_Expiry).decode


def instance_key(service: str, instance_id: str) -> str:
    """The key of an instance in the bucket: ``users.web-1=3A4242`` for ``web-1:4242``."""
    for character, escaped in _ESCAPES.items():
        instance_id = instance_id.replace(character, escaped)
    return f"{service}.{instance_id}"


def _stored(instance: Instance, now: float, ttl: float) -> bytes:
    """The value of ``instance`` registered at ``now``: its JSON and ``expires_at``."""
    fields: dict[str, Any] = msgspec.json.decode(encode_instance(instance, seen_at=now))
    fields["expires_at"] = now + ttl
    return msgspec.json.encode(fields)


def _read(value: bytes) -> tuple[Instance, float] | None:
    """The instance a value holds and when it expires, or None for what is not one."""
    instance = decode_instance(value)
    try:
        return (instance, _decode_expiry(value).expires_at) if instance else None
    except msgspec.DecodeError:
        return None


class NatsRegistry:
    """The registry port over a NATS JetStream key-value bucket.

    Args:
        url: ``nats://[user:password@]host:port[?bucket=NAME][&max_age=SECONDS]``; ``tls://``
            for TLS. Nothing connects until :meth:`start`.
        clock: the current time, Unix seconds (tests give their own).

    Raises:
        ConfigError: the bucket's name or ``max_age`` cannot be used.
    """

    def __init__(self, url: str, clock: Callable[[], float] = time.time) -> None:
        self.url = url
        self.clock = clock
        server, _, query = url.partition("?")
        options = urllib.parse.parse_qs(query)
        self._server = server
        self.bucket = options.get("bucket", [BUCKET])[-1]
        if not self.bucket or not set(self.bucket) <= _BUCKET_CHARACTERS:
            raise ConfigError(
                f"{self.bucket!r} cannot name the registry's bucket in {self.describe()}: use "
                "letters, digits, '_' and '-', such as ?bucket=atoll_registry"
            )
        try:
            self.max_age = float(options.get("max_age", [MAX_AGE])[-1])
        except ValueError:
            self.max_age = math.nan
        if not 0 < self.max_age < math.inf:
            raise ConfigError(
                f"max_age in {self.describe()} is the seconds the bucket keeps a value, above "
                "0, such as ?max_age=3600"
            )
        self._nc: Client | None = None
        self._kv: KeyValue | None = None
        self._longest_ttl = self.max_age

    def describe(self) -> str:
        """The URL without its password."""
        return masked_url(self.url)

    def __repr__(self) -> str:
        return f"NatsRegistry({self.describe()!r})"

    # -- connection --------------------------------------------------------------------------

    async def start(self) -> None:
        """Connect, and make the bucket if it is missing.

        Raises:
            UnavailableError: no NATS server answers at the URL, or it runs without JetStream.
            ConfigError: a stream of the bucket's name exists and is no key-value bucket.
        """
        if self._nc is not None and not self._nc.is_closed:
            return
        errors: list[Exception] = []

        async def on_error(error: Exception) -> None:
            errors.append(error)

        nc = Client()
        try:
            await nc.connect(
                self._server,
                name="atoll-registry",
                connect_timeout=CONNECT_TIMEOUT,
                # One more attempt, then give up: the first connection fails fast...
                max_reconnect_attempts=1,
                reconnect_time_wait=0.2,  # type: ignore[arg-type] # nats-py hints int seconds
                reconnect_to_server_handler=next_server,
                error_cb=on_error,
            )
        except (*UNREACHABLE, nats.errors.Error) as error:
            reason = errors[-1] if errors else error
            raise UnavailableError(
                f"cannot reach the registry at {self.describe()}: {reason!r}; is NATS running "
                "there with JetStream (nats-server -js)? check the registry's URL"
            ) from error
        # ...and, once connected, reconnecting goes on for as long as it takes.
        nc.options["max_reconnect_attempts"] = -1
        self._nc = nc
        try:
            self._kv = await self._open_bucket()
        except BaseException:
            await self.stop()
            raise

    async def _open_bucket(self) -> KeyValue:
        assert self._nc is not None  # noqa: S101 - connected by start
        js = self._nc.jetstream(timeout=API_TIMEOUT)
        config = api.KeyValueConfig(
            bucket=self.bucket,
            history=1,
            ttl=self.max_age,
            storage=api.StorageType.FILE,
            description="atoll's service registry: <service>.<id> -> the instance",
        )
        try:
            with self._reaching(f"open the bucket {self.bucket}"):
                try:
                    kv = await js.key_value(self.bucket)
                except BucketNotFoundError:
                    kv = await self._make_bucket(js, config)
                status = await kv.status()
        except JetStreamUnavailableError as error:
            raise UnavailableError(
                f"the NATS server of the registry at {self.describe()} answers, but JetStream "
                "is not enabled there: start it with -js (nats-server -js)"
            ) from error
        except BadBucketError as error:
            raise ConfigError(
                f"the stream KV_{self.bucket} on the registry at {self.describe()} is no "
                "key-value bucket; give another bucket with ?bucket=NAME, or remove the stream "
                f"(nats stream rm KV_{self.bucket})"
            ) from error
        age = status.ttl
        self._longest_ttl = age or math.inf  # 0: the bucket keeps values forever
        return kv

    async def _make_bucket(self, js: JetStreamContext, config: api.KeyValueConfig) -> KeyValue:
        try:
            # The same config again is no error: two processes may both make it.
            return await js.create_key_value(config)
        except APIError as refused:
            try:  # made meanwhile with other settings (another max_age): use it as it is
                return await js.key_value(self.bucket)
            except BucketNotFoundError:
                raise ConfigError(
                    f"cannot make the bucket {self.bucket} on the registry at "
                    f"{self.describe()}: {refused.description}; check the account's JetStream "
                    "limits, or make it by hand (nats kv add)"
                ) from refused

    async def stop(self) -> None:
        """Close the connection; the entries stay until their ttl runs out."""
        nc, self._nc, self._kv = self._nc, None, None
        if nc is None or nc.is_closed:
            return
        try:
            await nc.close()
        except (*UNREACHABLE, RuntimeError) as error:
            logger.debug("closing the connection to %s failed: %r", self.describe(), error)

    def _bucket(self) -> KeyValue:
        nc = self._nc
        if nc is None or self._kv is None or not nc.is_connected:
            state = "reconnecting" if nc is not None and nc.is_reconnecting else "not connected"
            raise UnavailableError(
                f"the registry at {self.describe()} is out of reach ({state}); is NATS running "
                "there? check the registry's URL"
            )
        return self._kv

    @contextlib.contextmanager
    def _reaching(self, what: str) -> Iterator[None]:
        """Turn the connection's failures into UnavailableError, saying ``what`` failed."""
        try:
            yield
        except UNREACHABLE as error:  # a watch's nats.errors.TimeoutError is a TimeoutError
            raise UnavailableError(
                f"could not {what} on the registry at {self.describe()}: {error!r}; is NATS "
                "running there?"
            ) from error

    # -- the port ----------------------------------------------------------------------------

    async def register(self, instance: Instance, ttl: float) -> None:
        """Keep ``instance`` for ``ttl`` seconds from now, in place of what it said before.

        Raises:
            ConfigError: ``ttl`` is not above 0, or is longer than the bucket keeps a value.
            UnavailableError: the registry is out of reach.
        """
        if not 0 < ttl < math.inf:
            raise ConfigError(f"a registration's ttl is seconds above 0, such as 10; got {ttl!r}")
        if ttl > self._longest_ttl:
            raise ConfigError(
                f"a registration's ttl of {ttl} s is longer than the bucket {self.bucket} of "
                f"{self.describe()} keeps a value ({self._longest_ttl} s); give a shorter ttl, or "
                "a new bucket with a longer max_age (?bucket=NAME&max_age=SECONDS)"
            )
        kv = self._bucket()
        key = instance_key(instance.service, instance.id)
        with self._reaching(f"register {instance.key}"):
            await kv.put(key, _stored(instance, self.clock(), ttl))

    async def deregister(self, service: str, instance_id: str) -> None:
        """Forget the instance at once; nothing if it is not registered."""
        kv = self._bucket()
        with self._reaching(f"deregister {service}/{instance_id}"):
            await kv.delete(instance_key(service, instance_id))

    async def instances(self, service: str) -> list[Instance]:
        """The live instances of ``service``, by id: the last value of each of its keys."""
        check_service(service)
        return await self._live(f"{service}.*", lambda name: name == service)

    async def lookup(self, pattern: str) -> list[Instance]:
        """The live instances of the services ``pattern`` matches: every key is read."""
        return await self._live(">", lambda name: fnmatch.fnmatchcase(name, pattern))

    async def _live(self, keys: str, chosen: Callable[[str], bool]) -> list[Instance]:
        kv = self._bucket()
        now = self.clock()
        with self._reaching("read the instances"):
            latest = await self._last_values(keys)
            found: list[Instance] = []
            expired: list[tuple[str, int]] = []
            for key, (value, revision) in latest.items():
                read = _read(value)
                if read is None:  # no atoll instance: the bucket's max_age removes it
                    continue
                instance, expires_at = read
                if expires_at <= now:
                    expired.append((key, revision))
                elif chosen(instance.service):
                    found.append(instance)
            for key, revision in expired:
                await self._forget(kv, key, revision)
        return sorted(found, key=lambda i: (i.service, i.id))

    async def _last_values(self, keys: str) -> dict[str, tuple[bytes, int]]:
        """The last value of each key ``keys`` matches, with its revision; deleted keys left out.

        The stream's subjects matching ``keys`` are listed (one request), then the last
        message of each is got (a request each, sent together). Not through a consumer
        delivering the last message per subject (nats-py's ``KeyValue.watch`` is one): on
        nats-server 2.9, read while keys are written, such a consumer was seen to give one
        value three times in place of the others', so that a live instance went missing.
        """
        nc = self._nc
        assert nc is not None  # noqa: S101 - connected: _bucket() checked it
        js = nc.jetstream(timeout=API_TIMEOUT)
        prefix = f"$KV.{self.bucket}."
        stream = f"KV_{self.bucket}"
        info = await js.stream_info(stream, subjects_filter=prefix + keys)
        subjects = list(info.state.subjects or {})
        got = await asyncio.gather(
            *(js.get_last_msg(stream, subject) for subject in subjects), return_exceptions=True
        )
        latest: dict[str, tuple[bytes, int]] = {}
        for subject, message in zip(subjects, got, strict=True):
            if isinstance(message, NotFoundError):  # deleted since it was listed
                continue
            if isinstance(message, BaseException):
                raise message
            if _DELETED & (message.headers or {}).keys():
                continue
            latest[subject[len(prefix) :]] = (message.data or b"", message.seq or 0)
        return latest

    async def _forget(self, kv: KeyValue, key: str, revision: int) -> None:
        """Delete an expired value, unless it was registered again since it was read."""
        try:
            await kv.delete(key, last=revision)
        except APIError as error:
            if error.err_code != _WRONG_LAST_SEQUENCE:
                raise


def open_registry(url: str) -> NatsRegistry:
    """The registry at ``url``, a ``nats://`` URL; see :class:`NatsRegistry`."""
    return NatsRegistry(url)
