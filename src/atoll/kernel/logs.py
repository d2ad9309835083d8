"""Log records with the context of the work in progress, written as text or as JSON.

Code that knows what is in progress (a transport serving a request, a consumer handling a
message) adds it to the log context for the block, and every record logged in it, by atoll
or by the application's own ``logging.getLogger(...)`` calls, carries it::

    with log_context(correlation_id="7f3a...", handler="runs.record_run"):
        logger.info("recorded")     # {"message": "recorded", "correlation_id": "7f3a...", ...}

The context lives in a :class:`contextvars.ContextVar`, so that concurrent requests keep
theirs apart and a task started in a block inherits it. ``--log-format json`` writes one JSON
object per line (:class:`JsonFormatter`); ``text``, the terminal's format, leaves it out.

Both formats mask what must not reach a log, whatever logger wrote the record and wherever in
it: the values of the running application's secrets, credentials written beside a name that
says what they are (``password=...``, ``Authorization: Bearer ...``), and passwords in URLs
(see :class:`~atoll.kernel.redaction.Redactor`).
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import os
import socket
import time
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import msgspec

from atoll.kernel.redaction import Redactor
from atoll.kernel.spans import current_span

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping

    from atoll.kernel.spans import Span

__all__ = [
    "TEXT",
    "ContextFilter",
    "JsonFormatter",
    "TextFormatter",
    "current_log_context",
    "log_context",
    "reset_log_context",
    "set_log_context",
]

_EMPTY: Mapping[str, str] = MappingProxyType({})

_CONTEXT: contextvars.ContextVar[Mapping[str, str]] = contextvars.ContextVar(
    "atoll_log_context", default=_EMPTY
)

current_log_context = _CONTEXT.get
"""The fields every record logged now carries."""

set_log_context = _CONTEXT.set
"""Make ``fields`` the whole log context; returns the token :func:`reset_log_context` takes.

For the edges that open a context per call (an HTTP request, broker RPC): a ``with`` block
costs more than the call it wraps there. The mapping may be one whose fields are found when
read (``atoll.observability.correlation.RequestContext``, which learns the handler once routed);
a block of :func:`log_context` inside it copies its fields.
"""

reset_log_context = _CONTEXT.reset
"""Put back the log context a :func:`set_log_context` token was given for."""


@contextlib.contextmanager
def log_context(**fields: str | None) -> Iterator[None]:
    """Add ``fields`` (those not ``None``) to every record logged in the block.

    A field already in the context is replaced for the block, and back afterwards.
    """
    added = {name: value for name, value in fields.items() if value is not None}
    if not added:
        yield
        return
    token = _CONTEXT.set({**_CONTEXT.get(), **added})
    try:
        yield
    finally:
        _CONTEXT.reset(token)


class ContextFilter(logging.Filter):
    """Puts the log context on each record a handler writes, as ``record.context``.

    With traces on, the span in progress too, as ``record.span``: its ids are written as
    ``trace_id`` and ``span_id``.

    On the handler, not the logger: a record of any logger (the application's, a library's)
    gets it, read in the thread and task that logged it.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        """Add the context; never drops a record."""
        if not hasattr(record, "context"):
            record.context = _CONTEXT.get()
            span = current_span()
            if span is not None:
                record.span = span
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line, its secrets masked.

    Its members: ``time`` (UTC, RFC 3339 with milliseconds), ``level``, ``logger``,
    ``message``, ``service``, ``instance`` (host and process), the record's own ``fields``
    (a mapping given as ``extra={"fields": {...}}``, as access log lines are), the log
    context's fields, ``trace_id`` and ``span_id`` (with traces on, in a span), and
    ``exception`` (the traceback) or ``stack`` when the record has one.

    Args:
        service: the name of the application writing.
        instance: which process of it; ``host:pid`` by default.
        redactor: what masks secrets; one that knows no secret's value by default.
    """

    def __init__(
        self, service: str, instance: str | None = None, *, redactor: Redactor | None = None
    ) -> None:
        super().__init__()
        self.service = service
        self.instance = instance or f"{socket.gethostname()}:{os.getpid()}"
        self.redactor = redactor or Redactor()
        self._encode = msgspec.json.Encoder().encode
        self._second = -1
        self._first_millisecond = -1000
        self._stamp = ""
        self.makes_lines = True
        """Whether :meth:`line` writes what :meth:`format` would: always."""

    def stamp(self, created: float) -> str:
        """``created`` in RFC 3339, UTC, to the millisecond: the second's part made once."""
        second = int(created)
        if second != self._second:
            self._stamped(second)
        return self._stamp + _MILLISECONDS[int((created - second) * 1000)]

    def now(self) -> str:
        """The time now, as :meth:`stamp` writes it: for a line made without a record.

        From the clock's nanoseconds, in whole milliseconds, less the stamped second's first:
        a float's parts, by ``int()``, cost an access line 0.8k CPU instructions more, and
        the second's and the millisecond's each by a division of the nanoseconds 0.5k more.
        """
        millisecond = time.time_ns() // 1_000_000 - self._first_millisecond
        if millisecond >= _PER_SECOND or millisecond < 0:  # another second
            millisecond += self._first_millisecond
            self._stamped(millisecond // _PER_SECOND)
            millisecond -= self._first_millisecond
        return self._stamp + _MILLISECONDS[millisecond]

    def _stamped(self, second: int) -> None:
        """Make ``second`` (since the epoch) the one whose part of a time stamp is kept."""
        self._stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        self._second = second
        self._first_millisecond = second * _PER_SECOND

    def _entry(  # noqa: PLR0917 - the members of a line, each its own
        self,
        created: float,
        level: str,
        name: str,
        message: str,
        fields: Mapping[str, Any],
        context: Mapping[str, str],
        span: Span | None,
    ) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "time": self.stamp(created),
            "level": level,
            "logger": name,
            "message": message,
            "service": self.service,
            "instance": self.instance,
        }
        for key, value in fields.items():
            entry.setdefault(key, value)
        for key, value in context.items():
            entry.setdefault(key, value)
        if span is not None:
            entry["trace_id"] = span.trace_id
            entry["span_id"] = span.span_id
        return entry

    def format(self, record: logging.LogRecord) -> str:
        """The record as one line of JSON."""
        entry = self._entry(
            record.created,
            record.levelname.lower(),
            record.name,
            record.getMessage(),
            getattr(record, "fields", _EMPTY),
            getattr(record, "context", _EMPTY),
            getattr(record, "span", None),
        )
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return self._encode(self.redactor.fields(entry)).decode()

    def line(  # noqa: PLR0917 - a record's parts, without the record
        self,
        created: float,
        level: int,
        name: str,
        message: str,
        fields: Mapping[str, Any],
        context: Mapping[str, str],
    ) -> str:
        """What :meth:`format` writes for a record of these parts, made without a record.

        For the lines written on every request (access logs), where a ``LogRecord`` and the
        ``logging`` machinery cost ten times the line.
        """
        span = current_span()
        entry = self._entry(created, _LEVELS[level], name, message, fields, context, span)
        line = self._encode(entry).decode()
        if self.redactor.suspect(line):  # one look at the line, rather than one per field
            line = self._encode(self.redactor.fields(entry)).decode()
        return line

    def queued(self, queue: list[Any]) -> bytes:
        """Lines made without records, queued, as lines of JSON with their secrets masked.

        ``queue`` holds pairs: the text of a line that nobody has looked at for secrets yet
        (what a caller chose: a path, a method, a correlation id; a line's other members are
        atoll's own), then the line, a :class:`msgspec.Struct` whose members are in this
        formatter's order. The texts of the whole queue are looked at once: one look per line
        cost an access line 2.7k CPU instructions. When they may, each line whose own text may
        is masked as :meth:`line` masks one.
        """
        texts, lines = queue[0::2], queue[1::2]
        redactor = self.redactor
        if not redactor.suspect("\n".join(texts)):
            return _encode_lines(lines)
        # Each line as it would be alone: masked only if its own text may hold a secret.
        return _encode_lines(
            [
                redactor.fields(msgspec.to_builtins(line)) if redactor.suspect(text) else line
                for text, line in zip(texts, lines, strict=True)
            ]
        )


TEXT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"
"""The format of a text line: ``2026-12-04 15:38:16,021 INFO    shop.orders: ordered``."""


class TextFormatter(logging.Formatter):
    """Records as lines of text, as :class:`logging.Formatter` writes them, redacted.

    The whole of what is written is redacted (see :class:`~atoll.kernel.redaction.Redactor`):
    the message with its arguments, the traceback, and any record attribute ``fmt`` names.

    Args:
        fmt: the ``%``-style format of a line; :data:`TEXT` by default.
        datefmt: the ``time.strftime`` format of ``%(asctime)s``.
        redactor: what masks secrets; one that knows no secret's value by default.
    """

    def __init__(
        self,
        fmt: str | None = None,
        datefmt: str | None = None,
        *,
        redactor: Redactor | None = None,
    ) -> None:
        super().__init__(fmt or TEXT, datefmt)
        self.redactor = redactor or Redactor()
        self.makes_lines = (fmt or TEXT) == TEXT and datefmt is None
        """Whether :meth:`line` writes what :meth:`format` would: in the default format."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as text, redacted."""
        return self.redactor.text(super().format(record))

    def line(  # noqa: PLR0917 - as JsonFormatter.line
        self,
        created: float,
        level: int,
        name: str,
        message: str,
        fields: Mapping[str, Any],  # noqa: ARG002 - a terminal's line shows the message alone
        context: Mapping[str, str],  # noqa: ARG002
    ) -> str:
        """What :meth:`format` writes, in :data:`TEXT`, for a record of these parts."""
        stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(created))
        milliseconds = int((created - int(created)) * 1000)
        return self.redactor.text(
            f"{stamp},{milliseconds:03d} {_NAMES[level]:<7} {name}: {message}"
        )


_NAMES = {level: logging.getLevelName(level) for level in (10, 20, 30, 40, 50)}
_PER_SECOND = 1000
_MILLISECONDS = [f".{n:03d}Z" for n in range(_PER_SECOND)]
_LEVELS = {level: name.lower() for level, name in _NAMES.items()}
_encode_lines = msgspec.json.Encoder().encode_lines
