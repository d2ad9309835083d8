"""Rate limits: how often a caller may call a handler, declared beside it or for a service.

::

    @service.post("/login", limit=atoll.limit("5/minute; 50/hour", per="ip"), public=True)
    async def log_in(...): ...

    service.limit(atoll.limit("100/second", per="subject"))      # every handler of the service

A limit counts the calls of one key (the caller's subject, API token or client address, or
what a function of the identity and the request gives) in one or more windows, each of which
must have room: ``10/second; 1000/hour``. It is judged with the handler's policy, in the
same one place for every transport, before the handler runs: a call over the limit raises
:class:`~atoll.errors.RateLimitedError` (429 with ``Retry-After`` and the IETF RateLimit
headers, JSON-RPC -32015). Messages a broker delivers are not limited: the broker paces them.

The counting is a :class:`RateLimiter`'s: :class:`MemoryRateLimiter` in the process's memory
by default, or ``atoll.adapters.limits`` on the ``limits`` library (``atoll[limits]``) in
Redis, for limits every instance shares (``--limits-storage redis://...``).
"""

from __future__ import annotations

import collections
import ipaddress
import math
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Protocol

from atoll.errors import ConfigError, RateLimitedError
from atoll.kernel.options import masked_url, option

if TYPE_CHECKING:
    from atoll.messaging.context import Request
    from atoll.messaging.handlers import Handler
    from atoll.security.identity import Identity

__all__ = [
    "Limit",
    "LimitOptions",
    "Limiter",
    "MemoryRateLimiter",
    "RateLimiter",
    "Refusal",
    "client_address",
    "limit",
]

Per = Literal["subject", "token", "ip"] | Callable[["Identity", "Request"], str | None]

_RATE = re.compile(
    r"\s*(\d+)\s*(?:/|per)\s*(\d+)?\s*"
    r"(second|minute|hour|day|month|year)s?\s*",
    re.IGNORECASE,
)
_UNITS = {
    "second": 1,
    "minute": 60,
    "hour": 3600,
    "day": 86400,
    "month": 30 * 86400,
    "year": 365 * 86400,
}
_KEYS = ("subject", "token", "ip")
_UNKNOWN_CLIENT = "unknown"


@dataclass(frozen=True, slots=True)
class Window:
    """One window of a limit: ``quota`` calls per ``seconds``."""

    quota: int
    seconds: int


@dataclass(frozen=True)
class Limit:
    """How often one key may call: see :func:`limit`."""

    rates: str
    per: Per = "subject"
    name: str = ""
    windows: tuple[Window, ...] = ()

    def describe(self) -> str:
        """The limit in a few words: ``10/second; 1000/hour per ip``."""
        return f"{self.rates} per {_per(self)}"


def limit(rates: str, *, per: Per = "subject", name: str = "") -> Limit:
    """A rate limit: at most ``rates`` calls per key, ``"10/second; 1000/hour"``.

    Args:
        rates: one window or several, separated by ``;``: a number of calls, ``/`` (or
            ``per``), and a unit (``second``, ``minute``, ``hour``, ``day``, ``month``,
            ``year``), with a count of units if more than one (``100/10 minutes``).
        per: what is counted apart: ``"subject"`` (the caller's identity; an anonymous
            caller by client address), ``"token"`` (the API token or token id; else as
            subject), ``"ip"`` (the client's address, read through trusted proxies only),
            or a function of the :class:`~atoll.security.identity.Identity` and the
            :class:`~atoll.messaging.context.Request` giving the key (``None``: not limited).
        name: the limit's name in the ``RateLimit-Policy`` header; the handler's by default.

    Raises:
        ConfigError: ``rates`` is not a list of rates, or ``per`` is none of the above.
    """
    windows = []
    for part in rates.split(";"):
        matched = _RATE.fullmatch(part)
        if matched is None or int(matched.group(1)) < 1:
            raise ConfigError(
                f"rate limit {rates!r} holds {part.strip()!r}, which is no rate: write calls "
                "per unit, such as '10/second', '1000/hour' or '100/10 minutes', joined by ';'"
            )
        count = int(matched.group(2) or 1)
        windows.append(Window(int(matched.group(1)), count * _UNITS[matched.group(3).lower()]))
    if not callable(per) and per not in _KEYS:
        raise ConfigError(
            f"per must be 'subject', 'token', 'ip' or a function of the identity and the "
            f"request; got {per!r}"
        )
    return Limit(rates.strip(), per, name, tuple(windows))


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a call was refused: the window that was full, and when it has room again."""

    window: Window
    retry_after: float


class RateLimiter(Protocol):
    """The port of rate limiting: counts calls of keys in windows, in memory or shared."""

    async def start(self) -> None:
        """Open the storage."""
        ...

    async def stop(self) -> None:
        """Close the storage."""
        ...

    async def hit(self, windows: tuple[Window, ...], key: str) -> Refusal | None:
        """Count one call of ``key`` in each window if each has room; else a refusal.

        Raises:
            UnavailableError: the storage cannot be reached.
        """
        ...


class MemoryRateLimiter:
    """Counts calls in this process's memory: each instance of a service limits alone.

    Written here rather than taken from the ``limits`` library, whose memory storage costs
    a call about 10 us where this costs under 2 (``benchmarks/bench_limits.py``): a limited
    route over HTTP kept about 60% of the throughput of the same route without a limit on
    the library, and needs 85%. Redis, shared by every instance, is the library's
    (:mod:`atoll.adapters.limits`), where the network costs more than either.

    ``moving-window`` keeps the time of each call within the window (exact; memory grows
    with the quota); ``fixed-window`` one count per window; ``sliding-window-counter`` the
    counts of this window and the last, the last weighted by how much of it the sliding
    window still covers. Keys idle longer than their longest window are forgotten.

    Args:
        strategy: ``moving-window``, ``fixed-window`` or ``sliding-window-counter``.
        clock: the time, in seconds (monotonic).
    """

    _SWEEP_EVERY = 4096

    def __init__(
        self, strategy: str = "moving-window", clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.strategy = strategy
        self._clock = clock
        self._moving: dict[tuple[str, int], collections.deque[float]] = {}
        self._counted: dict[tuple[str, int], list[float]] = {}
        self._hits = 0

    async def start(self) -> None:
        """Nothing to open."""

    async def stop(self) -> None:
        """Forget the counts."""
        self._moving.clear()
        self._counted.clear()

    async def hit(self, windows: tuple[Window, ...], key: str) -> Refusal | None:
        """Count one call of ``key`` if each window has room; else the window that has not."""
        now = self._clock()
        self._hits += 1
        if self._hits % self._SWEEP_EVERY == 0:
            self._sweep(now)
        if self.strategy == "moving-window":
            return self._moving_hit(windows, key, now)
        return self._counted_hit(windows, key, now)

    def _moving_hit(self, windows: tuple[Window, ...], key: str, now: float) -> Refusal | None:
        calls = []
        for window in windows:
            held = self._moving.get((key, window.seconds))
            if held is None:
                held = self._moving[key, window.seconds] = collections.deque()
            since = now - window.seconds
            while held and held[0] <= since:
                held.popleft()
            if len(held) >= window.quota:
                return Refusal(window, held[0] + window.seconds - now)
            calls.append(held)
        for held in calls:
            held.append(now)
        return None

    def _counted_hit(self, windows: tuple[Window, ...], key: str, now: float) -> Refusal | None:
        sliding = self.strategy == "sliding-window-counter"
        states = []
        for window in windows:
            seconds = window.seconds
            start = now - now % seconds
            state = self._counted.get((key, seconds))
            if state is None:
                state = self._counted[key, seconds] = [start, 0.0, 0.0]
            if state[0] != start:  # a new window: the last one's count is the previous
                state[2] = state[1] if start - state[0] == seconds else 0.0
                state[0], state[1] = start, 0.0
            count = state[1]
            if sliding:
                count += state[2] * (1 - (now - start) / seconds)
            if count + 1 > window.quota:
                return Refusal(window, start + seconds - now)
            states.append(state)
        for state in states:
            state[1] += 1
        return None

    def _sweep(self, now: float) -> None:
        for where in [k for k, held in self._moving.items() if not held or held[-1] <= now - k[1]]:
            del self._moving[where]
        for where in [k for k, state in self._counted.items() if state[0] + 2 * k[1] <= now]:
            del self._counted[where]

    def __repr__(self) -> str:
        return f"MemoryRateLimiter({self.strategy!r})"


@dataclass(frozen=True)
class LimitOptions:
    """Where rate limits count, and how."""

    enabled: bool = option(default=True, help="enforce the rate limits declared")
    storage: str = option(
        "memory://",
        help="where the counts are kept: memory:// (this process), or redis://host:6379/0 "
        "(shared by every instance)",
    )
    strategy: Literal["moving-window", "fixed-window", "sliding-window-counter"] = option(
        "moving-window",
        help="how windows count: moving-window (exact), fixed-window or "
        "sliding-window-counter (cheaper on Redis)",
    )

    def __post_init__(self) -> None:
        scheme = self.storage.partition("://")[0].lower()
        if "://" not in self.storage or scheme not in {"memory", "redis", "rediss"}:
            msg = (
                f"storage {masked_url(self.storage)!r} is neither memory:// nor a redis:// "
                "URL; use memory:// or redis://127.0.0.1:6379/0"
            )
            raise ValueError(msg)


class Limiter:
    """Judges the rate limits of a call: the service's, and its handler's.

    Args:
        backend: what counts.
        limits: the limits of each service, by name (``service.limit(...)``).
    """

    def __init__(self, backend: RateLimiter | None, limits: dict[str, tuple[Limit, ...]]) -> None:
        self.backend = backend
        self.service_limits = limits
        self._plans: dict[Handler, tuple[tuple[str, Limit], ...]] = {}

    def limits_of(self, handler: Handler) -> tuple[tuple[str, Limit], ...]:
        """The limits of ``handler``, each with the prefix of its keys (handler or service)."""
        plan = self._plans.get(handler)
        if plan is None:
            own = tuple(
                (f"{handler.service}.{handler.name}|{_per(item)}|", item) for item in handler.limits
            )
            shared = tuple(
                (f"{handler.service}|{_per(item)}|", item)
                for item in self.service_limits.get(handler.service, ())
            )
            plan = self._plans[handler] = shared + own
        return plan

    def counts(self, handler: Handler) -> bool:
        """Whether a call of ``handler`` is counted: limits are on, and it has one."""
        return self.backend is not None and bool(self.limits_of(handler))

    def needs_identity(self, handler: Handler) -> bool:
        """Whether counting a call of ``handler`` reads who is calling (not its address alone)."""
        return any(item.per != "ip" for _, item in self.limits_of(handler))

    async def check(self, handler: Handler, identity: Identity, request: Request) -> None:
        """Count the call; raise if one of its limits has no room for it.

        A call in the process (``request.transport == "local"``: code of the process, or
        another service of the system) is not limited: limits pace outside callers.

        Raises:
            RateLimitedError: a window is full.
        """
        if self.backend is None or request.transport == "local":
            return
        for prefix, item in self.limits_of(handler):
            key = _key_of(item, identity, request)
            if key is None:
                continue
            refusal = await self.backend.hit(item.windows, prefix + key)
            if refusal is not None:
                raise _refused(handler, item, refusal)

    async def check_address(self, handler: Handler, client: tuple[str, int] | None) -> None:
        """Count a call of ``handler`` from ``client``, whose limits are all per address.

        What :meth:`check` does for such a handler (see :meth:`needs_identity`), for a
        transport that knows the client's address without making a call context.

        Raises:
            RateLimitedError: a window is full.
        """
        backend = self.backend
        if backend is None:
            return
        address = _address_key(client)
        for prefix, item in self.limits_of(handler):
            refusal = await backend.hit(item.windows, prefix + address)
            if refusal is not None:
                raise _refused(handler, item, refusal)

    async def start(self) -> None:
        """Open the backend's storage."""
        if self.backend is not None:
            await self.backend.start()

    async def stop(self) -> None:
        """Close it."""
        if self.backend is not None:
            await self.backend.stop()


def _refused(handler: Handler, item: Limit, refusal: Refusal) -> RateLimitedError:
    seconds = max(1, math.ceil(refusal.retry_after))
    window = refusal.window
    return RateLimitedError(
        f"{handler.name} takes {window.quota} calls per {window.seconds} s from each "
        f"{_per(item)}, and this one went over: call again in {seconds} s",
        retry_after=seconds,
        policy=item.rates,
        name=item.name or handler.name,
        window=window.seconds,
        quota=window.quota,
    )


def _per(item: Limit) -> str:
    return item.per if isinstance(item.per, str) else getattr(item.per, "__name__", "key")


def _key_of(item: Limit, identity: Identity, request: Request) -> str | None:
    """The key a call counts under for ``item``; ``None``: the call is not limited by it."""
    per = item.per
    if callable(per):
        return per(identity, request)
    if per == "token" and identity.token_id:
        return f"token:{identity.token_id}"
    if per in {"token", "subject"} and identity.authenticated:
        return f"subject:{identity.subject}"
    return _address_key(request.client)


def _address_key(client: tuple[str, int] | None) -> str:
    """The key of a call counted per address: its client's, or ``unknown`` (broker RPC)."""
    return f"ip:{client[0] if client else _UNKNOWN_CLIENT}"


def client_address(
    peer: tuple[str, int] | None,
    headers: list[tuple[bytes, bytes]],
    trusted: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...],
) -> tuple[str, int] | None:
    """The client of a request: the peer, or, from a trusted proxy, whom it forwards for.

    Only a peer in ``trusted`` is believed: its ``X-Forwarded-For`` (or ``Forwarded``'s
    ``for=``) is read from the right, skipping the trusted proxies the request went through,
    and the first address that is not one of them is the client. Anyone else's forwarding
    headers change nothing, so a client cannot pass for another by writing them.
    """
    if peer is None or not trusted or not _trusted(peer[0], trusted):
        return peer
    chain = _forwarded_for(headers)
    for address in reversed(chain):
        if not _trusted(address, trusted):
            return (address, 0)
    return (chain[0], 0) if chain else peer


def _trusted(
    address: str, trusted: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]
) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in trusted)


def _forwarded_for(headers: list[tuple[bytes, bytes]]) -> list[str]:
    """The addresses a request was forwarded for, the client's first."""
    forwarded: list[str] = []
    x_forwarded: list[str] = []
    for name, value in headers:
        if name == b"forwarded":
            for element in value.decode("latin-1").split(","):
                for pair in element.split(";"):
                    key, _, found = pair.strip().partition("=")
                    if key.lower() == "for":
                        forwarded.append(_bare(found.strip().strip('"')))
        elif name == b"x-forwarded-for":
            x_forwarded += [part.strip() for part in value.decode("latin-1").split(",")]
    return [address for address in (forwarded or x_forwarded) if address]


def _bare(address: str) -> str:
    """An address of ``Forwarded``'s ``for=``, without its port and IPv6 brackets."""
    if address.startswith("["):
        return address[1:].partition("]")[0]
    if address.count(":") == 1:
        return address.partition(":")[0]
    return address
