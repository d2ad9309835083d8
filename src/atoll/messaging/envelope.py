"""Envelopes: a message as it travels between a unit of work, an outbox, a relay and a consumer.

An event raised in a handler is a plain dataclass. To be kept in an outbox and handed to
another process it is sealed in an :class:`Envelope`: its type's name, its JSON payload, a
unique id (what consumers de-duplicate on), the stream it is ordered in (its aggregate), and
headers. A handler that consumes a delivered message sees it as a :class:`Delivery` in its
scope, which is how its unit of work knows what to record in the inbox.
"""

from __future__ import annotations

import importlib
import uuid
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "NO_DELIVERY",
    "Delivery",
    "Envelope",
    "message_name",
    "message_type",
    "open_envelope",
    "seal",
]


def message_name(message_type: type) -> str:
    """The name a message type travels under: its module and qualified name.

    ``runnerly.runs.application.RunRecorded``. Both ends of a hop import the same message
    module, so the name identifies the type in every process.
    """
    return f"{message_type.__module__}.{message_type.__qualname__}"


def message_type(name: str) -> type | None:
    """The type :func:`message_name` gave ``name``, imported; ``None`` if there is none.

    A type defined inside a function has no importable name, and is never found.
    """
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


def seal(message: object, *, stream: str = "", headers: dict[str, str] | None = None) -> Envelope:
    """Seal ``message`` (a dataclass or msgspec Struct) in a new envelope with a fresh id."""
    import msgspec  # noqa: PLC0415 - loaded when the first message is sealed, not at import

    return Envelope(
        id=uuid.uuid4().hex,
        type=message_name(type(message)),
        payload=msgspec.json.encode(message),
        stream=stream,
        headers=dict(headers or {}),
    )


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
