"""Correlation ids: one per outside call, taken from its caller or made where it came in.

Everything that follows from one call (the request, the handlers it runs, the events they
commit, the messages those cause in other services, the calls made on the way) carries the same
id: in the log context (``correlation_id`` in every JSON log line), in the envelopes' headers,
in the ``X-Request-ID`` header of outgoing calls (HTTP and broker RPC), and in the
``X-Request-ID`` header of an HTTP error's response::

    ids = CorrelationIds(("x-request-id", "traceparent"))
    ids.of([(b"x-request-id", b"req-42")])                 # 'req-42': the caller's, trusted
    ids.of([(b"traceparent", b"00-0af7...-b7ad...-01")])   # '0af7...': the trace's id
    ids.of([])                                             # '5f1c2a9e07d4' + a count: made

A made id is a random prefix per process (12 hexadecimal digits) followed by a count: unique
across processes and restarts, and cheaper than a UUID (no system call).
"""

from __future__ import annotations

import itertools
import re
import secrets
from collections.abc import Mapping
from typing import TYPE_CHECKING, Protocol

from atoll.messaging.context import current_call

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

__all__ = [
    "REQUEST_ID",
    "TRACEPARENT",
    "CorrelationIds",
    "RequestContext",
    "Routed",
    "made_id",
    "subject",
    "taken_id",
]

REQUEST_ID = "x-request-id"
"""The header a correlation id travels in, over HTTP and broker RPC."""
TRACEPARENT = "traceparent"
"""The W3C trace context header: its trace id serves as the correlation id."""

_TAKEN = re.compile(rb"[!-~]{1,128}")
"""An id taken from a request: 1 to 128 visible ASCII characters, so that it is safe to echo."""
_TAKEN_TEXT = re.compile(r"[!-~]{1,128}")
_TRACEPARENT = re.compile(rb"[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}")
_NO_TRACE = "0" * 32


class _Made:
    """This process's ids, made a block at a time: its prefix is drawn at the first, not at import.

    An id is the prefix and a count. Formatting each count (``str``, a concatenation) cost
    an access line 2.5k CPU instructions; the ids of a hundred counts are made at once, from
    the block's number and two digits, and one is then taken for under 1k.
    """

    prefix = ""

    @classmethod
    def block(cls, number: int) -> list[str]:
        """The ids from ``number`` * 100 to ``number`` * 100 + 99."""
        if not cls.prefix:
            cls.prefix = secrets.token_hex(6)
        start = f"{cls.prefix}{number}"
        return [start + digits for digits in _TWO_DIGITS]


_TWO_DIGITS = [f"{n:02d}" for n in range(100)]

made_id = itertools.chain.from_iterable(map(_Made.block, itertools.count(1))).__next__
"""A new correlation id, unique across processes: this process's prefix and its next count."""


def taken_id(value: str | None) -> str | None:
    """``value`` (an ``X-Request-ID`` a caller sent over a broker) if fit to carry on, or None."""
    return value if value is not None and _TAKEN_TEXT.fullmatch(value) else None


class CorrelationIds:
    """Reads the correlation id of a request from the headers trusted with it, or makes one.

    Args:
        headers: the request headers an id is taken from, in order of preference, lower-case;
            from ``traceparent``, its trace id. Empty: every id is made here.
    """

    __slots__ = ("_names", "headers")

    def __init__(self, headers: Iterable[str] = (REQUEST_ID, TRACEPARENT)) -> None:
        self.headers = tuple(name.strip().lower() for name in headers)
        self._names = tuple(name.encode("latin-1") for name in self.headers)

    def of(self, headers: Iterable[tuple[bytes, bytes]]) -> str:
        """The id a request with ``headers`` (an ASGI scope's) carries, or a new one."""
        taken = self.taken(headers)
        return made_id() if taken is None else taken

    def taken(self, headers: Iterable[tuple[bytes, bytes]]) -> str | None:
        """The id a request with ``headers`` (an ASGI scope's) carries; None if it has none."""
        names = self._names
        found: dict[bytes, bytes] | None = None
        for name, value in headers:  # one pass; a request seldom has any
            if name in names:
                if found is None:
                    found = {}
                found.setdefault(name, value)
        if found is not None:
            for name in names:
                given = found.get(name)
                taken = None if given is None else _taken(name, given)
                if taken is not None:
                    return taken
        return None


def _taken(name: bytes, value: bytes) -> str | None:
    """The id ``value`` gives in the header ``name``; None when it gives none."""
    value = value.strip()
    if name == b"traceparent":
        match = _TRACEPARENT.fullmatch(value)
        trace = None if match is None else match.group(1).decode()
        return None if trace == _NO_TRACE else trace
    return value.decode() if _TAKEN.fullmatch(value) else None


class Routed(Protocol):
    """What the log context reads of the endpoint a request was routed to."""

    name: str
    """The handler's, as log lines name it: ``runs.record_run``."""
    path: str
    """The route's path template: ``/runs/{run_id}``."""


class RequestContext(Mapping[str, str]):
    """The log context of one request (HTTP, broker RPC), each field found when first read.

    Made for every request and read for few (those that log, fail, commit events or call
    on), so it costs little until read: the headers are searched for the correlation id, or
    one made, on the first read. Its fields: ``correlation_id``; ``handler`` (a REST route's,
    ``runs.record_run``) or ``rpc_method`` (a JSON-RPC call's) once known; ``subject``, who
    made the call, when it proved who.

    Args:
        ids: where the correlation id comes from.
        headers: the request's headers, as its ASGI scope holds them.
    """

    __slots__ = ("_headers", "_id", "_ids", "chosen", "endpoint", "rpc_method")

    endpoint: Routed | None
    """The endpoint the request was routed to, once known: its ``name`` is the handler's."""
    rpc_method: str | None
    """The JSON-RPC method called, when the request is one call (not a batch)."""
    chosen: bool
    """Whether the correlation id is the caller's (taken from the request, not made here, as
    hexadecimal digits); there once the id has been read."""

    def __init__(self, ids: CorrelationIds, headers: Iterable[tuple[bytes, bytes]]) -> None:
        self._ids = ids
        self._headers = headers
        self._id: str | None = None
        self.endpoint = None
        self.rpc_method = None

    @classmethod
    def carrying(cls, correlation_id: str) -> RequestContext:
        """The context of a request whose correlation id is known already (broker RPC)."""
        context = cls(_NO_IDS, ())
        context._id = correlation_id
        context.chosen = True
        return context

    @property
    def correlation_id(self) -> str:
        """The request's correlation id, the same on every read."""
        found = self._id
        if found is None:
            found = self._ids.taken(self._headers)
            self.chosen = found is not None  # set on the read: a request reading none pays nothing
            if found is None:
                found = made_id()
            self._id = found
        return found

    def __getitem__(self, name: str) -> str:
        if name == "correlation_id":
            return self.correlation_id
        value: str | None = None
        if name == "handler":
            value = None if self.endpoint is None else self.endpoint.name
        elif name == "rpc_method":
            value = self.rpc_method
        elif name == "subject":
            value = subject()
        if value is None:
            raise KeyError(name)
        return value

    def fields(self) -> dict[str, str]:
        """The fields, as a new dictionary: what ``dict(context)`` gives, at a third the cost."""
        fields = {"correlation_id": self.correlation_id}
        if self.endpoint is not None:
            fields["handler"] = self.endpoint.name
        if self.rpc_method is not None:
            fields["rpc_method"] = self.rpc_method
        who = subject()
        if who is not None:
            fields["subject"] = who
        return fields

    def __iter__(self) -> Iterator[str]:
        yield "correlation_id"
        if self.endpoint is not None:
            yield "handler"
        if self.rpc_method is not None:
            yield "rpc_method"
        if subject() is not None:
            yield "subject"

    def __len__(self) -> int:
        return sum(1 for _ in self)


_NO_IDS = CorrelationIds(())


def subject() -> str | None:
    """Who made the call in progress, when it proved who; never their credentials."""
    call = current_call()
    identity = None if call is None else call.identity
    if identity is None or identity.kind == "anonymous":
        return None
    return identity.subject
