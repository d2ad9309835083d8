"""GraphQL over a WebSocket: the ``graphql-transport-ws`` protocol, for subscriptions.

A client opens a WebSocket at the GraphQL path asking for the subprotocol
``graphql-transport-ws``, and speaks it
(https://github.com/enisdenjo/graphql-ws/blob/master/PROTOCOL.md):

- ``connection_init`` first, within ``--graphql-connection-timeout`` (10 s), with an
  optional payload; its ``authorization`` (``"Bearer <token>"``) is the connection's
  credentials, as the handshake's ``Authorization`` header would be. The server answers
  ``connection_ack``.
- ``subscribe`` (``id``, ``payload``: ``query``, ``variables``, ``operationName``) starts an
  operation: a subscription sends ``next`` per event shown, and ``complete`` when its stream
  ends; a query or a mutation sends its one result then ``complete``; a document refused before
  it runs sends ``error`` with the errors.
- ``complete`` from the client stops its operation; ``ping`` is answered ``pong``.

Each operation runs in a call context of the connection's own (transport ``graphql``): its
handlers see the caller's identity and are judged by their policies, as over HTTP. A
connection breaking the protocol is closed with the protocol's code: 4400 (a message that is
not one), 4401 (``subscribe`` before ``connection_ack``), 4406 (no such subprotocol), 4408
(no ``connection_init`` in time), 4409 (an id in use), 4429 (a second ``connection_init``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING, Any

import msgspec

from atoll.endpoints.graphql.engine import Executed
from atoll.messaging.context import CallContext, Headers, enter, leave
from atoll.messaging.context import Request as CallRequest

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from atoll.endpoints.graphql.engine import GraphQLEngine
    from atoll.endpoints.http.types import Receive, Scope, Send

__all__ = ["INIT_TIMEOUT", "PROTOCOL", "GraphQLWebSocket"]

logger = logging.getLogger("atoll.graphql")

PROTOCOL = "graphql-transport-ws"
INIT_TIMEOUT = 10.0
"""Seconds a client has to send ``connection_init`` once the socket is open."""

_decode = msgspec.json.Decoder(dict[str, Any]).decode
_encode = msgspec.json.Encoder().encode


class _ProtocolError(Exception):
    """The client broke the protocol: the connection closes with ``code``."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


class GraphQLWebSocket:
    """Serves the ``graphql-transport-ws`` protocol on WebSockets with ``engine``.

    Args:
        engine: the schema executing the operations.
        init_timeout: seconds a client has to send ``connection_init``.
    """

    def __init__(self, engine: GraphQLEngine, *, init_timeout: float = INIT_TIMEOUT) -> None:
        self.engine = engine
        self.init_timeout = init_timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one WebSocket connection, until either side closes it."""
        opening = await receive()
        if opening["type"] != "websocket.connect":
            return
        if PROTOCOL not in scope.get("subprotocols", ()):
            # Accepted, so that the client reads why: a refused handshake is a bare 403.
            await send({"type": "websocket.accept"})
            await send(
                {"type": "websocket.close", "code": 4406, "reason": "Subprotocol not acceptable"}
            )
            return
        await send({"type": "websocket.accept", "subprotocol": PROTOCOL})
        connection = _Connection(self.engine, scope, send)
        try:
            await connection.serve(receive, self.init_timeout)
        except _ProtocolError as error:
            await connection.close(error.code, error.reason)
        finally:
            await connection.stop()


class _Connection:
    """One WebSocket's operations, by id, and what sends to it."""

    def __init__(self, engine: GraphQLEngine, scope: Scope, send: Send) -> None:
        self.engine = engine
        self.scope = scope
        self._send = send
        self._sending = asyncio.Lock()
        self._operations: dict[str, asyncio.Task[None]] = {}
        self._acknowledged = False
        self._closed = False
        self._headers: list[tuple[bytes, bytes]] = list(scope.get("headers", ()))

    async def serve(self, receive: Receive, init_timeout: float) -> None:
        try:
            async with asyncio.timeout(init_timeout):
                message = await self._next(receive)
        except TimeoutError:
            raise _ProtocolError(4408, "Connection initialisation timeout") from None
        while message is not None:
            await self._handle(message)
            message = await self._next(receive)

    async def _next(self, receive: Receive) -> dict[str, Any] | None:
        """The client's next message; None once it has gone."""
        while True:
            event = await receive()
            if event["type"] == "websocket.disconnect":
                self._closed = True
                return None
            if event["type"] != "websocket.receive":
                continue
            text = event.get("text")
            if text is None:
                raise _ProtocolError(4400, "messages are JSON text")
            try:
                message = _decode(text)
            except msgspec.MsgspecError:
                raise _ProtocolError(4400, "a message is a JSON object") from None
            if not isinstance(message.get("type"), str):
                raise _ProtocolError(4400, "a message has a type")
            return message

    async def _handle(self, message: dict[str, Any]) -> None:
        kind = message["type"]
        if kind == "connection_init":
            if self._acknowledged:
                raise _ProtocolError(4429, "Too many initialisation requests")
            self._credentials(message.get("payload"))
            self._acknowledged = True
            await self.send({"type": "connection_ack"})
        elif kind == "ping":
            await self.send({"type": "pong"})
        elif kind == "pong":
            return
        elif kind == "subscribe":
            self._subscribe(message)
        elif kind == "complete":
            task = self._operations.pop(str(message.get("id")), None)
            if task is not None:
                task.cancel()
        else:
            raise _ProtocolError(4400, f"no message of type {kind!r} in {PROTOCOL}")

    def _credentials(self, payload: object) -> None:
        """Take the ``authorization`` of ``connection_init``'s payload as the connection's."""
        if not isinstance(payload, dict):
            return
        given = payload.get("authorization", payload.get("Authorization"))
        if isinstance(given, str) and given:
            self._headers = [
                (name, value) for name, value in self._headers if name != b"authorization"
            ]
            self._headers.append((b"authorization", given.encode("latin-1", "replace")))

    def _subscribe(self, message: dict[str, Any]) -> None:
        if not self._acknowledged:
            raise _ProtocolError(4401, "Unauthorized")
        ident, payload = message.get("id"), message.get("payload")
        if not isinstance(ident, str) or not ident or not isinstance(payload, dict):
            raise _ProtocolError(4400, "subscribe has an id and a payload")
        query = payload.get("query")
        if not isinstance(query, str):
            raise _ProtocolError(4400, "subscribe's payload has a query")
        if ident in self._operations:
            raise _ProtocolError(4409, f"Subscriber for {ident} already exists")
        variables = payload.get("variables")
        operation = payload.get("operationName")
        task = asyncio.create_task(
            self._run(
                ident,
                query,
                variables if isinstance(variables, dict) else None,
                operation if isinstance(operation, str) else None,
            ),
            name=f"graphql operation {ident}",
        )
        self._operations[ident] = task
        task.add_done_callback(lambda done: self._ended(ident, done))

    def _ended(self, ident: str, task: asyncio.Task[None]) -> None:
        if self._operations.get(ident) is task:
            del self._operations[ident]

    async def _run(
        self, ident: str, query: str, variables: dict[str, Any] | None, operation: str | None
    ) -> None:
        scope = self.scope
        client = scope.get("client")
        context = CallContext(
            CallRequest(
                "graphql",
                method="GET",
                path=scope.get("path", ""),
                headers=Headers.of_http(self._headers),
                client=(client[0], client[1]) if client else None,
                scheme="https" if scope.get("scheme") == "wss" else "http",
            )
        )
        token = enter(context)
        try:
            made = await self.engine.subscribe(query, variables, operation)
            if isinstance(made, Executed):
                await self._one(ident, made)
                return
            await self._each(ident, made)
        except Exception:
            logger.exception("GraphQL operation %s of a WebSocket failed", ident)
            await self.send({"id": ident, "type": "complete"})
        finally:
            leave(token)

    async def _one(self, ident: str, made: Executed) -> None:
        if made.refused:
            await self.send({"id": ident, "type": "error", "payload": made.response["errors"]})
            return
        await self.send({"id": ident, "type": "next", "payload": made.response})
        await self.send({"id": ident, "type": "complete"})

    async def _each(self, ident: str, stream: AsyncIterator[Executed]) -> None:
        try:
            async for made in stream:
                await self.send({"id": ident, "type": "next", "payload": made.response})
        finally:
            with contextlib.suppress(Exception):
                await stream.aclose()  # type: ignore[attr-defined]
        await self.send({"id": ident, "type": "complete"})

    async def send(self, message: dict[str, Any]) -> None:
        """Send ``message`` as JSON text, one message at a time; nothing once closed."""
        async with self._sending:
            if self._closed:
                return
            await self._send({"type": "websocket.send", "text": _encode(message).decode()})

    async def close(self, code: int, reason: str) -> None:
        async with self._sending:
            if self._closed:
                return
            self._closed = True
            await self._send({"type": "websocket.close", "code": code, "reason": reason})

    async def stop(self) -> None:
        """Stop every operation of the connection."""
        tasks = list(self._operations.values())
        self._operations.clear()
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
