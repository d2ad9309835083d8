"""The HTTP server component: listens while the application runs, stops first when it stops.

The server itself is an adapter chosen by configuration (``--server-impl uvicorn``, the
default, or ``granian``), loaded by name when the component starts, so that only the chosen
library is imported. The listening socket is bound here, before the server starts, so that a
port in use is reported at once with the address, and so that port 0 (any free port, for
tests) tells the port it got.
"""

from __future__ import annotations

import errno
import importlib
import ipaddress
import logging
import socket
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Protocol

from atoll.endpoints.json_limits import JsonLimits
from atoll.errors import LifecycleError
from atoll.kernel.options import option

if TYPE_CHECKING:
    from atoll.endpoints.http.types import ASGIApp

__all__ = ["HttpServer", "RunningServer", "ServerOptions", "listening_socket"]

logger = logging.getLogger("atoll.server")

MEBIBYTE = 1024 * 1024
MIN_JSON_DEPTH = 2
"""The shallowest nesting ``max_json_depth`` may allow: a JSON-RPC request and its params."""
MAX_JSON_DEPTH = 512
"""The deepest nesting ``max_json_depth`` may allow: a decoder recursing deeper meets the
interpreter's recursion limit (1000 frames, the server's own among them)."""
BACKLOG = 2048
"""Connections the kernel may hold accepted but not yet taken by the server."""


@dataclass(frozen=True)
class ServerOptions:
    """How the service is served over HTTP."""

    enabled: bool = option(
        default=True,
        alias="--server",
        help="serve HTTP; with --no-server no HTTP app is built and no port opened: the "
        "process serves broker RPC and consumes its messages only",
    )
    host: str = option("127.0.0.1", help="the address to listen on; 0.0.0.0 for every interface")
    port: int = option(8000, help="the TCP port to listen on; 0 for any free port")
    impl: Literal["uvicorn", "granian"] = option("uvicorn", help="the ASGI server that serves")
    max_body: int = option(MEBIBYTE, help="the largest request body accepted, in bytes")
    rpc_path: str = option("/rpc", help="the path of the JSON-RPC endpoint (also served at /api)")
    max_batch: int = option(
        100, help="the most calls one JSON-RPC batch may hold, over HTTP, the broker or in-process"
    )
    docs: bool = option(
        default=True, help="serve the API page /docs, /openapi.json and /asyncapi.json"
    )
    health: bool = option(default=True, help="serve /health/live and /health/ready")
    max_headers: int = option(100, help="the most header fields a request may have (431 past)")
    max_header_bytes: int = option(
        16384, help="the most bytes a request's header fields may hold together (431 past)"
    )
    max_query_params: int = option(
        256, help="the most query parameters a request may have (414 past)"
    )
    body_timeout: float = option(
        30.0, help="seconds a request's body may take to arrive, whole (408 past)"
    )
    max_json_depth: int = option(
        64,
        help="the most arrays and objects a JSON body may nest, REST (422 past) or JSON-RPC "
        "(-32700 past), on every transport",
    )
    max_string_length: int = option(
        65536,
        help="the most characters of a string a REST body or JSON-RPC params decode into, "
        "where a field's type sets no max_length of its own (422, -32602 past)",
    )
    max_array_length: int = option(
        10000,
        help="the most items of an array (or members of an object decoded as a dict) a REST "
        "body or JSON-RPC params decode into, where a type sets none (422, -32602 past)",
    )
    request_id_headers: list[str] = option(
        default_factory=lambda: ["x-request-id", "traceparent"],
        help="the request headers a correlation id is taken from, the first present (of a "
        "traceparent, its trace id); none: every request gets one made here. It is echoed in "
        "X-Request-ID and carried by every call, message and log line that follows",
    )
    max_in_flight: int = option(
        0,
        help="the most requests served at once; past them a request gets a fast 503 with "
        "Retry-After (JSON-RPC: -32019), the health checks excepted; 0: no bound",
    )
    trusted_proxies: list[str] = option(
        default_factory=list,
        help="the proxies whose X-Forwarded-For and Forwarded headers say who the client is: "
        "addresses or networks, 10.0.0.0/8,127.0.0.1; from anyone else they are ignored",
    )

    def __post_init__(self) -> None:
        self.proxies()
        if not 0 <= self.port <= 65535:  # noqa: PLR2004 - the TCP port range
            raise ValueError(f"port must be 0..65535, such as 8000; got {self.port}")
        if self.max_body < 1:
            raise ValueError(
                f"max_body must be at least 1 byte, such as 1048576; got {self.max_body}"
            )
        for name in (
            "max_headers",
            "max_header_bytes",
            "max_query_params",
            "max_string_length",
            "max_array_length",
        ):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1; got {getattr(self, name)}")
        if not self.body_timeout > 0:
            raise ValueError(
                f"body_timeout must be above 0 seconds, such as 30; got {self.body_timeout}"
            )
        if not MIN_JSON_DEPTH <= self.max_json_depth <= MAX_JSON_DEPTH:
            raise ValueError(
                f"max_json_depth must be {MIN_JSON_DEPTH}..{MAX_JSON_DEPTH}, such as 64; got "
                f"{self.max_json_depth}"
            )
        if self.max_in_flight < 0:
            raise ValueError(
                f"max_in_flight must be 0 (no bound) or more, such as 200; got {self.max_in_flight}"
            )
        if self.max_batch < 1:
            raise ValueError(f"max_batch must be at least 1, such as 100; got {self.max_batch}")
        if not self.rpc_path.startswith("/") or self.rpc_path.endswith("/"):
            raise ValueError(
                f"rpc_path must start with '/' and not end with one, such as /rpc; got "
                f"{self.rpc_path!r}"
            )

    def json_limits(self) -> JsonLimits:
        """What a JSON body may hold, as REST endpoints and JSON-RPC engines read it."""
        return JsonLimits(self.max_json_depth, self.max_string_length, self.max_array_length)

    def proxies(self) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
        """The networks of :attr:`trusted_proxies`.

        Raises:
            ValueError: an entry is no address nor network.
        """
        networks = []
        for entry in self.trusted_proxies:
            try:
                networks.append(ipaddress.ip_network(entry.strip(), strict=False))
            except ValueError:
                msg = (
                    f"trusted_proxies holds {entry!r}, which is no address nor network; "
                    "give addresses or CIDR networks, such as 10.0.0.0/8,127.0.0.1"
                )
                raise ValueError(msg) from None
        return tuple(networks)


class RunningServer(Protocol):
    """What a server adapter's ``serve`` returns: a server that stops when asked."""

    async def stop(self) -> None:
        """Stop accepting connections, finish the requests in flight, and return."""
        ...


class ServerAdapter(Protocol):
    """What an adapter module (``atoll.adapters.uvicorn``) offers."""

    async def serve(self, app: ASGIApp, sock: socket.socket) -> RunningServer:
        """Serve ``app`` on the bound socket ``sock`` until stopped."""
        ...


class HttpServer:
    """Serves an ASGI app on the configured address while the application runs.

    An entrypoint: it starts after every other component and stops before them, so that the
    requests in flight when it stops still find what their handlers use running.
    """

    atoll_entrypoint = True

    def __init__(self, app: ASGIApp, options: ServerOptions) -> None:
        self.app = app
        self.options = options
        self.port: int | None = None
        self._running: RunningServer | None = None

    async def start(self) -> None:
        """Bind the address and start serving.

        Raises:
            LifecycleError: the address cannot be listened on (in use, not available).
            MissingDependencyError: the chosen server's library is not installed.
        """
        adapter: ServerAdapter = importlib.import_module(f"atoll.adapters.{self.options.impl}")
        sock = listening_socket(self.options.host, self.options.port)
        self.port = sock.getsockname()[1]
        try:
            self._running = await adapter.serve(self.app, sock)
        except BaseException:
            sock.close()
            raise
        pages = f"JSON-RPC at {self.url}{self.options.rpc_path}"
        if self.options.docs:
            pages = f"API page at {self.url}/docs, {pages}"
        logger.info("serving on %s: %s", self.url, pages)

    async def stop(self) -> None:
        """Stop accepting connections and let the requests in flight finish."""
        if self._running is not None:
            running, self._running = self._running, None
            await running.stop()

    @property
    def url(self) -> str:
        """The base URL the server answers on, such as ``http://127.0.0.1:8000``."""
        host = self.options.host
        shown = "127.0.0.1" if host in {"0.0.0.0", ""} else host  # noqa: S104 - shown, not bound
        if ":" in shown:
            shown = f"[{shown}]"
        return f"http://{shown}:{self.port or self.options.port}"


def listening_socket(host: str, port: int, flag: str = "--server-port") -> socket.socket:
    """A listening TCP socket whose accepted connections send small answers at once.

    ``flag``: the option that chooses ``port``, named when the address is in use.

    The socket is made with its protocol named (``IPPROTO_TCP``): asyncio's own loop sets
    ``TCP_NODELAY`` only on connections whose protocol says TCP, and a socket made without
    one (``socket.create_server``'s) reports 0, so its answers waited for Nagle's algorithm
    and the client's delayed acknowledgement, about 40 ms each. ``TCP_NODELAY`` is also set on
    the listening socket, which Linux hands on to every connection it accepts.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind((host, port))
        sock.listen(BACKLOG)
    except OSError as error:
        sock.close()
        if error.errno == errno.EADDRINUSE:
            raise LifecycleError(
                f"cannot listen on {host}:{port}: the address is in use; stop what listens "
                f"there (`ss -ltnp 'sport = :{port}'` shows it) or choose another port with "
                f"{flag}"
            ) from error
        raise LifecycleError(
            f"cannot listen on {host}:{port}: {error.strerror or error}; check --server-host"
        ) from error
    sock.setblocking(False)  # noqa: FBT003 - the socket API's own flag
    return sock
