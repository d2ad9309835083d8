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
import datetime as dt
import logging
import os
import socket
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import msgspec

from atoll.kernel.redaction import Redactor

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping

__all__ = ["ContextFilter", "JsonFormatter", "TextFormatter", "current_log_context", "log_context"]

_EMPTY: Mapping[str, str] = MappingProxyType({})

_CONTEXT: contextvars.ContextVar[Mapping[str, str]] = contextvars.ContextVar(
    "atoll_log_context", default=_EMPTY
)

current_log_context = _CONTEXT.get
"""The fields every record logged now carries."""


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

    On the handler, not the logger: a record of any logger (the application's, a library's)
    gets it, read in the thread and task that logged it.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        """Add the context; never drops a record."""
        if not hasattr(record, "context"):
            record.context = _CONTEXT.get()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line.

    Its members: ``time`` (UTC, RFC 3339 with milliseconds), ``level``, ``logger``,
    ``message``, ``service``, ``instance`` (host and process), the log context's fields, and
    ``exception`` (the traceback) or ``stack`` when the record has one.

    Every member is redacted (see :class:`~atoll.kernel.redaction.Redactor`) before the line
    is written.

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

    def format(self, record: logging.LogRecord) -> str:
        """The record as one line of JSON."""
        moment = dt.datetime.fromtimestamp(record.created, dt.UTC)
        entry: dict[str, Any] = {
            "time": moment.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            "service": self.service,
            "instance": self.instance,
        }
        context: Mapping[str, str] = getattr(record, "context", _EMPTY)
        for name, value in context.items():
            entry.setdefault(name, value)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return self._encode(self.redactor.fields(entry)).decode()


class TextFormatter(logging.Formatter):
    """Records as lines of text, as :class:`logging.Formatter` writes them, redacted.

    The whole of what is written is redacted (see :class:`~atoll.kernel.redaction.Redactor`):
    the message with its arguments, the traceback, and any record attribute ``fmt`` names.

    Args:
        fmt: the ``%``-style format of a line.
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
        super().__init__(fmt, datefmt)
        self.redactor = redactor or Redactor()

    def format(self, record: logging.LogRecord) -> str:
        """The record as text, redacted."""
        return self.redactor.text(super().format(record))
