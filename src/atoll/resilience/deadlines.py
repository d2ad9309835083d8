"""Deadlines: the time a call may take, carried from its first caller to every service it reaches.

A call to another service gets a deadline: its client's timeout from now, or what is left of
the deadline of the work that makes it, whichever ends first. The deadline travels with the
call as the time left, in milliseconds, in the ``X-Timeout-Ms`` header (HTTP and broker RPC
alike): relative, so that the clocks of two hosts need not agree. The receiver takes it as its
own deadline for the request: it refuses the request at once when no time is left, cancels
the work when the time runs out, and gives its own calls only what is left::

    A --(1000 ms)--> B --(970 ms)--> C          C's work is cancelled when A stops waiting

In a process, the deadline of the work in progress is a context variable, in
:func:`time.monotonic` seconds (the event loop's clock), read by :func:`current_deadline`.
"""

from __future__ import annotations

import contextvars
import math
import time
from typing import TYPE_CHECKING, Any, TypeVar

from atoll.errors import DeadlineExceededError

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Mapping

T = TypeVar("T")

__all__ = [
    "DEADLINE_TITLE",
    "TIMEOUT_HEADER",
    "budget",
    "carried_timeout",
    "current_deadline",
    "deadline_header",
    "reset_deadline",
    "seconds_of",
    "set_deadline",
    "within",
]

DEADLINE_TITLE = "deadline exceeded"
"""The title of the error answered to a request whose deadline passed (HTTP 504, -32018)."""

TIMEOUT_HEADER = "x-timeout-ms"
"""The header a call's deadline travels in: the milliseconds its caller still waits."""

_MAX_DIGITS = 12
"""The most digits a deadline header is read with: about 30 years, in milliseconds."""

_DEADLINE: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "atoll_deadline", default=None
)

current_deadline = _DEADLINE.get
"""The deadline of the work in progress, in :func:`time.monotonic` seconds, or None."""

set_deadline = _DEADLINE.set
"""Make a deadline (:func:`time.monotonic` seconds) the work's; returns a token to reset it."""

reset_deadline = _DEADLINE.reset
"""Put back the deadline a :func:`set_deadline` token was given for."""


def seconds_of(value: str | bytes) -> float | None:
    """An ``X-Timeout-Ms`` value, whole milliseconds, in seconds; None if it is no such value.

    A request whose value is malformed is served as one without a deadline.
    """
    text = value.decode("latin-1") if isinstance(value, bytes) else value
    text = text.strip()
    if not text.isdigit() or not text.isascii() or len(text) > _MAX_DIGITS:
        return None
    return int(text) / 1000


def carried_timeout(headers: Mapping[str, str]) -> float | None:
    """The seconds the caller of a broker RPC request still waits; None without a deadline."""
    value = headers.get(TIMEOUT_HEADER)
    return None if value is None else seconds_of(value)


def budget(timeout: float | None, target: str) -> float | None:
    """The seconds a call to ``target`` may take: ``timeout``, or less if the deadline is near.

    None when there is neither a timeout nor a deadline.

    Raises:
        DeadlineExceededError: the deadline of the work making the call has passed; the call
            is not to be sent.
    """
    deadline = _DEADLINE.get()
    if deadline is None:
        return timeout
    left = deadline - time.monotonic()
    if left <= 0:
        raise DeadlineExceededError(
            f"the deadline of the call to {target} passed {-left:.3f} s ago, before it was "
            "sent: its caller stopped waiting; it was not sent"
        )
    return left if timeout is None or left < timeout else timeout


def deadline_header(seconds: float) -> str:
    """The ``X-Timeout-Ms`` value of a call that may take ``seconds``: whole milliseconds.

    Rounded up: the receiver counts from when the call came, later than it was sent, so its
    deadline never passes before the caller's, and the caller never gets an answer it did not
    wait for (an empty one, or a 504) in place of its own timeout.
    """
    return str(max(math.ceil(seconds * 1000), 1))


async def within(seconds: float, work: Callable[..., Awaitable[T]], *args: Any) -> T:
    """``work(*args)`` for a request whose caller waits ``seconds`` more: its deadline.

    What the receivers of a deadline share (JSON-RPC over HTTP, broker RPC): the work's own
    calls get what is left of it.

    Raises:
        DeadlineExceededError: no time was left as the request came (``work`` is not run), or
            the time ran out before it finished (it is cancelled).
    """
    import asyncio  # noqa: PLC0415 - only a request with a deadline needs it; not at import

    if seconds <= 0:
        raise DeadlineExceededError(
            "the caller's deadline (X-Timeout-Ms) had passed when the request came; it was not run"
        )
    token = set_deadline(time.monotonic() + seconds)
    try:
        async with asyncio.timeout(seconds) as bound:
            return await work(*args)
    except TimeoutError:
        if not bound.expired():
            raise
        raise DeadlineExceededError(
            f"the request's deadline passed ({seconds * 1000:.0f} ms, its caller's "
            "X-Timeout-Ms) before its answer; its work was stopped"
        ) from None
    finally:
        reset_deadline(token)
