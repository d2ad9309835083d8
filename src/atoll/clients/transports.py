"""Transports: how the bytes of a JSON-RPC request reach a service, and its answer comes back.

A client (:mod:`atoll.clients.remote`) encodes requests and checks answers; a
:class:`Transport` only carries bodies. Keeping the two apart is what lets a colocated service
be called exactly as a remote one: the same client, the same bytes, handed to the service's
own engine (:class:`LocalTransport`) instead of being posted over HTTP (:class:`HttpTransport`,
pooled, with a timeout; :class:`SyncHttpTransport`, blocking). httpx is imported by the first
HTTP call, not by ``import atoll``.

An HTTP transport turns a failed delivery into one of two errors:

- :class:`~atoll.errors.RemoteUnavailableError` when no answer came: connection refused, host
  name unknown, timeout, connection dropped, or HTTP 502, 503 or 504 (a gateway saying that
  the service behind it did not answer). A call that timed out or lost its connection may
  have run.
- :class:`~atoll.errors.RemoteError`, code -32603, for an HTTP status other than 200 and 204
  (a proxy's 413, a 500); its data holds the status and the start of the body.

:func:`rpc_url` checks an endpoint's URL; :func:`masked` hides its password, as every message
does.
"""

from __future__ import annotations

import asyncio
import contextvars
import socket
import time
import urllib.parse
from typing import TYPE_CHECKING, Generic, Protocol, TypeVar

from atoll._version import __version__
from atoll.endpoints.rpc.jsonrpc import INTERNAL_ERROR
from atoll.errors import (
    BrokerUnavailableError,
    ConfigError,
    DeadlineExceededError,
    RemoteError,
    RemoteUnavailableError,
)
from atoll.kernel.logs import current_log_context, set_log_context
from atoll.kernel.options import masked_url
from atoll.kernel.spans import current_span
from atoll.messaging.context import LOCAL_REQUEST, CallContext, current_call, enter
from atoll.observability.correlation import REQUEST_ID
from atoll.resilience.deadlines import TIMEOUT_HEADER, budget, deadline_header, set_deadline

if TYPE_CHECKING:
    import httpx

    from atoll.kernel.spans import Attribute, Span
    from atoll.messaging.broker import Broker

__all__ = [
    "BODY_SHOWN",
    "BrokerTransport",
    "HttpTransport",
    "LocalTransport",
    "RpcEngine",
    "SyncHttpTransport",
    "TokenTransport",
    "Transport",
    "masked",
    "rpc_url",
]

T = TypeVar("T")

BODY_SHOWN = 200
"""How many characters of an unexpected body an error's data holds."""
_HEADERS = {
    "Accept": "application/json",
    "Content-Type": "application/json",
    "User-Agent": f"atoll/{__version__}",
}
_GATEWAY_DOWN = frozenset({502, 503, 504})


def rpc_url(url: str) -> str:
    """Check the http(s) URL of a JSON-RPC endpoint; a URL without a path gets ``/rpc``.

    Raises:
        ConfigError: ``url`` is not an http or https URL with a host (and a valid port).
    """
    try:
        parts = urllib.parse.urlsplit(url)
        _ = parts.port  # urlsplit checks the port only when it is read
        web = parts.scheme in {"http", "https"} and parts.hostname
        problem = "" if web else "it needs http:// or https:// and a host"
    except ValueError as error:
        problem = str(error)
    if problem:
        raise ConfigError(
            f"{masked(url)!r} is not the URL of a JSON-RPC endpoint ({problem}); write it like "
            "http://127.0.0.1:8000/rpc"
        )
    path = parts.path if parts.path.strip("/") else "/rpc"
    return urllib.parse.urlunsplit(parts._replace(path=path))


def masked(url: str) -> str:
    """The URL with its password, if any, masked: ``http://ada:********@host/rpc``."""
    return masked_url(url)


class Transport(Protocol):
    """How a request body reaches a service, and its answer comes back."""

    @property
    def url(self) -> str:
        """Where the requests go, as messages show it (a password masked)."""
        ...

    async def exchange(self, body: bytes, *, notification: bool) -> bytes | None:
        """Send ``body``; return the answer's body, None if none (always for a notification).

        Raises:
            RemoteError: something answered, but not with a body (an HTTP error status).
            RemoteUnavailableError: no answer came.
        """
        ...

    async def aclose(self) -> None:
        """Release the connections; a later exchange opens new ones."""
        ...


class TokenTransport(Transport, Protocol):
    """A transport that can send a bearer token with a request: HTTP, and the broker."""

    async def exchange(
        self, body: bytes, *, notification: bool, token: str | None = None
    ) -> bytes | None:
        """Send ``body``, with ``token`` as ``Authorization: Bearer`` when given.

        Raises:
            RemoteError: something answered, but not with a body (an HTTP error status).
            RemoteUnavailableError: no answer came.
        """
        ...


class RpcEngine(Protocol):
    """Answers JSON-RPC bodies in the process: :class:`atoll.endpoints.rpc.jsonrpc.JsonRpc`."""

    async def handle(self, body: bytes) -> bytes | None:
        """The encoded answer to ``body``, or None when nothing is answered."""
        ...


class LocalTransport:
    """Hands request bodies to the engine of a service in the same process.

    The bodies are the bytes HTTP would carry, so the engine decodes, validates and fails as
    behind a server. It runs in a task of its own with empty context variables, as in another
    process: it sees nothing of the caller's request scope or unit of work, only who is
    calling (the caller's identity) and its deadline.

    Args:
        engine: answers the bodies.
        name: the service's name; messages show ``local://<name>`` as its URL.
        timeout: seconds a call may take, its deadline's; None for no bound but the
            deadline of the work making it.
    """

    def __init__(
        self, engine: RpcEngine, *, name: str = "service", timeout: float | None = None
    ) -> None:
        self.engine = engine
        self.url = f"local://{name}"
        self.timeout = timeout

    async def exchange(self, body: bytes, *, notification: bool) -> bytes | None:
        """Answer ``body`` with the engine; None for a notification.

        The caller's identity, once its own call established it, goes with the call: a
        handler calling another service of its process calls as the one who called it. So
        does its correlation id, and its deadline: the call's work is cancelled once it
        passes.

        Raises:
            DeadlineExceededError: the deadline passed before the call was made, or while
                it ran.
        """
        left = budget(self.timeout, self.url)
        context = contextvars.Context()
        caller = current_call()
        if caller is not None and caller.identity is not None:
            context.run(enter, CallContext(LOCAL_REQUEST, caller.identity))
        correlation = current_log_context().get("correlation_id")
        if correlation is not None:
            context.run(set_log_context, {"correlation_id": correlation})
        if left is None:
            answer = await asyncio.create_task(self.engine.handle(body), context=context)
        else:
            context.run(set_deadline, time.monotonic() + left)
            task = asyncio.create_task(self.engine.handle(body), context=context)
            try:
                async with asyncio.timeout(left):
                    answer = await task  # cancelled with it when the time runs out
            except TimeoutError:
                raise _late(self.url, left, self.timeout) from None
        return None if notification else answer

    async def aclose(self) -> None:
        """Nothing to release."""

    def __repr__(self) -> str:
        return f"LocalTransport({self.url!r})"


class BrokerTransport:
    """Carries request bodies to a service over a broker: broker RPC, request and reply.

    One instance of the service answers each request, with the very engine HTTP would hand
    the body to. A notification is a request too, whose empty answer is dropped: the broker
    says whether some instance took it. A token goes in the request's ``authorization``
    header, as over HTTP.

    Args:
        broker: the broker the service answers on.
        service: the service's name.
        timeout: seconds to wait for the answer.
    """

    def __init__(self, broker: Broker, service: str, *, timeout: float = 10.0) -> None:
        self.broker = broker
        self.service = service
        self.timeout = timeout
        self.url = f"{broker.describe()} ({service})"

    async def exchange(
        self, body: bytes, *, notification: bool, token: str | None = None
    ) -> bytes | None:
        """Ask one instance of the service; its answer's body, None for a notification.

        ``token``, when given, goes as ``authorization: Bearer``.

        Raises:
            DeadlineExceededError: no instance answered within the timeout, or what was left
                of the caller's deadline.
            RemoteUnavailableError: none serves, or the broker is out of reach.
        """
        left = budget(self.timeout, self.url)
        assert left is not None  # noqa: S101 - a broker transport has a timeout
        span = current_span()
        if span is not None:  # traces on: the call is a span of its own, its context sent
            span = span.child(
                f"{self.service} request",
                "client",
                {
                    "rpc.system": "jsonrpc",
                    "rpc.service": self.service,
                    "messaging.system": self.broker.describe().partition(":")[0],
                    "messaging.destination.name": self.service,
                    "messaging.operation.type": "send",
                },
                current=False,
            )
        headers = _carried(token, span, left)
        try:
            answer = await self.broker.request(self.service, body, left, headers)
        except DeadlineExceededError as error:
            if span is not None:
                span.fail(error)
            # The broker's word for it, told as a call over HTTP whose time runs out is.
            raise _late(self.url, left, self.timeout) from None
        except BrokerUnavailableError as error:
            if span is not None:
                span.fail(error)
            raise RemoteUnavailableError(
                f"cannot call {self.service!r}: {error}; the call was not sent"
            ) from error
        finally:
            if span is not None:
                span.end()
        return None if notification or not answer else answer

    async def aclose(self) -> None:
        """Nothing to release: the broker's connection is the process's."""

    def __repr__(self) -> str:
        return f"BrokerTransport({self.url!r})"


class _Http(Generic[T]):
    """What both HTTP transports hold: the endpoint, the timeout and an httpx client."""

    def __init__(self, url: str, *, timeout: float = 10.0, client: T | None = None) -> None:
        self._target = rpc_url(url)
        self.url = masked(self._target)
        self.timeout = timeout
        self._client = client
        self._owned = client is None
        parts = urllib.parse.urlsplit(self._target)
        self._attributes: dict[str, Attribute] = {
            "http.request.method": "POST",
            "url.full": self.url,
            "server.address": parts.hostname or "",
            "server.port": parts.port or (443 if parts.scheme == "https" else 80),
            "rpc.system": "jsonrpc",
        }
        """A call's span's attributes (with traces on)."""

    def _release(self) -> T | None:
        """The client to close, if owned; the next exchange makes a new one."""
        if not self._owned:
            return None
        client, self._client = self._client, None
        return client

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.url!r})"


class HttpTransport(_Http["httpx.AsyncClient"]):
    """Posts request bodies to a JSON-RPC endpoint over HTTP, on pooled connections.

    Args:
        url: the endpoint, such as ``http://127.0.0.1:8000/rpc`` (``/rpc`` when no path).
        timeout: seconds for each of connecting, sending, and waiting for the answer.
        client: the ``httpx.AsyncClient`` to post with, which its owner closes; by default
            one is made at the first call and closed by :meth:`aclose`.

    Raises:
        ConfigError: ``url`` is not an http(s) URL.
    """

    async def exchange(
        self, body: bytes, *, notification: bool, token: str | None = None
    ) -> bytes | None:
        """Post ``body``; return the answer's body, or None for 204 or a notification.

        ``token``, when given, goes as ``Authorization: Bearer``.
        """
        import httpx  # noqa: PLC0415 - loaded by the first call, not by `import atoll` (~100 ms)

        left = budget(self.timeout, self.url)
        assert left is not None  # noqa: S101 - an HTTP transport has a timeout
        if self._client is None:
            self._client = httpx.AsyncClient()
        span = current_span()
        if span is not None:  # traces on: the call is a span of its own, its context sent
            span = span.child("POST", "client", self._attributes, current=False)
        headers = {**_HEADERS, **_carried(token, span, left)}
        try:
            async with asyncio.timeout(left):  # the whole call, each step within it
                answer = await self._client.post(
                    self._target, content=body, headers=headers, timeout=left
                )
        except TimeoutError as error:
            if span is not None:
                span.fail(error)
            raise _late(self.url, left, self.timeout) from None
        except httpx.TransportError as error:
            if span is not None:
                span.fail(error)
            raise _unavailable(error, self.url, left, self.timeout) from error
        else:
            if span is not None:
                span.set("http.response.status_code", answer.status_code)
        finally:
            if span is not None:
                span.end()
        return _content(answer, self.url, notification=notification)

    async def aclose(self) -> None:
        """Close the connections, unless the client was given."""
        client = self._release()
        if client is not None:
            await client.aclose()


class SyncHttpTransport(_Http["httpx.Client"]):
    """:class:`HttpTransport`, blocking: it posts with an ``httpx.Client``.

    Args:
        url: the endpoint, as :class:`HttpTransport` takes it.
        timeout: seconds for each of connecting, sending, and waiting for the answer.
        client: the ``httpx.Client`` to post with, which its owner closes.
        token: sent with every call as ``Authorization: Bearer``; never shown.
    """

    def __init__(
        self,
        url: str,
        *,
        timeout: float = 10.0,
        client: httpx.Client | None = None,
        token: str | None = None,
    ) -> None:
        super().__init__(url, timeout=timeout, client=client)
        self._token = token

    def exchange(self, body: bytes, *, notification: bool) -> bytes | None:
        """Post ``body``; return the answer's body, or None for 204 or a notification."""
        import httpx  # noqa: PLC0415 - loaded by the first call, not by `import atoll` (~100 ms)

        if self._client is None:
            self._client = httpx.Client()
        span = current_span()
        if span is not None:
            span = span.child("POST", "client", self._attributes, current=False)
        try:
            carried = _carried(self._token, span)
            answer = self._client.post(
                self._target,
                content=body,
                headers={**_HEADERS, **carried} if carried else _HEADERS,
                timeout=self.timeout,
            )
        except httpx.TransportError as error:
            if span is not None:
                span.fail(error)
            raise _unavailable(error, self.url, self.timeout, self.timeout) from error
        finally:
            if span is not None:
                span.end()
        return _content(answer, self.url, notification=notification)

    def close(self) -> None:
        """Close the connections, unless the client was given."""
        client = self._release()
        if client is not None:
            client.close()


def _carried(
    token: str | None, span: Span | None = None, left: float | None = None
) -> dict[str, str]:
    """The headers a call carries from its caller: the bearer token, the correlation id.

    With traces on, the call's ``span`` too: its ``traceparent`` and ``tracestate``; with
    ``left``, the seconds the call may take, as its deadline (``X-Timeout-Ms``).
    """
    headers: dict[str, str] = {}
    if span is not None:
        span.carry(headers)
    if token is not None:
        headers["authorization"] = f"Bearer {token}"
    correlation = current_log_context().get("correlation_id")
    if correlation is not None:
        headers[REQUEST_ID] = correlation
    if left is not None:
        headers[TIMEOUT_HEADER] = deadline_header(left)
    return headers


def _content(response: httpx.Response, url: str, *, notification: bool) -> bytes | None:
    status = response.status_code
    if status in _GATEWAY_DOWN:
        raise RemoteUnavailableError(
            f"{url} answered HTTP {status}: the service behind it did not answer; check that "
            "it runs, then try again"
        )
    if status not in {200, 204}:
        data = {"status": status, "body": response.text[:BODY_SHOWN]}
        raise RemoteError(INTERNAL_ERROR, f"HTTP {status} from {url}", data)
    return None if notification or not response.content else response.content


_LATE_BY = 0.005
"""Seconds within which a call given less than its timeout had its timeout: the deadline a
client sets from its timeout, a moment before the transport reads it."""


def _late(url: str, left: float, timeout: float | None) -> DeadlineExceededError:
    """The error of a call to ``url`` that had ``left`` seconds, its ``timeout`` or less."""
    if timeout is not None and left >= timeout - _LATE_BY:
        return DeadlineExceededError(
            f"no answer from {url} within {timeout:g} s; the call may have run; check that "
            "the service is healthy, or give it more time with a larger timeout"
        )
    return DeadlineExceededError(
        f"no answer from {url} within {left:.3g} s, what was left of its caller's deadline; "
        "the call may have run, and its work was stopped"
    )


def _unavailable(error: Exception, url: str, left: float, timeout: float) -> RemoteUnavailableError:
    import httpx  # noqa: PLC0415 - loaded already by the call that failed

    if isinstance(error, httpx.ConnectTimeout):
        why = f"no connection within {left:g} s; check the host and port in the URL"
    elif isinstance(error, httpx.ConnectError):
        why = _connect_failure(error)
    elif isinstance(error, httpx.TimeoutException):
        return _late(url, left, timeout)
    else:
        return RemoteUnavailableError(
            f"the connection to {url} failed ({type(error).__name__}: {error}); the call may "
            "have run; check that the service is healthy"
        )
    return RemoteUnavailableError(f"cannot reach {url}: {why}")


def _connect_failure(error: BaseException) -> str:
    """Why a connection failed, from the innermost OS error the HTTP stack wrapped."""
    cause: BaseException | None = error
    reason: OSError | None = None
    while cause is not None:
        if isinstance(cause, BaseExceptionGroup):  # one error per address tried
            cause = cause.exceptions[0]
        if isinstance(cause, OSError):
            reason = cause
        cause = cause.__cause__ or cause.__context__
    if isinstance(reason, ConnectionRefusedError):
        return "connection refused; check that the service runs there"
    if isinstance(reason, socket.gaierror):
        return f"the host name does not resolve ({reason.strerror}); check the host in the URL"
    shown = (reason.strerror or str(reason)) if reason is not None else str(error)
    return f"{shown}; check the host and port, and that the service runs there"
