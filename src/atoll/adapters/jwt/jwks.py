"""An issuer's JWKS: fetched from its one URL, kept, and fetched again when it may have changed.

:class:`Jwks` fetches the document with httpx, never following a redirect, within a timeout
for the whole exchange and a size limit, and keeps the keys it holds that may verify tokens
here (:func:`~atoll.adapters.jwt.keys.from_jwk`: ``"use": "sig"``, an allowed ``alg``). It
fetches again when a token names a key it does not hold (at most once per ``refresh``
seconds, one fetch shared by every verification that waits for it), and in the background
once its keys are ``max_age`` seconds old. A failed fetch keeps the keys known and is
recorded, for readiness; a document without a usable key counts as a failure, so that a
broken JWKS never empties the keys that work.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING, Any

import msgspec

from atoll.adapters.jwt.keys import KeyRefusedError, from_jwk
from atoll.errors import MissingDependencyError
from atoll.kernel.options import masked_url

try:
    import httpx
except ImportError as error:  # pragma: no cover - httpx is a core dependency
    raise MissingDependencyError("httpx", "jwt") from error

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from atoll.adapters.jwt.keys import VerificationKey

__all__ = ["LARGEST_JWKS", "RETRY_FIRST", "Jwks", "JwksFetchError"]

RETRY_FIRST = 1.0
"""Seconds after a failed first fetch when the JWKS is fetched again, doubling afterwards."""

logger = logging.getLogger("atoll.auth")

LARGEST_JWKS = 512 * 1024
"""Bytes a JWKS may hold at the most; a larger one is refused, not read to its end."""
_ACCEPT = "application/jwk-set+json, application/json"
_TRANSPORT_ERRORS = (httpx.HTTPError, httpx.InvalidURL, httpx.StreamError, OSError)


class JwksFetchError(Exception):
    """A fetch of the JWKS failed.

    Attributes:
        reason: why, in a few words (``ConnectError``, ``HTTP 503``).
        config: whether the URL answered but not with a JWKS (a redirect, a 4xx, a document
            that is no JWKS or holds no usable key), which configuration must fix; otherwise
            the JWKS is out of reach, and may come back by itself.
    """

    def __init__(self, reason: str, *, config: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.config = config


class Jwks:
    """The signing keys an issuer publishes at ``url``.

    Args:
        url: the JWKS's URL, the only one ever fetched.
        algorithms: the algorithms configured; a key for none of them is ignored.
        timeout: seconds a whole fetch may take.
        refresh: seconds at least between two fetches asked by :meth:`refetch`.
        max_age: seconds after a fetch that succeeded when :meth:`refresh_if_stale` fetches
            again, in the background.
        clock: the current time, in seconds since the epoch.
        http: the client to fetch with, or ``None`` for one of its own, made by
            :meth:`start` and closed by :meth:`stop`.
        app: the ASGI app of this very process that serves ``url``, to fetch it from
            without the network (a system holding its token service); ``None`` to fetch it
            over the network.
        empty: whether a JWKS without a key is an answer (the message keys, before any
            process registered one), not a failure.
    """

    def __init__(
        self,
        url: str,
        *,
        algorithms: Iterable[str],
        timeout: float,
        refresh: float,
        max_age: float,
        clock: Callable[[], float],
        http: httpx.AsyncClient | None,
        app: Any = None,
        empty: bool = False,
    ) -> None:
        self.url = url
        self._empty = empty
        self.keys: tuple[VerificationKey, ...] = ()
        """The keys of the last fetch that succeeded; empty before one has."""
        self._algorithms = frozenset(algorithms)
        self._timeout = timeout
        self._refresh = refresh
        self._max_age = max_age
        self._clock = clock
        self._http = http
        self._own_http = http is None
        self._app = app
        self._fetching: asyncio.Task[None] | None = None
        self._retrying: asyncio.Task[None] | None = None
        self._last_attempt: float | None = None
        self._last_success: float | None = None
        self._failing_since: float | None = None
        self._failure: JwksFetchError | None = None

    @property
    def local(self) -> bool:
        """Whether the JWKS is read from an app of this process, not over the network."""
        return self._app is not None

    @property
    def failure(self) -> tuple[float, JwksFetchError] | None:
        """Since when, and why, the fetches fail; ``None`` while the last one succeeded."""
        if self._failing_since is None or self._failure is None:
            return None
        return self._failing_since, self._failure

    async def start(self) -> None:
        """Make the HTTP client, unless one was given."""
        if self._http is None:
            transport = None if self._app is None else httpx.ASGITransport(app=self._app)
            self._http = httpx.AsyncClient(
                follow_redirects=False, timeout=self._timeout, transport=transport
            )

    async def stop(self) -> None:
        """Cancel a fetch under way, and close the HTTP client if it is this one's own."""
        for task in (self._retrying, self._fetching):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._retrying = self._fetching = None
        if self._own_http and self._http is not None:
            await self._http.aclose()
            self._http = None

    def may_refetch(self) -> bool:
        """Whether :meth:`refetch` would fetch (or join a fetch under way) now."""
        if self._fetching is not None or self._last_attempt is None:
            return True
        now = self._clock()
        # A clock set back must not hold the keys still until it catches up.
        return now - self._last_attempt >= self._refresh or now < self._last_attempt

    async def refetch(self) -> None:
        """Fetch the JWKS, or wait for the fetch under way; a failure is recorded, not raised.

        Cancelling the caller leaves the fetch running, for those that share it.
        """
        fetching = self._fetching
        if fetching is None:
            fetching = self._fetching = asyncio.create_task(self._fetch_and_keep())
        try:
            await asyncio.shield(fetching)
        except asyncio.CancelledError:
            # :meth:`stop` cancelled the fetch: the caller goes on with the keys known, unless
            # it is being cancelled itself.
            current = asyncio.current_task()
            if not fetching.cancelled() or (current is not None and current.cancelling()):
                raise

    async def refetch_soon(self) -> None:
        """Fetch the JWKS once :meth:`may_refetch` allows it (within ``refresh`` seconds).

        For keys that must be known before an answer is given (a message's key, registered
        after the last fetch): the caller waits for the next fetch rather than refuses.
        """
        if self._fetching is None and self._last_attempt is not None:
            wait = self._last_attempt + self._refresh - self._clock()
            if 0 < wait <= self._refresh:
                await asyncio.sleep(wait)
        await self.refetch()

    def retry_until_fetched(self, first: float = RETRY_FIRST) -> None:
        """Fetch again in the background until a fetch succeeds.

        The first time after ``first`` seconds, then twice as long each time, up to
        ``refresh`` seconds apart. For a JWKS out of reach when the service starts (its
        issuer starting too, say): the service serves meanwhile, and refuses the tokens it
        cannot verify yet.
        """
        if self._retrying is None:
            self._retrying = asyncio.create_task(self._retry(first))

    async def _retry(self, delay: float) -> None:
        try:
            while self._last_success is None:
                await asyncio.sleep(delay)
                await self.refetch()
                delay = min(delay * 2, self._refresh)
        finally:
            if self._retrying is asyncio.current_task():
                self._retrying = None

    def refresh_if_stale(self) -> None:
        """Start a fetch in the background when the keys are ``max_age`` seconds old."""
        if self._fetching is not None or self._last_attempt is None:
            return
        now = self._clock()
        fresh = self._last_success is not None and 0 <= now - self._last_success < self._max_age
        if not fresh and self.may_refetch():
            self._fetching = asyncio.create_task(self._fetch_and_keep())

    async def _fetch_and_keep(self) -> None:
        attempt = self._last_attempt = self._clock()
        try:
            keys = await self._fetch()
        except JwksFetchError as error:
            self._failed(attempt, error)
        except Exception as error:  # pragma: no cover - a net: a fetch must never fail a verify
            logger.exception("fetching the JWKS at %s failed unexpectedly", masked_url(self.url))
            self._failed(attempt, JwksFetchError(type(error).__name__, config=False))
        else:
            if self._failing_since is not None:
                logger.info("the JWKS at %s is fetched again", masked_url(self.url))
            self.keys = keys
            self._last_success = attempt
            self._failing_since = self._failure = None
        finally:
            if self._fetching is asyncio.current_task():
                self._fetching = None

    def _failed(self, attempt: float, error: JwksFetchError) -> None:
        if self._failing_since is None:
            self._failing_since = attempt
            logger.warning(
                "cannot fetch the JWKS at %s (%s); the %d keys known are used meanwhile",
                masked_url(self.url),
                error.reason,
                len(self.keys),
            )
        self._failure = error

    async def _fetch(self) -> tuple[VerificationKey, ...]:
        if self._http is None:
            raise JwksFetchError("the verifier is stopped", config=False)
        try:
            async with asyncio.timeout(self._timeout):
                body = await self._download(self._http)
        except TimeoutError:
            raise JwksFetchError(f"no answer within {self._timeout:g} s", config=False) from None
        except _TRANSPORT_ERRORS as error:
            raise JwksFetchError(type(error).__name__, config=False) from None
        try:
            document = msgspec.json.decode(body)
        except (msgspec.DecodeError, RecursionError):
            raise JwksFetchError("the answer is not JSON", config=True) from None
        if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
            raise JwksFetchError('the answer is no JWKS (a {"keys": [...]} object)', config=True)
        return self._keep(document["keys"])

    async def _download(self, http: httpx.AsyncClient) -> bytes:
        request = http.stream(
            "GET",
            self.url,
            headers={"accept": _ACCEPT},
            follow_redirects=False,
            timeout=self._timeout,
        )
        async with request as response:
            status = response.status_code
            if response.is_redirect or 300 <= status < 400:  # noqa: PLR2004 - the 3xx range
                raise JwksFetchError(
                    f"it answers with a redirect (HTTP {status}), which is not followed: set "
                    "jwks_url to where the JWKS itself is",
                    config=True,
                )
            if status != 200:  # noqa: PLR2004 - OK is the only answer that holds a JWKS
                raise JwksFetchError(f"HTTP {status}", config=400 <= status < 500)  # noqa: PLR2004
            body = bytearray()
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) > LARGEST_JWKS:
                    raise JwksFetchError(
                        f"the answer is larger than {LARGEST_JWKS} bytes", config=True
                    )
            return bytes(body)

    def _keep(self, jwks: list[object]) -> tuple[VerificationKey, ...]:
        keys: list[VerificationKey] = []
        ignored: list[str] = []
        for position, jwk in enumerate(jwks, start=1):
            try:
                keys.append(from_jwk(jwk, self._algorithms, published=True))
            except KeyRefusedError as error:
                kid = jwk.get("kid") if isinstance(jwk, dict) else None
                name = f"kid {kid!r:.60}" if isinstance(kid, str) else f"key {position}"
                ignored.append(f"{name} {error}")
        if not keys and (ignored or not self._empty):
            raise JwksFetchError(
                "it holds no key usable here: " + ("; ".join(ignored) or "it is empty"),
                config=True,
            )
        if {key.kid for key in keys} != {key.kid for key in self.keys}:
            logger.info(
                "the JWKS at %s holds %s%s",
                masked_url(self.url),
                ", ".join(f"{key.kid!r} ({'/'.join(sorted(key.algorithms))})" for key in keys),
                f"; ignored: {'; '.join(ignored)}" if ignored else "",
            )
        return tuple(keys)
