"""Rate limiting on the ``limits`` library: counts in the process's memory, or in Redis.

:class:`LimitsRateLimiter` is the :class:`~atoll.security.limits.RateLimiter` of
``[limits]``: ``memory://`` keeps the counts in this process (each instance limits alone),
``redis://host:6379/0`` in Redis, through redis-py's asyncio client (``atoll[redis]``), so
that every instance of a service shares them. ``moving-window`` counts exactly;
``fixed-window`` and ``sliding-window-counter`` cost less on Redis, and let a burst of up to
twice the quota through at a window's edge (fixed), or approximate it (sliding).

A call is counted only if every window of its limit has room: the windows are tested first,
then hit, so that a call refused by its hourly window spends none of its per-second quota.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from atoll.errors import MissingDependencyError, UnavailableError
from atoll.kernel.options import masked_url
from atoll.security.limits import Refusal, Window

try:
    from limits import RateLimitItemPerSecond
    from limits.aio import strategies
    from limits.aio.storage import MemoryStorage
    from limits.errors import StorageError
    from limits.storage import storage_from_string
except ImportError as error:  # pragma: no cover - exercised only without the extra installed
    raise MissingDependencyError("limits", "limits") from error

if TYPE_CHECKING:
    from limits import RateLimitItem

__all__ = ["LimitsRateLimiter"]

_STRATEGIES: dict[str, Any] = {
    "moving-window": strategies.MovingWindowRateLimiter,
    "fixed-window": strategies.FixedWindowRateLimiter,
    "sliding-window-counter": strategies.SlidingWindowCounterRateLimiter,
}


class LimitsRateLimiter:
    """Counts calls with a ``limits`` strategy, in memory or in Redis.

    Args:
        url: ``memory://``, or ``redis://`` / ``rediss://`` with host, port and database.
        strategy: ``moving-window``, ``fixed-window`` or ``sliding-window-counter``.
    """

    def __init__(self, url: str, strategy: str = "moving-window") -> None:
        self.url = url
        self.strategy = strategy
        self._limiter: Any = None
        self._pool: Any = None
        self._items: dict[tuple[Window, ...], list[tuple[Window, RateLimitItem]]] = {}

    async def start(self) -> None:
        """Open the storage (a connection pool, for Redis)."""
        if self.url.startswith("memory://"):
            storage: Any = MemoryStorage()
        else:
            from redis.asyncio import ConnectionPool  # noqa: PLC0415 - atoll[redis], if used

            self._pool = ConnectionPool.from_url(self.url)
            storage = storage_from_string(
                f"async+{self.url}",
                implementation="redispy",
                wrap_exceptions=True,
                connection_pool=self._pool,
            )
        self._limiter = _STRATEGIES[self.strategy](storage)

    async def stop(self) -> None:
        """Forget the storage (the memory's counts go with it), closing Redis's connections."""
        self._limiter = None
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.aclose()

    async def hit(self, windows: tuple[Window, ...], key: str) -> Refusal | None:
        """Count one call of ``key`` if each window has room; else the window that has not.

        Raises:
            UnavailableError: Redis cannot be reached (the call is not served: a limit that
                cannot be counted is not skipped).
        """
        limiter = self._limiter
        if limiter is None:
            raise UnavailableError("the rate limiter is not started")
        items = self._items.get(windows)
        if items is None:
            items = self._items[windows] = [
                (window, RateLimitItemPerSecond(window.quota, window.seconds)) for window in windows
            ]
        try:
            for window, item in items:
                if len(items) > 1 and not await limiter.test(item, key):
                    return await self._refusal(limiter, window, item, key)
            for window, item in items:
                if not await limiter.hit(item, key):
                    return await self._refusal(limiter, window, item, key)
        except (StorageError, ConnectionError, TimeoutError, OSError) as error:
            raise UnavailableError(
                f"cannot count rate limits in {masked_url(self.url)} ({type(error).__name__}); "
                "check --limits-storage and that Redis runs"
            ) from None
        return None

    @staticmethod
    async def _refusal(limiter: Any, window: Window, item: Any, key: str) -> Refusal:
        stats = await limiter.get_window_stats(item, key)
        now = time.time()
        wait = stats.reset_time - now
        if wait <= 0:
            # The sliding-window-counter's reset is the current window key's time to live
            # modulo the window; read in the millisecond the key was made, that is a whole
            # number of windows, and the wait comes out 0 though the window is full. It
            # frees up no sooner than the current fixed window ends.
            wait = window.seconds - now % window.seconds
        return Refusal(window, wait)

    def __repr__(self) -> str:
        return f"LimitsRateLimiter({masked_url(self.url)!r}, {self.strategy!r})"
