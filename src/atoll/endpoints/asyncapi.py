"""The AsyncAPI 3.0 document of a service's messages: what it takes from a broker and sends.

AsyncAPI (https://www.asyncapi.com/docs/reference/specification/v3.0.0) is to messages what
OpenAPI is to REST. The document of a service (or of a system: its services together) lists:

- the **commands** it takes: each is sent to the service's own queue, the broker port's
  ``send``; a ``receive`` operation per command handler, on the service's send channel;
- the **events** it consumes: a ``receive`` operation per event handler, on the event's channel;
- the **events** it publishes, as the service declares them (``service.publishes``): a
  ``send`` operation per event type, on the event's channel;
- its **broker RPC**, when it answers it (a broker other than ``memory://``, and
  ``--broker-rpc``): a ``receive`` operation with a reply, JSON-RPC 2.0 requests and
  responses. The OpenRPC document each service answers to ``rpc.discover``, over that very
  channel, describes the methods and their parameters.

A message's payload schema is its type's, from the generator OpenAPI uses
(:mod:`~atoll.endpoints.schemas`), and its headers are those of atoll's envelopes. The
channels' addresses are those of the broker the process is configured with (``--broker-url``),
which the document names as its server, without its password; on ``memory://``, which no
other process reaches, the document has no server and the addresses are unknown (``null``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from atoll.endpoints.schemas import REF, json_schemas
from atoll.messaging.broker import ID_HEADER, MAX_REQUEST_HEADERS, STREAM_HEADER, TYPE_HEADER
from atoll.messaging.envelope import CREATED_AT, message_name
from atoll.messaging.handlers import HandlerKind
from atoll.messaging.signing import SIGNATURE

if TYPE_CHECKING:
    from atoll.endpoints.api import Api
    from atoll.messaging.handlers import Handler
    from atoll.messaging.options import BrokerOptions

__all__ = ["ASYNCAPI_VERSION", "ENVELOPE_HEADERS", "asyncapi_document"]

ASYNCAPI_VERSION = "3.0.0"
"""The version of the AsyncAPI specification the document follows."""

ENVELOPE_HEADERS: dict[str, str] = {
    ID_HEADER: "The message's id, unique, kept by a redelivery: what consumers de-duplicate on.",
    TYPE_HEADER: "The message's type: its name on the wire, the message's `name` here.",
    STREAM_HEADER: (
        "What the message is ordered within: its aggregate, such as `Run:42`. Absent for none."
    ),
    "sender": "The service whose unit of work committed the message.",
    "correlation_id": "Shared by every message that follows from one outside call.",
    "causation_id": "The id of the message whose handling raised this one.",
    CREATED_AT: "The Unix time the message was sealed at, in seconds: `1733334567.123456`.",
    "traceparent": "The W3C trace context of the call that raised the message.",
    "tracestate": "The W3C trace state that goes with `traceparent`.",
    "subject": "Who made the outside call, when the caller proved who they are.",
    "subject_kind": "What kind of caller `subject` is: `user` or `service`.",
    SIGNATURE: (
        "The sending process's signature (a JWS with a detached payload), when it publishes "
        "with `--messages-sign`."
    ),
}
"""The headers an envelope carries, and what each says."""

_ENVELOPE = "envelope-headers"
_RPC_HEADERS = "rpc-headers"
_RESPONSE = "jsonrpc-response"
"""Components of the document's own: a hyphen keeps them apart from the types' names."""
_CORRELATION = "correlation_id"
_CORRELATION_ID = {
    "description": "Shared by every message that follows from one outside call: a consumer's "
    "log lines name it.",
    "location": f"$message.header#/{_CORRELATION}",
}
_MESSAGE_REF = "#/components/messages/{name}"


@dataclass(frozen=True)
class _Layout:
    """Where a broker adapter keeps each channel of the broker port, and its words for them."""

    protocol: str
    port: int
    event: str
    send: str
    rpc: str
    reply: str | None
    events_note: str
    sends_note: str
    rpc_note: str
    reply_note: str


_NATS = _Layout(
    protocol="nats",
    port=4222,
    event="atoll.event.{type}",
    send="atoll.send.{service}",
    rpc="atoll.rpc.{service}",
    reply=None,
    events_note="Kept in the JetStream stream `ATOLL_EVENTS`; each consuming service has a "
    "durable consumer of it, which its instances share.",
    sends_note="Kept in the JetStream stream `ATOLL_SENDS`, for the service's one durable "
    "consumer.",
    rpc_note="A core NATS request, answered in the queue group named for the service; its "
    "headers are the message's NATS headers.",
    reply_note="On the request's reply subject: the caller's inbox.",
)
_AMQP = _Layout(
    protocol="amqp",
    port=5672,
    event="{type}",
    send="{service}",
    rpc="atoll.{service}.rpc",
    reply=None,
    events_note="Published to the durable topic exchange `atoll.events`, the event's name the "
    "routing key; each consuming service binds its quorum queue, `atoll.<service>`, to it.",
    sends_note="Published to the durable direct exchange `atoll.sends`, the service's name the "
    "routing key, into its quorum queue `atoll.{service}`.",
    rpc_note="The queue `atoll.{service}.rpc`, deleted with its last server; a request's "
    "headers are the message's AMQP headers.",
    reply_note="By direct reply-to (`amq.rabbitmq.reply-to`), matched by correlation id.",
)
_REDIS = _Layout(
    protocol="redis",
    port=6379,
    event="atoll:event:{type}",
    send="atoll:send:{service}",
    rpc="atoll:rpc:{service}",
    reply="atoll:reply:{requester}",
    events_note="A stream; each consuming service reads it in a consumer group of its own. An "
    "entry holds the headers as a JSON object, a line break, and the payload.",
    sends_note="A stream, read in the service's consumer group. An entry holds the headers as "
    "a JSON object, a line break, and the payload.",
    rpc_note="A list the service's instances pop; an entry holds the deadline, the reply "
    "channel and a correlation id, then the headers as JSON and the body.",
    reply_note="Published on the requester's own channel, after the call's correlation id.",
)
_LAYOUTS = {"nats": _NATS, "amqp": _AMQP, "amqps": _AMQP, "redis": _REDIS, "rediss": _REDIS}
_PROTOCOLS = {"amqps": "amqps"}
"""A scheme whose protocol has a name of its own; TLS to Redis is still the redis protocol."""

_AMQP_BINDING = "0.3.0"
_NATS_BINDING = "0.1.0"
_UNSAFE = re.compile(r"[^\w.\-]")


def asyncapi_document(api: Api, broker: BrokerOptions) -> dict[str, Any]:
    """The AsyncAPI 3.0 document of the services of ``api``, on the broker ``broker`` names.

    Args:
        api: the API of a service, or of a system (whose ``parts`` are its services').
        broker: the ``broker`` options: the URL names the server and the addresses, and
            whether the services answer broker RPC.

    Returns:
        A new document, made of dicts, lists and scalars, ready to encode as JSON.
    """
    return _Document(api, broker).build()


class _Document:
    """The parts of one document, gathered service by service."""

    def __init__(self, api: Api, broker: BrokerOptions) -> None:
        self.api = api
        self.services = api.parts or [api]
        self.url = broker.url
        self.scheme = broker.url.partition("://")[0].lower()
        self.layout = _LAYOUTS.get(self.scheme)
        self.rpc = broker.rpc and not broker.private
        self.channels: dict[str, dict[str, Any]] = {}
        self.operations: dict[str, dict[str, Any]] = {}
        self.messages: dict[str, dict[str, Any]] = {}
        self.message_keys: dict[type, str] = {}
        self.event_channels: dict[str, str] = {}

    def build(self) -> dict[str, Any]:
        types = self._types()
        payloads, schemas = json_schemas(types)
        for message_type, payload in zip(types, payloads, strict=True):
            self._message(message_type, payload)
        for service in self.services:
            self._service(service)
        components: dict[str, Any] = {"schemas": schemas, "messages": self.messages}
        if self.message_keys:
            schemas[_ENVELOPE] = _envelope_schema()
            components["correlationIds"] = {_CORRELATION: dict(_CORRELATION_ID)}
        if self.rpc:
            schemas[_RPC_HEADERS] = _rpc_headers_schema()
            schemas[_RESPONSE] = _response_schema()
        info: dict[str, Any] = {"title": self.api.title, "version": self.api.version}
        if self.api.description:
            info["description"] = self.api.description
        document: dict[str, Any] = {"asyncapi": ASYNCAPI_VERSION, "info": info}
        if self.layout is not None:
            document["servers"] = self._servers(self.layout)
        document["defaultContentType"] = "application/json"
        document["channels"] = self.channels
        document["operations"] = self.operations
        document["components"] = components
        return document

    def _types(self) -> list[type]:
        """Each message type of the services once: what they consume, then what they publish."""
        found: dict[type, None] = {}
        for service in self.services:
            for handler in service.consumes:
                if handler.message is not None:
                    found[handler.message] = None
            found.update(dict.fromkeys(service.publishes))
        return list(found)

    def _message(self, message_type: type, payload: dict[str, Any]) -> None:
        name = message_name(message_type)
        key = _unique(_key(name), self.messages)
        self.message_keys[message_type] = key
        self.messages[key] = {
            "name": name,
            "title": message_type.__name__,
            "headers": {"$ref": REF.format(name=_ENVELOPE)},
            "correlationId": {"$ref": f"#/components/correlationIds/{_CORRELATION}"},
            "payload": payload,
        }

    # -- a service's operations ----------------------------------------------------------------

    def _service(self, service: Api) -> None:
        name = service.title
        tags = [{"name": name}]
        for handler in service.consumes:
            if handler.message is None:
                continue
            if handler.kind is HandlerKind.COMMAND:
                channel = self._send_channel(name)
            else:
                channel = self._event_channel(handler.message)
            operation = {
                "action": "receive",
                "channel": {"$ref": f"#/channels/{channel}"},
                "messages": [self._in(channel, handler.message)],
                **_words(handler),
                "tags": tags,
            }
            if self.layout is _AMQP:
                operation["bindings"] = {"amqp": {"ack": True, "bindingVersion": _AMQP_BINDING}}
            self._operation(f"{name}.{handler.name}", operation)
        for event in service.publishes:
            channel = self._event_channel(event)
            operation = {
                "action": "send",
                "channel": {"$ref": f"#/channels/{channel}"},
                "messages": [self._in(channel, event)],
                "summary": f"Publish `{message_name(event)}`.",
                "tags": tags,
            }
            if self.layout is _AMQP:
                operation["bindings"] = {
                    "amqp": {"deliveryMode": 2, "bindingVersion": _AMQP_BINDING}
                }
            self._operation(f"{name}.publish.{_key(message_name(event))}", operation)
        if self.rpc:
            self._rpc(service, tags)

    def _operation(self, wanted: str, operation: dict[str, Any]) -> None:
        self.operations[_unique(_key(wanted), self.operations)] = operation

    def _in(self, channel: str, message_type: type) -> dict[str, str]:
        """The reference to ``message_type`` among the messages of ``channel``."""
        key = self.message_keys[message_type]
        self.channels[channel]["messages"][key] = {"$ref": _MESSAGE_REF.format(name=key)}
        return {"$ref": f"#/channels/{channel}/messages/{key}"}

    # -- channels ------------------------------------------------------------------------------

    def _event_channel(self, event: type) -> str:
        """The channel of ``event``'s topic, shared by every service that sends or takes it."""
        name = message_name(event)
        channel = self.event_channels.get(name)
        if channel is None:
            channel = self.event_channels[name] = _unique(f"event.{_key(name)}", self.channels)
            layout = self.layout
            self.channels[channel] = self._channel(
                None if layout is None else layout.event.format(type=name),
                f"The event `{name}`: every service that consumes it receives each one, and the "
                "instances of one service compete for it.",
                None if layout is None else layout.events_note,
            )
            if layout is _AMQP:
                self.channels[channel]["bindings"] = self._exchange("atoll.events", "topic")
        return channel

    def _send_channel(self, service: str) -> str:
        """The channel of what is sent to ``service``: its commands."""
        channel = f"send.{_key(service)}"
        if channel not in self.channels:
            layout = self.layout
            self.channels[channel] = self._channel(
                None if layout is None else layout.send.format(service=service),
                f"What is sent to `{service}`, kept until it takes it: its commands, and its "
                "dead letters redriven to it.",
                None if layout is None else layout.sends_note.format(service=service),
            )
            if layout is _AMQP:
                self.channels[channel]["bindings"] = self._exchange("atoll.sends", "direct")
        return channel

    def _channel(self, address: str | None, description: str, note: str | None) -> dict[str, Any]:
        if note is None:
            note = (
                "On `memory://` the broker is in the process's memory: no other process "
                "reaches it, and the channel has no address."
            )
        return {"address": address, "description": f"{description} {note}", "messages": {}}

    def _exchange(self, name: str, kind: str) -> dict[str, Any]:
        return {
            "amqp": {
                "is": "routingKey",
                "exchange": {
                    "name": name,
                    "type": kind,
                    "durable": True,
                    "autoDelete": False,
                    "vhost": self._vhost(),
                },
                "bindingVersion": _AMQP_BINDING,
            }
        }

    # -- broker RPC ----------------------------------------------------------------------------

    def _rpc(self, service: Api, tags: list[dict[str, str]]) -> None:
        """The service's broker RPC: a channel of calls, one of answers, the operation."""
        name = service.title
        layout = self.layout
        calls = _unique(f"rpc.{_key(name)}", self.channels)
        answers = _unique(f"{calls}.reply", self.channels)
        self.channels[calls] = self._channel(
            None if layout is None else layout.rpc.format(service=name),
            f"JSON-RPC 2.0 calls to `{name}`, each answered by one of its instances. A call "
            "carries headers as HTTP does: `authorization: Bearer <token>` for a service that "
            "authenticates its calls.",
            None if layout is None else layout.rpc_note.format(service=name),
        )
        self.channels[answers] = self._channel(
            None if layout is None else layout.reply,
            f"The answers of `{name}`, each to its caller alone.",
            None if layout is None else layout.reply_note,
        )
        if layout is _REDIS:
            self.channels[answers]["parameters"] = {
                "requester": {"description": "The name of the calling process's broker."}
            }
        if layout is _AMQP:
            self.channels[calls]["bindings"] = {
                "amqp": {
                    "is": "queue",
                    "queue": {
                        "name": f"atoll.{name}.rpc",
                        "durable": False,
                        "exclusive": False,
                        "autoDelete": True,
                        "vhost": self._vhost(),
                    },
                    "bindingVersion": _AMQP_BINDING,
                }
            }
        request = _unique(_key(f"{name}.rpc-request"), self.messages)
        response = _unique(_key(f"{name}.rpc-response"), self.messages)
        self.messages[request] = _request_message(name, [m.name for m in service.methods])
        self.messages[response] = _response_message(name)
        self.channels[calls]["messages"][request] = {"$ref": _MESSAGE_REF.format(name=request)}
        self.channels[answers]["messages"][response] = {"$ref": _MESSAGE_REF.format(name=response)}
        operation: dict[str, Any] = {
            "action": "receive",
            "channel": {"$ref": f"#/channels/{calls}"},
            "messages": [{"$ref": f"#/channels/{calls}/messages/{request}"}],
            "reply": {
                "channel": {"$ref": f"#/channels/{answers}"},
                "messages": [{"$ref": f"#/channels/{answers}/messages/{response}"}],
            },
            "summary": f"Answer the JSON-RPC calls to `{name}` that come over the broker.",
            "description": "The methods, their parameters and results are in the OpenRPC "
            "document the service answers to `rpc.discover`, over this channel too.",
            "tags": tags,
        }
        if layout is _NATS:
            operation["bindings"] = {"nats": {"queue": name, "bindingVersion": _NATS_BINDING}}
        self._operation(f"{name}.rpc", operation)

    # -- the server ----------------------------------------------------------------------------

    def _servers(self, layout: _Layout) -> dict[str, Any]:
        """The broker the URL names, host by host (a NATS URL may list several)."""
        hosts = self.url.partition("://")[2].split(",")
        protocol = _PROTOCOLS.get(self.scheme, layout.protocol)
        servers: dict[str, Any] = {}
        for index, part in enumerate(hosts, 1):
            parts = urlsplit(f"{self.scheme}://{part.partition('://')[2] or part}")
            host = parts.netloc.rpartition("@")[2]  # never the user, nor the password
            try:
                port = parts.port
            except ValueError:  # a port the URL's own check let through: shown as written
                port = 0
            server: dict[str, Any] = {
                "host": host if port is not None else f"{host}:{layout.port}",
                "protocol": protocol,
                "description": "The broker the service is configured with (`--broker-url`).",
            }
            if parts.path not in {"", "/"} and layout is not _NATS:
                server["pathname"] = parts.path
            servers["broker" if len(hosts) == 1 else f"broker-{index}"] = server
        return servers

    def _vhost(self) -> str:
        path = urlsplit(self.url.split(",")[0]).path
        return "/" if path in {"", "/"} else unquote(path[1:])


def _words(handler: Handler) -> dict[str, str]:
    """The summary and description of ``handler``'s operation: its docstring's."""
    words = {}
    if handler.summary:
        words["summary"] = handler.summary
    if handler.description:
        words["description"] = handler.description
    return words


def _key(name: str) -> str:
    """``name`` as a key of the document's maps: letters, digits, ``_``, ``.`` and ``-``."""
    return _UNSAFE.sub("_", name)


def _unique(wanted: str, taken: dict[str, Any]) -> str:
    """``wanted``, or with a counter if ``taken`` has it (two types of one name, say)."""
    candidate, number = wanted, 1
    while candidate in taken:
        number += 1
        candidate = f"{wanted}_{number}"
    return candidate


def _envelope_schema() -> dict[str, Any]:
    return {
        "type": "object",
        "description": "What travels beside the payload. On NATS and RabbitMQ a message may carry "
        "each as a header of its own (atoll packs them when it publishes: the id, and on "
        "RabbitMQ the type, in the broker's own fields, the rest in one header); on Redis they "
        "are a JSON object before the payload.",
        "properties": {
            name: {"type": "string", "description": text} for name, text in ENVELOPE_HEADERS.items()
        },
        "required": [ID_HEADER, TYPE_HEADER],
        "additionalProperties": {"type": "string"},
    }


def _rpc_headers_schema() -> dict[str, Any]:
    return {
        "type": "object",
        "description": "Headers as HTTP has them: names in lower case, values printable ASCII "
        f"without spaces at either end, {MAX_REQUEST_HEADERS} bytes in all.",
        "properties": {
            "authorization": {
                "type": "string",
                "description": "`Bearer <token>`: the caller's credentials, read as over HTTP.",
            },
            "traceparent": {"type": "string", "description": "The W3C trace context."},
            "tracestate": {"type": "string", "description": "The W3C trace state."},
        },
        "additionalProperties": {"type": "string"},
    }


def _request_message(service: str, methods: list[str]) -> dict[str, Any]:
    call = {
        "type": "object",
        "properties": {
            "jsonrpc": {"const": "2.0"},
            "method": {"enum": [*methods, "rpc.discover"]},
            "params": {
                "type": ["object", "array"],
                "description": "By name or by position, as the OpenRPC document says.",
            },
            "id": {
                "type": ["string", "integer", "null"],
                "description": "Left out of a notification, which gets no answer.",
            },
        },
        "required": ["jsonrpc", "method"],
    }
    return {
        "name": "jsonrpc-request",
        "title": f"A call to {service}",
        "summary": "A JSON-RPC 2.0 request, or a batch of them.",
        "headers": {"$ref": REF.format(name=_RPC_HEADERS)},
        "payload": {"anyOf": [call, {"type": "array", "items": call, "minItems": 1}]},
    }


def _response_message(service: str) -> dict[str, Any]:
    return {
        "name": "jsonrpc-response",
        "title": f"An answer of {service}",
        "summary": "A JSON-RPC 2.0 response, or the batch of them; empty when the call held "
        "notifications only.",
        "payload": {"$ref": REF.format(name=_RESPONSE)},
    }


def _response_schema() -> dict[str, Any]:
    answer = {
        "type": "object",
        "properties": {
            "jsonrpc": {"const": "2.0"},
            "id": {"type": ["string", "integer", "null"]},
            "result": {"description": "The method's result, as its OpenRPC document says."},
            "error": {
                "type": "object",
                "properties": {
                    "code": {"type": "integer"},
                    "message": {"type": "string"},
                    "data": {"description": "More about the error: its `detail`, its `type`."},
                },
                "required": ["code", "message"],
            },
        },
        "required": ["jsonrpc", "id"],
    }
    return {"anyOf": [answer, {"type": "array", "items": answer, "minItems": 1}]}
