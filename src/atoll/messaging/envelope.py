"""Envelopes: a message as it travels between a unit of work, an outbox, a relay and a consumer.

An event raised in a handler is a plain dataclass. To be kept in an outbox and handed to
another process it is sealed in an :class:`Envelope`: its type's name, its JSON payload, a
unique id (what consumers de-duplicate on), the stream it is ordered in (its aggregate), and
headers. A handler that consumes a delivered message sees it as a :class:`Delivery` in its
scope, which is how its unit of work knows what to record in the inbox.
"""

from __future__ import annotations

import importlib
import re
import time
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from atoll.errors import ConfigError

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = [
    "NO_DELIVERY",
    "Delivery",
    "Envelope",
    "message",
    "message_name",
    "message_type",
    "open_envelope",
    "seal",
]

T = TypeVar("T", bound=type)

WIRE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:[.-][A-Za-z0-9_]+)*")
"""What every broker carries as a name: letters, digits and ``_``, in parts joined by . or -."""

_DECLARED = "__atoll_message__"
"""The class attribute :func:`message` sets: the name declared for that class alone."""

_BY_DECLARED_NAME: dict[str, type] = {}
"""The classes declared with :func:`message` so far, by name (the last one of a name)."""


def message(name: str) -> Callable[[T], T]:
    """Declare the name a message type travels under, instead of its module and class.

    ``@atoll.message("runs.RunRecorded")`` above the dataclass. The name is the type's
    identity on the wire: a consumer in another code base declares a type of its own with
    the same name and fields, and moving or renaming the class leaves the wire alone. Renaming
    the declared name is a change of contract: messages already sent under the old one reach
    no handler (see docs/reference/service.md).

    Raises:
        ConfigError: ``name`` has a character a broker cannot carry, or an empty part.
    """
    if not WIRE_NAME.fullmatch(name):
        raise ConfigError(
            f"a message's name on the wire is letters, digits and _, in parts joined by . or -"
            f" (such as 'runs.RunRecorded'); got {name!r}"
        )

    def declare(message_type: T) -> T:
        setattr(message_type, _DECLARED, name)
        _BY_DECLARED_NAME[name] = message_type
        return message_type

    return declare


def message_name(message_type: type) -> str:
    """The name a message type travels under.

    The name declared with :func:`message` (or the class attribute ``__atoll_message__`` it
    sets, which a module that imports no framework may set itself), else the type's module
    and qualified name (``runnerly.runs.application.RecordRun``). A declared name belongs to
    its class alone: a subclass travels under its own.
    """
    declared = vars(message_type).get(_DECLARED)
    if declared is not None:
        _BY_DECLARED_NAME.setdefault(declared, message_type)  # found again by message_type
        return str(declared)
    return f"{message_type.__module__}.{message_type.__qualname__}"


def message_type(name: str) -> type | None:
    """The type named ``name``, or ``None`` if there is none.

    A type declared under that name (with :func:`message`, or sealed or handled under it in
    this process already), or else the one whose module and class the name gives, imported.
    A type defined inside a function has no importable name, and is never found.
    """
    declared = _BY_DECLARED_NAME.get(name)
    if declared is not None:
        return declared
    parts = name.split(".")
    for split in range(len(parts) - 1, 0, -1):
        try:
            found: object = importlib.import_module(".".join(parts[:split]))
        except ImportError:
            continue
        for attribute in parts[split:]:
            found = getattr(found, attribute, None)
        return found if isinstance(found, type) else None
    return None


@dataclass(frozen=True, slots=True)
class Envelope:
    """A message sealed for travel.

    Attributes:
        id: unique for each message (a UUID's hex); a redelivery keeps it.
        type: :func:`message_name` of the message's type.
        payload: the message, encoded as JSON.
        stream: what the message is ordered within (``"Run:42"``), ``""`` for none. A relay
            publishes the messages of one stream in the order they were committed.
        headers: what travels beside the message: ``sender``, ``correlation_id``...
    """

    id: str
    type: str
    payload: bytes
    stream: str = ""
    headers: dict[str, str] = field(default_factory=dict)


CREATED_AT = "created_at"
"""The header of the Unix time a message was sealed at (``1733334567.123456``): whence the
consumer's delivery lag."""


def seal(message: object, *, stream: str = "", headers: dict[str, str] | None = None) -> Envelope:
    """Seal ``message`` (a dataclass or msgspec Struct) in a new envelope with a fresh id.

    Its headers are ``headers`` and :data:`CREATED_AT`, now.
    """
    import msgspec  # noqa: PLC0415 - loaded when the first message is sealed, not at import

    return Envelope(
        id=uuid.uuid4().hex,
        type=message_name(type(message)),
        payload=msgspec.json.encode(message),
        stream=stream,
        headers={**(headers or {}), CREATED_AT: f"{time.time():.6f}"},
    )


def lag_of(envelope: Envelope) -> float | None:
    """Seconds since ``envelope`` was sealed; None when it does not say when."""
    created = envelope.headers.get(CREATED_AT)
    if created is None:
        return None
    try:
        return max(0.0, time.time() - float(created))
    except ValueError:  # written by another producer, in a form of its own
        return None


def open_envelope(envelope: Envelope, message_type: type) -> object:
    """The message ``envelope`` holds, decoded as ``message_type``.

    Raises:
        msgspec.DecodeError: the payload is not JSON of that type.
    """
    decode = _DECODERS.get(message_type)
    if decode is None:
        import msgspec  # noqa: PLC0415 - as in seal

        decode = _DECODERS[message_type] = msgspec.json.Decoder(message_type).decode
    decoded: object = decode(envelope.payload)
    return decoded


_DECODERS: dict[type, Any] = {}
"""A decoder per message type, made at its first envelope opened."""


@dataclass(frozen=True, slots=True)
class Delivery:
    """The delivered message a handler call is consuming, as its scope sees it.

    A unit of work asks for it by type: when ``message_id`` is set, it skips a message seen
    before and records the id in its inbox on commit.

    Attributes:
        message_id: the envelope's id; ``None`` when the call is not consuming a delivery.
        consumer: who consumes it: ``service.handler``; the inbox keys on both.
        headers: the envelope's headers.
    """

    message_id: str | None = None
    consumer: str = ""
    headers: dict[str, Any] = field(default_factory=dict)


NO_DELIVERY = Delivery()
"""What a handler call that consumes no delivered message sees."""
