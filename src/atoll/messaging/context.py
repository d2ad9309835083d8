"""The call in progress as its transport knows it: the request it came in, the response it makes.

A handler asks for either by type, like any dependency::

    @service.get("/runs/{run_id}")
    async def get_run(run_id: int, request: atoll.Request, response: atoll.Response) -> Run:
        if "gzip" in request.headers.get("accept-encoding", ""):
            ...
        response.headers["cache-control"] = "max-age=60"

Every transport gives the same two types, filled with what it has:

- REST (``transport == "http"``) and JSON-RPC over HTTP (``"jsonrpc"``): the HTTP request's
  method, path, headers, cookies, query, client address and scheme. A REST handler's
  :class:`Response` sets the status, headers and cookies of the answer; a JSON-RPC method's
  sets headers and cookies of the HTTP response that carries it (its status stays 200, as the
  specification asks), a batch's members' merged in order.
- A command or event delivered by a broker (``"broker"``): the message's headers; a broker RPC
  call (``"broker"``): the headers the request carried (its caller's ``authorization``). A
  :class:`Response` there is made and ignored.
- A call in the process (``"local"``: the bus, a test, an in-process client): empty.

The transport sets the call in progress in a :class:`~contextvars.ContextVar` only for the
endpoints whose handlers ask for either type (directly, or through a provider they use): a
handler that asks for neither pays nothing. Events a handler raises are handled in its
context, after it: their handlers see the same request.
"""

from __future__ import annotations

import contextvars
import datetime as dt
from collections.abc import Iterable, Iterator, Mapping
from http.cookies import Morsel
from typing import Any, Literal, Protocol

from atoll.messaging.envelope import Delivery  # noqa: TC001 - the container reads the hint

__all__ = [
    "IDEMPOTENCY_KEY",
    "CallContext",
    "Caller",
    "Headers",
    "Request",
    "Response",
    "checked_status",
    "current_call",
    "enter",
    "leave",
]

Transport = Literal["http", "jsonrpc", "graphql", "broker", "local"]

_FORBIDDEN = frozenset("\r\n\x00")
_NOT_IN_COOKIES = frozenset('",;\\')
_COMPUTED = frozenset({"content-length", "transfer-encoding", "set-cookie"})
"""Headers a handler may not set itself: atoll computes the first two, and set_cookie the last."""


class Headers(Mapping[str, str]):
    """Read-only headers, their names in any case; a repeated one joined with ``", "``.

    ``headers["Accept"]`` and ``headers["accept"]`` are the same; :meth:`getlist` gives each
    value of a repeated header apart.
    """

    __slots__ = ("_joined", "_pairs", "_raw")
    _joined: dict[str, str] | None
    _pairs: list[tuple[str, str]]
    _raw: Iterable[tuple[bytes, bytes]] | None

    def __init__(self, pairs: Iterable[tuple[str, str]] = ()) -> None:
        self._raw = None
        self._pairs = [(name.lower(), value) for name, value in pairs]
        self._joined = self._join()

    @classmethod
    def of_http(cls, raw: Iterable[tuple[bytes, bytes]]) -> Headers:
        """The headers of an ASGI scope, decoded (as Latin-1) when first read.

        A handler that reads no header, and a call judged by the client's address alone (a
        rate limit per ip), never pay for decoding them.
        """
        headers = cls.__new__(cls)
        headers._raw = raw  # noqa: SLF001 - made here, decoded by _load
        headers._pairs = []  # noqa: SLF001
        headers._joined = None  # noqa: SLF001
        return headers

    def _join(self) -> dict[str, str]:
        joined: dict[str, str] = {}
        for name, value in self._pairs:
            joined[name] = f"{joined[name]}, {value}" if name in joined else value
        return joined

    def _load(self) -> dict[str, str]:
        if self._joined is None:
            raw = self._raw or ()
            self._pairs = [
                (name.decode("latin-1").lower(), value.decode("latin-1")) for name, value in raw
            ]
            self._joined = self._join()
        return self._joined

    def __getitem__(self, name: str) -> str:
        return self._load()[name.lower()]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._load()

    def __iter__(self) -> Iterator[str]:
        return iter(self._load())

    def __len__(self) -> int:
        return len(self._load())

    def getlist(self, name: str) -> list[str]:
        """Every value of the header ``name``, in the order they came; ``[]`` without one."""
        self._load()
        wanted = name.lower()
        return [value for key, value in self._pairs if key == wanted]

    def __repr__(self) -> str:
        self._load()
        return f"Headers({self._pairs!r})"


_NO_HEADERS = Headers()


class Request:
    """The request a handler is answering, as its transport has it.

    Attributes:
        transport: ``"http"`` (REST), ``"jsonrpc"`` (JSON-RPC over HTTP), ``"graphql"``
            (GraphQL over HTTP or a WebSocket), ``"broker"`` (a delivered command or event,
            or broker RPC) or ``"local"`` (in the process).
        method: the HTTP method (``"POST"``); ``""`` off HTTP.
        path: the HTTP path, percent-decoded, without the query string; ``""`` off HTTP.
        headers: the HTTP headers, a delivered message's, or a broker RPC request's.
        query: each query-string parameter's values, in order.
        client: the client's address and port, when the server knows them.
        scheme: ``"http"`` or ``"https"``; ``""`` off HTTP.
    """

    __slots__ = ("_cookies", "client", "headers", "method", "path", "query", "scheme", "transport")

    def __init__(
        self,
        transport: Transport,
        *,
        method: str = "",
        path: str = "",
        headers: Headers = _NO_HEADERS,
        query: Mapping[str, list[str]] | None = None,
        client: tuple[str, int] | None = None,
        scheme: str = "",
    ) -> None:
        self.transport: Transport = transport
        self.method = method
        self.path = path
        self.headers = headers
        self.query: Mapping[str, list[str]] = query if query is not None else {}
        self.client = client
        self.scheme = scheme
        self._cookies: dict[str, str] | None = None

    @property
    def cookies(self) -> Mapping[str, str]:
        """The cookies the client sent (``Cookie`` headers), by name; the first of a name wins.

        Read as browsers send them: ``name=value`` pairs split on ``;``, a value in double
        quotes unquoted; a pair without ``=`` is skipped.
        """
        if self._cookies is None:
            cookies: dict[str, str] = {}
            for header in self.headers.getlist("cookie"):
                for pair in header.split(";"):
                    name, equals, value = pair.partition("=")
                    name, value = name.strip(), value.strip()
                    if not equals or not name:
                        continue
                    if len(value) > 1 and value[0] == value[-1] == '"':
                        value = value[1:-1]
                    cookies.setdefault(name, value)
            self._cookies = cookies
        return self._cookies

    def __repr__(self) -> str:
        where = f" {self.method} {self.path}" if self.method else ""
        return f"<Request {self.transport}{where}>"


LOCAL_REQUEST = Request("local")
"""What a call in the process sees: no transport, nothing sent."""

BROKER_REQUEST = Request("broker")
"""What a broker RPC call sent without headers sees."""


class Response:
    """What a handler adds to the answer: its status, headers and cookies.

    Attributes:
        status_code: the HTTP status of a REST answer; ``None`` keeps the route's (or 204 for
            a handler returning ``None``). Ignored elsewhere.
        headers: headers to send, by name. ``Content-Length``, ``Transfer-Encoding`` and
            ``Set-Cookie`` are atoll's to send (use :meth:`set_cookie` for the last).
        cookies: the ``Set-Cookie`` values :meth:`set_cookie` and :meth:`delete_cookie` made.
    """

    __slots__ = ("cookies", "headers", "status_code")

    def __init__(self) -> None:
        self.status_code: int | None = None
        self.headers: dict[str, str] = {}
        self.cookies: list[str] = []

    def set_cookie(
        self,
        name: str,
        value: str,
        *,
        max_age: int | None = None,
        expires: dt.datetime | None = None,
        path: str = "/",
        domain: str | None = None,
        secure: bool = True,
        httponly: bool = True,
        samesite: Literal["lax", "strict", "none"] = "lax",
    ) -> None:
        """Send the cookie ``name``; by default ``Secure``, ``HttpOnly`` and ``SameSite=Lax``.

        Browsers keep ``Secure`` cookies from ``http://localhost`` too. ``samesite="none"``
        needs ``secure=True``, as browsers do.

        Raises:
            ValueError: the name or value cannot be sent in a cookie, or ``SameSite=None``
                without ``Secure``.
        """
        if samesite == "none" and not secure:
            raise ValueError(f"cookie {name!r}: samesite='none' needs secure=True")
        morsel: Morsel[str] = Morsel()
        try:
            morsel.set(name, value, _cookie_value(value))
        except Exception as error:  # noqa: BLE001 - http.cookies raises CookieError for a bad name
            raise ValueError(f"cannot send a cookie named {name!r}: {error}") from None
        morsel["path"] = path
        if max_age is not None:
            morsel["max-age"] = str(max_age)
        if expires is not None:
            utc = expires.astimezone(dt.UTC) if expires.tzinfo else expires
            morsel["expires"] = utc.strftime("%a, %d %b %Y %H:%M:%S GMT")
        if domain is not None:
            morsel["domain"] = domain
        morsel["secure"] = secure
        morsel["httponly"] = httponly
        morsel["samesite"] = samesite.capitalize()
        self.cookies.append(morsel.OutputString())

    def delete_cookie(self, name: str, *, path: str = "/", domain: str | None = None) -> None:
        """Ask the client to forget the cookie ``name`` (set where ``path`` and ``domain`` say)."""
        self.set_cookie(name, "", max_age=0, path=path, domain=domain)

    def header_pairs(self) -> list[tuple[bytes, bytes]]:
        """The headers and cookies as an ASGI app sends them.

        Raises:
            ValueError: a header name or value holds a line break or a NUL (it would split
                the response), or names a header atoll sends itself.
        """
        pairs: list[tuple[bytes, bytes]] = []
        for name, value in self.headers.items():
            lowered = name.lower()
            if lowered in _COMPUTED:
                raise ValueError(
                    f"a handler cannot set the header {name!r}: atoll sends it"
                    + (" (use response.set_cookie)" if lowered == "set-cookie" else "")
                )
            if _FORBIDDEN.intersection(name) or _FORBIDDEN.intersection(value):
                raise ValueError(f"the header {name!r} holds a line break or a NUL")
            pairs.append((lowered.encode("latin-1"), value.encode("latin-1")))
        pairs.extend((b"set-cookie", cookie.encode("latin-1")) for cookie in self.cookies)
        return pairs

    def __repr__(self) -> str:
        return f"<Response status={self.status_code} headers={self.headers} cookies={self.cookies}>"


def checked_status(status: object) -> int:
    """``status`` as an HTTP status a handler may set: an int from 200 to 599.

    Raises:
        ValueError: anything else (1xx statuses never reach an ASGI app's response).
    """
    if type(status) is not int or not 200 <= status <= 599:  # noqa: PLR2004 - the status classes
        raise ValueError(f"response.status_code must be an int from 200 to 599; got {status!r}")
    return status


def _cookie_value(value: str) -> str:
    """``value`` if a cookie can carry it as it is (RFC 6265, 4.1.1: ``cookie-octet``s).

    Quoting does not help: a browser ends the value at a ``;`` even inside quotes.

    Raises:
        ValueError: a space, a quote, a comma, a semicolon, a backslash, a control or a
            non-ASCII character.
    """
    for char in value:
        if not ("\x21" <= char <= "\x7e") or char in _NOT_IN_COOKIES:
            raise ValueError(
                f"a cookie value cannot hold {char!r} (nor spaces, quotes, commas, semicolons, "
                "backslashes, controls or non-ASCII characters); encode it first, with "
                "base64.urlsafe_b64encode or urllib.parse.quote"
            )
    return value


class Caller(Protocol):
    """Who is calling, as this layer knows it: ``atoll.Identity`` is one."""

    @property
    def kind(self) -> str:
        """``"user"``, ``"service"`` or ``"anonymous"``."""
        ...

    @property
    def subject(self) -> str:
        """Who: ``""`` when anonymous."""
        ...


class CallContext:
    """The call in progress: the request, and the responses its handlers asked for.

    A transport makes one per request it serves (only when a handler it calls may ask for
    :class:`Request` or :class:`Response`) and sets it with :func:`entered`; the providers of
    both types read it.
    """

    __slots__ = ("identity", "request", "responses")

    def __init__(self, request: Request, identity: Caller | None = None) -> None:
        self.request = request
        self.responses: list[Response] = []
        self.identity = identity
        """Who is calling, once established (an ``atoll.Identity``); ``None`` until then."""

    def respond(self) -> Response:
        """A response for one handler call, kept for the transport to read after it."""
        response = Response()
        self.responses.append(response)
        return response


_CURRENT: contextvars.ContextVar[CallContext | None] = contextvars.ContextVar(
    "atoll_call", default=None
)

IDEMPOTENCY_KEY: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "atoll_idempotency_key", default=None
)
"""The idempotency key the call in progress carries: set by its transport (REST's
``Idempotency-Key`` header, JSON-RPC's ``idempotency_key`` member), read by the handler's
keyed call (``Authenticator.keyed``)."""

current_call = _CURRENT.get
"""The call in progress in this context, or ``None``."""

enter = _CURRENT.set
"""Set the call in progress; returns the token :func:`leave` takes."""

leave = _CURRENT.reset
"""Restore what was in progress before :func:`enter`."""


def request_of_call(delivery: Delivery) -> Request:
    """The provider of :class:`Request`: the transport's, the delivered message's, or local."""
    context = _CURRENT.get()
    if context is not None:
        return context.request
    if delivery.message_id is not None:
        return Request("broker", headers=Headers(_as_text(delivery.headers)))
    return LOCAL_REQUEST


def response_of_call() -> Response:
    """The provider of :class:`Response`: one the transport reads after the call, if any."""
    context = _CURRENT.get()
    return Response() if context is None else context.respond()


def _as_text(headers: Mapping[str, Any]) -> list[tuple[str, str]]:
    return [(name, str(value)) for name, value in headers.items()]
