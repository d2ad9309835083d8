"""The request: what an endpoint reads from an ASGI HTTP connection, read only when asked.

A :class:`Request` wraps the ``scope`` and ``receive`` channel of one HTTP request. Nothing is
parsed when it is made: the query string, the header dictionary and the body are each read the
first time they are asked for, because most endpoints need only one of them and this object is
made for every request.

Reading the body enforces a size limit (:meth:`Request.body`) before anything is buffered:
a ``Content-Length`` above the limit is refused without reading a byte, a body without one is
refused as soon as it grows past the limit, and a ``Content-Length`` the body does not keep is
a client error. A client that goes away mid-body raises :class:`ClientDisconnectedError`: there
is nobody left to answer.
"""

from __future__ import annotations

import asyncio
import types
from typing import TYPE_CHECKING, Any, NoReturn
from urllib.parse import parse_qs

from atoll.endpoints.http.problems import HTTPError
from atoll.messaging.context import Headers
from atoll.messaging.context import Request as CallRequest
from atoll.resilience.deadlines import TIMEOUT_HEADER, seconds_of

if TYPE_CHECKING:
    from collections.abc import Awaitable, Coroutine, Generator, Iterable

    from atoll.endpoints.http.types import Receive, Scope
    from atoll.messaging.context import Transport

__all__ = [
    "ClientDisconnectedError",
    "Deadline",
    "Request",
    "call_request",
    "require_json",
    "route_path",
]

_CLOSE = ((b"connection", b"close"),)
# An unread body stays in the connection: closing it is the only safe way to be rid of it.
_TIMEOUT = TIMEOUT_HEADER.encode()
_COMMON_TYPES = {
    b"application/json": "application/json",
    b"application/json; charset=utf-8": "application/json",
    b"application/json;charset=utf-8": "application/json",
}
# The Content-Type values nearly every JSON client sends, parsed once: read on every POST.


class ClientDisconnectedError(Exception):
    """The client went away before its request was read; no response can be sent.

    Like :class:`~atoll.endpoints.http.problems.HTTPError`, a control-flow signal of the HTTP layer
    rather than an :class:`~atoll.errors.AtollError`: the app stops handling the request and
    answers nothing.
    """


def route_path(scope: Scope) -> str:
    """The request's path below the application's mount point, which routes are matched on.

    ASGI servers put the whole request target in ``path`` and where the application is mounted
    in ``root_path`` (``--root-path /api``, or a :class:`~atoll.endpoints.http.mount.Mount`), so
    ``/api/runs/1`` under ``/api`` is routed as ``/runs/1``. A ``path`` outside ``root_path``
    (an older server that strips it itself) is used as it is.
    """
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    if root and path.startswith(root):
        rest = path[len(root) :]
        if not rest:
            return "/"
        if rest[0] == "/":
            return rest
    return path


class Request:
    """One HTTP request, read lazily from its ASGI ``scope`` and ``receive`` channel.

    Args:
        scope: the connection scope of an ``http`` request.
        receive: the channel its body arrives on.
    """

    __slots__ = (
        "_body",
        "_headers",
        "_length",
        "_query",
        "_scanned",
        "_timeout",
        "_type",
        "receive",
        "scope",
    )

    def __init__(self, scope: Scope, receive: Receive) -> None:
        self.scope = scope
        self.receive = receive
        self._query: dict[str, list[str]] | None = None
        self._headers: dict[str, str] | None = None
        self._body: bytes | None = None
        self._scanned = False
        self._type: bytes | None = None
        self._length: bytes | None = None
        self._timeout: bytes | None = None

    def _scan(self) -> None:
        """Find Content-Type, Content-Length and X-Timeout-Ms in one pass.

        Every body read needs the first two; a JSON-RPC call, the third, its deadline.
        """
        headers: Iterable[tuple[bytes, bytes]] = self.scope["headers"]
        for key, value in headers:
            if key == b"content-type":
                if self._type is None:
                    self._type = value
            elif key == b"content-length":
                if self._length is None:
                    self._length = value
            elif key == _TIMEOUT and self._timeout is None:
                self._timeout = value
        self._scanned = True

    @property
    def method(self) -> str:
        """The method, upper-case (``"GET"``)."""
        method: str = self.scope["method"]
        return method

    @property
    def path(self) -> str:
        """The path the client asked for, percent-decoded, without the query string."""
        path: str = self.scope["path"]
        return path

    @property
    def query(self) -> dict[str, list[str]]:
        """The query parameters, each name with all its values in order (``?a=1&a=2&b=``).

        Parsed on first use like :func:`urllib.parse.parse_qs` with blank values kept, so
        ``?b=`` gives ``{"b": [""]}``.
        """
        if self._query is None:
            raw: bytes = self.scope.get("query_string", b"")
            self._query = parse_qs(raw.decode("latin-1"), keep_blank_values=True) if raw else {}
        return self._query

    @property
    def headers(self) -> dict[str, str]:
        """The headers as a dictionary of lower-case names; of repeated headers, the last wins.

        Built on first use; to read one header, :meth:`header` is cheaper.
        """
        if self._headers is None:
            self._headers = {
                name.decode("latin-1").lower(): value.decode("latin-1")
                for name, value in self.scope["headers"]
            }
        return self._headers

    def header(self, name: bytes) -> bytes | None:
        """The raw value of the first header called ``name``, or ``None``.

        Args:
            name: the header's name in lower case (``b"content-type"``), as ASGI servers send
                them.
        """
        headers: Iterable[tuple[bytes, bytes]] = self.scope["headers"]
        for key, value in headers:
            if key == name:
                return value
        return None

    @property
    def content_type(self) -> str:
        """The media type of the body, lower-case and without parameters; ``""`` if not given.

        ``Content-Type: Application/JSON; charset=utf-8`` gives ``"application/json"``.
        """
        if not self._scanned:
            self._scan()
        value = self._type
        if value is None:
            return ""
        known = _COMMON_TYPES.get(value)
        if known is not None:
            return known
        return value.partition(b";")[0].strip().decode("latin-1").lower()

    @property
    def timeout(self) -> float | None:
        """The seconds the caller still waits, from ``X-Timeout-Ms``: the request's deadline.

        None without the header, or with a value that is not whole milliseconds.
        """
        if not self._scanned:
            self._scan()
        value = self._timeout
        return None if value is None else seconds_of(value)

    async def body(self, limit: int, within: float = 30.0) -> bytes:
        """The whole body, read once (later calls return it again).

        A read the server answers at once (the usual one: the whole body arrived with the
        headers) costs no timer: the read is stepped once, and only a read that waits for the
        network waits under the deadline, ``within`` seconds from then for the whole body.
        A timer per read (``asyncio.timeout``) cost a request with a body 15% more CPU
        instructions.

        Args:
            limit: the most bytes accepted.
            within: the most seconds the body may take to arrive whole.

        Raises:
            HTTPError: 413 when the body is larger than ``limit`` (a ``Content-Length`` that
                announces it is refused before reading); 400 when ``Content-Length`` is not a
                number or the body does not have the length it announced; 408 when it has not
                arrived whole ``within`` seconds, the connection then closed.
            ClientDisconnectedError: the client went away before the end of the body.
        """
        if self._body is not None:
            return self._body
        declared = self._declared_length(limit)
        answered, got = _stepped(self.receive())
        deadline = None if answered else Deadline(within)
        message: dict[str, Any] = got if deadline is None else await deadline.wait(got)
        chunk: bytes = message.get("body", b"")
        if (
            len(chunk) == declared
            and message["type"] == "http.request"
            and not message.get("more_body", False)
        ):  # the usual request: the whole body in one message, of the length announced
            self._body = chunk
            return chunk
        if message["type"] == "http.disconnect":
            raise ClientDisconnectedError("the client disconnected before sending its body")
        size = len(chunk)
        if size > limit or (declared is not None and size > declared):
            self._refuse_excess(size, limit, declared)
        if not message.get("more_body", False):
            body = chunk
        else:
            body = await self._rest(chunk, limit, declared, deadline or Deadline(within))
        if declared is not None and len(body) < declared:
            raise HTTPError(
                400,
                f"body shorter than Content-Length: {len(body)} bytes arrived of the "
                f"{declared} announced; send the length of the body you send",
            )
        self._body = body
        return body

    def _declared_length(self, limit: int) -> int | None:
        if not self._scanned:
            self._scan()
        raw = self._length
        if raw is None:
            return None
        # int() would also take "+5", " 5" and "5_000": a length is ASCII digits and no more.
        if not (raw.isdigit() and raw.isascii()):
            raise HTTPError(
                400,
                f"Content-Length {raw.decode('latin-1')!r} is not a number of bytes; "
                "send the body's length in decimal digits",
            )
        declared = int(raw)
        if declared > limit:
            raise HTTPError(
                413,
                f"the body is {declared} bytes (by its Content-Length); the server accepts at "
                f"most {limit} bytes; raise --server-max-body to allow more",
                headers=_CLOSE,
            )
        return declared

    async def _rest(
        self, first: bytes, limit: int, declared: int | None, deadline: Deadline
    ) -> bytes:
        chunks = [first]
        size = len(first)
        more = True
        while more:
            message = await deadline.wait(self.receive())
            if message["type"] == "http.disconnect":
                raise ClientDisconnectedError(
                    f"the client disconnected after sending {size} bytes of its body"
                )
            chunk: bytes = message.get("body", b"")
            size += len(chunk)
            if size > limit or (declared is not None and size > declared):
                self._refuse_excess(size, limit, declared)
            chunks.append(chunk)
            more = message.get("more_body", False)
        return b"".join(chunks)

    @staticmethod
    def _refuse_excess(size: int, limit: int, declared: int | None) -> NoReturn:
        if size > limit:
            raise HTTPError(
                413,
                f"the body is more than {limit} bytes; the server accepts at most {limit} "
                "bytes; raise --server-max-body to allow more",
                headers=_CLOSE,
            )
        raise HTTPError(
            400,
            f"body longer than Content-Length: more than the {declared} bytes announced "
            "arrived; send the length of the body you send",
            headers=_CLOSE,
        )


def require_json(request: Request) -> None:
    """Refuse a request whose body is not JSON.

    The media type must be ``application/json`` or a JSON-based one (``application/*+json``,
    such as ``application/merge-patch+json``). A request without a ``Content-Type`` passes
    only if it announces no body (no ``Content-Length`` or ``Content-Length: 0``, and no
    ``Transfer-Encoding``).

    Raises:
        HTTPError: 415, naming the media type found and the one expected.
    """
    found = request.content_type
    if found:
        if found == "application/json" or (
            found.startswith("application/") and found.endswith("+json")
        ):
            return
        what = f"Content-Type {found}"
    elif _announces_body(request):
        what = "no Content-Type"
    else:
        return
    raise HTTPError(
        415,
        f"the body has {what}; send it as application/json (or an application/*+json type)",
        headers=((b"accept", b"application/json"),),
    )


def _announces_body(request: Request) -> bool:
    length = request.header(b"content-length")  # the rare path: a body without a type
    if length is not None:
        return length.strip(b"0") != b""
    return request.header(b"transfer-encoding") is not None


def call_request(request: Request, transport: Transport) -> CallRequest:
    """What a handler asking for :class:`atoll.Request` sees of ``request``."""
    scope = request.scope
    client = scope.get("client")
    return CallRequest(
        transport,
        method=request.method,
        path=request.path,
        headers=Headers.of_http(scope["headers"]),
        query=request.query,
        client=(client[0], client[1]) if client else None,
        scheme=scope.get("scheme", "http"),
    )


class Deadline:
    """When a body must have arrived whole: ``seconds`` from its making, on the loop's clock.

    Made at the body's first read that waits for the network.
    """

    __slots__ = ("at", "seconds")

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.at = asyncio.get_running_loop().time() + seconds

    async def wait(self, reading: Awaitable[Any]) -> Any:
        """What ``reading`` (a read of the body) gives, if it does by the deadline.

        Raises:
            HTTPError: 408, the deadline has passed; the connection is closed, since what
                the client sends next is the body's rest.
        """
        try:
            async with asyncio.timeout_at(self.at):
                return await reading
        except TimeoutError:
            raise HTTPError(
                408,
                f"the body did not arrive within {self.seconds:g} s (--server-body-timeout)",
                headers=_CLOSE,
            ) from None


def _stepped(reading: Awaitable[Any]) -> tuple[bool, Any]:
    """``(True, message)`` when ``reading`` gives it without waiting; else ``(False, rest)``.

    A coroutine is stepped once: one that returns at once costs no timer; one that waits is
    given back as an awaitable that resumes it where it waits. Another awaitable is given
    back as it is.
    """
    if type(reading) is not types.CoroutineType:
        return False, reading
    try:
        waits_for = reading.send(None)
    except StopIteration as read:
        return True, read.value
    return False, _Resumed(reading, waits_for)


class _Resumed:
    """A coroutine stepped once already, awaited from where it waits (PEP 380's ``yield from``).

    ``waits_for`` is what its first step yielded (the future it waits on); awaiting this
    yields it to the task, then sends what the task sends, and throws what the task throws
    (a cancellation), into the coroutine until it returns.
    """

    __slots__ = ("_coroutine", "_waits_for")

    def __init__(self, coroutine: Coroutine[Any, Any, Any], waits_for: Any) -> None:
        self._coroutine = coroutine
        self._waits_for = waits_for

    def __await__(self) -> Generator[Any, Any, Any]:
        coroutine, waits_for = self._coroutine, self._waits_for
        while True:
            try:
                sent = yield waits_for
            except GeneratorExit:
                coroutine.close()
                raise
            except BaseException as error:  # noqa: BLE001 - thrown in: the coroutine's to handle
                try:
                    waits_for = coroutine.throw(error)
                except StopIteration as done:
                    return done.value
            else:
                try:
                    waits_for = coroutine.send(sent)
                except StopIteration as done:
                    return done.value
