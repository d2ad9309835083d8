"""Access logs: a line per HTTP request, JSON-RPC call, message handled, GraphQL operation.

``--log-access http,rpc,messages,graphql`` (or ``all``) chooses which are written. Each goes to
its own logger (``atoll.access.http``, ``atoll.access.rpc``, ``atoll.access.messages``,
``atoll.access.graphql``), at INFO, or at ERROR for a server's failure (a 5xx, an internal
error, a message dead-lettered), with the request's or message's log context (its
correlation id)::

    {"time": "...", "level": "info", "logger": "atoll.access.http",
     "message": "GET /runs/42 200 57 B 1.2 ms", "service": "runs", "instance": "web-1:4242",
     "method": "GET", "route": "/runs/{run_id}", "path": "/runs/42", "status": 200,
     "bytes": 57, "duration_ms": 1.2, "client": "10.0.0.7", "correlation_id": "5f1c...",
     "handler": "runs.get_run"}

A line is written on every request, so it skips the ``logging`` machinery when it can: while
the process logs through the one handler atoll configured (``atoll run``, ``atoll.main``), the
line is formatted by that handler's formatter, without a ``LogRecord``, and written to its
stream, which costs a tenth of ``logger.info``; the common line, a struct, is queued on the
handler, which encodes the lines of a moment together and writes them within
:data:`FLUSHED_WITHIN` seconds (before any record it writes meanwhile). Anywhere else (an
application's own handlers, pytest's capture), it goes through ``logging`` like any record,
its fields in ``record.fields``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING, Any, TypeAlias

import msgspec

from atoll.kernel.app import ACCESS_LOGS, LogOptions
from atoll.kernel.logs import JsonFormatter, current_log_context
from atoll.kernel.spans import current_span
from atoll.messaging.context import current_call
from atoll.observability.correlation import RequestContext, subject

if TYPE_CHECKING:
    from collections.abc import Collection, Mapping, Sequence


__all__ = ["AccessLog"]

_FAILURE = 500
INTERNAL_ERROR = -32603
_UNKNOWN = object()


class AccessLog:
    """Writes the access log lines asked for.

    Args:
        kinds: which lines: ``http``, ``rpc``, ``messages``.

    Attributes:
        http: whether a line is written per HTTP request.
        rpc: whether a line is written per JSON-RPC call.
        messages: whether a line is written per message handled.
        graphql: whether a line is written per GraphQL operation.
    """

    def __init__(self, kinds: Collection[str] = ()) -> None:
        self.http = "http" in kinds
        self.rpc = "rpc" in kinds
        self.messages = "messages" in kinds
        self.graphql = "graphql" in kinds
        self._http = logging.getLogger("atoll.access.http")
        self._rpc = logging.getLogger("atoll.access.rpc")
        self._messages = logging.getLogger("atoll.access.messages")
        self._graphql = logging.getLogger("atoll.access.graphql")

    @classmethod
    def of(cls, options: LogOptions) -> AccessLog:
        """The access log ``--log-access`` asks for."""
        return cls([kind for kind in ACCESS_LOGS if options.logs_access(kind)])

    def request(  # noqa: PLR0917 - a request's line, each of its parts
        self,
        method: str,
        route: str | None,
        path: str,
        status: int,
        size: int,
        seconds: float,
        client: str | None,
        error: BaseException | None = None,
    ) -> None:
        """The line of an HTTP request answered with ``status`` and ``size`` body bytes.

        ``route``: the path template that matched, None when none did; ``error``: what
        failed, for a 5xx: the line carries its traceback.
        """
        level = logging.ERROR if status >= _FAILURE else logging.INFO
        logger = self._http
        if not logger.isEnabledFor(level):
            return
        # To the microsecond: the same float as int(seconds * 1_000_000) / 1000, for 0.1k CPU
        # instructions less (a float's floor is no call); round() costs more.
        duration = seconds * 1_000_000 // 1 / 1000
        handler = None if error is not None else _sole_handler(logger)
        if handler is not None:
            formatter = handler.formatter
            context = current_log_context()
            if type(formatter) is JsonFormatter and type(context) is RequestContext:
                # The common line, encoded whole from a struct: a third of the general way.
                correlation_id = context.correlation_id
                routed = context.endpoint
                line = _RequestLine(
                    formatter.now(),
                    _LEVEL_NAMES[level],
                    logger.name,
                    f"{method} {path} {_STATUS_TEXT[status]}",  # the rest: in the members
                    formatter.service,
                    formatter.instance,
                    method,
                    route,
                    path,
                    status,
                    size,
                    duration,
                    client,
                    correlation_id,
                    None if routed is None else routed.name,
                    context.rpc_method,
                    None if current_call() is None else subject(),  # a call saved
                )
                span = current_span()
                if span is not None:
                    line.trace_id, line.span_id = span.trace_id, span.span_id
                # What the caller chose is all a line atoll made may hide. A made id is
                # hexadecimal digits: no name of a secret, nor a secret's value unless one is
                # written in them.
                unchecked = (
                    f"{path}\n{correlation_id}"
                    if context.chosen or formatter.redactor.secrets_in_hex
                    else path
                )
                # _queue(handler, formatter, unchecked, line), inlined: 0.3k less a line
                try:
                    queued: list[Any] = handler.queued  # type: ignore[attr-defined]
                except AttributeError:  # a handler that does not queue: written at once
                    _written(handler, formatter.queued([unchecked, line]))
                    return
                queued.extend((unchecked, line))  # one call: a writing thread takes both
                waiting = len(queued)
                if waiting == _PAIR:
                    asyncio.get_running_loop().call_later(FLUSHED_WITHIN, handler.flush)
                elif waiting >= QUEUED_AT_MOST * _PAIR:
                    handler.flush()
                return
        message = f"{method} {path} {status} {size} B {duration} ms"
        fields = {
            "method": method,
            "route": route,
            "path": path,
            "status": status,
            "bytes": size,
            "duration_ms": duration,
            "client": client,
        }
        _write(logger, level, message, fields, error, handler)

    def call(self, method: str, code: int | None, seconds: float) -> None:
        """The line of a JSON-RPC call of ``method``: ``code`` None when it succeeded.

        An internal error (-32603) is at ERROR; any other error, the caller's or one the
        service declared, at INFO.
        """
        level = logging.ERROR if code == INTERNAL_ERROR else logging.INFO
        logger = self._rpc
        if not logger.isEnabledFor(level):
            return
        duration = int(seconds * 1_000_000) / 1000
        shown = "ok" if code is None else f"error {code}"
        handler = _sole_handler(logger)
        if handler is not None:
            formatter = handler.formatter
            context = current_log_context()
            if type(formatter) is JsonFormatter and type(context) is RequestContext:
                correlation_id = context.correlation_id
                routed = context.endpoint
                line = _CallLine(
                    formatter.now(),
                    _LEVEL_NAMES[level],
                    logger.name,
                    f"{method} {shown}",
                    formatter.service,
                    formatter.instance,
                    method,
                    "ok" if code is None else "error",
                    duration,
                    correlation_id,
                    code,
                    None if routed is None else routed.name,
                    None if current_call() is None else subject(),  # a call saved
                )
                span = current_span()
                if span is not None:
                    line.trace_id, line.span_id = span.trace_id, span.span_id
                unchecked = (  # as for a request's line
                    f"{method}\n{correlation_id}"
                    if context.chosen or formatter.redactor.secrets_in_hex
                    else method
                )
                _queue(handler, formatter, unchecked, line)
                return
        fields: dict[str, Any] = {
            "rpc_method": method,
            "outcome": "ok" if code is None else "error",
            "duration_ms": duration,
        }
        if code is not None:
            fields["error_code"] = code
        _write(logger, level, f"{method} {shown} {duration} ms", fields, None, handler)

    def message(  # noqa: PLR0917 - a message's line, each of its parts
        self,
        kind: str,
        service: str,
        attempt: int,
        outcome: str,
        seconds: float,
        lag: float | None = None,
    ) -> None:
        """The line of a message of type ``kind`` handled by ``service``, and how it ended.

        ``outcome``: ``handled``, ``retried``, ``dead-lettered`` (at ERROR) or ``held``
        (given back unsettled, as the consumer stopped); ``lag``: seconds from its sealing
        to this delivery, when it says when it was sealed.
        """
        level = logging.ERROR if outcome == "dead-lettered" else logging.INFO
        if not self._messages.isEnabledFor(level):
            return
        duration = round(seconds * 1000, 3)
        text = f"{kind} to {service} {outcome} (delivery {attempt}) {duration} ms"
        fields = {
            "message_type": kind,
            "consumer": service,
            "delivery": attempt,
            "outcome": outcome,
            "duration_ms": duration,
        }
        if lag is not None:
            fields["lag_ms"] = round(lag * 1000, 3)
        _write(self._messages, level, text, fields, None)

    def operation(
        self,
        kind: str,
        name: str | None,
        fields: Sequence[str],
        response: Mapping[str, Any],
        seconds: float,
    ) -> None:
        """The line of a GraphQL operation: its type, its name, its root fields, how it ended.

        ``kind``: ``query``, ``mutation``, ``subscription``, or ``""`` for a document refused
        before its operation was known; ``response``: what it answered (``data``,
        ``errors``). The outcome is ``ok``, ``partial`` (some fields null, with their
        errors), or ``error`` (no data); the line is at ERROR when an error is the service's
        (``INTERNAL_SERVER_ERROR``).
        """
        errors: Sequence[Mapping[str, Any]] = response.get("errors") or ()
        codes = sorted(
            {str((error.get("extensions") or {}).get("code", "")) for error in errors} - {""}
        )
        level = logging.ERROR if "INTERNAL_SERVER_ERROR" in codes else logging.INFO
        if not self._graphql.isEnabledFor(level):
            return
        outcome = "ok" if not errors else "error" if response.get("data") is None else "partial"
        duration = round(seconds * 1000, 3)
        shown = " ".join(part for part in (kind or "document", name) if part)
        text = f"{shown} {outcome} {duration} ms"
        line: dict[str, Any] = {
            "graphql_operation": kind or None,
            "graphql_name": name,
            "graphql_fields": list(fields),
            "outcome": outcome,
            "duration_ms": duration,
        }
        if codes:
            line["error_codes"] = codes
        _write(self._graphql, level, text, line, None)


def _write(  # noqa: PLR0917 - a line's parts, and where it goes
    logger: logging.Logger,
    level: int,
    message: str,
    fields: Mapping[str, Any],
    error: BaseException | None,
    handler: logging.Handler | None = _UNKNOWN,  # type: ignore[assignment]
) -> None:
    """Write the line: straight to atoll's own handler when it is the only one, else logged."""
    if handler is _UNKNOWN:
        handler = None if error is not None else _sole_handler(logger)
    if handler is None:
        logger.log(level, message, extra={"fields": fields}, exc_info=error)
        return
    formatter: Any = handler.formatter
    context = current_log_context()
    if type(context) is RequestContext:
        context = context.fields()
    line = formatter.line(time.time(), level, logger.name, message, fields, context)
    _written(handler, (line + "\n").encode())


def _queue(
    handler: logging.Handler,
    formatter: JsonFormatter,
    unchecked: str,
    line: _RequestLine | _CallLine,
) -> None:
    """Queue ``line`` on ``handler`` when it takes lines to write together, else write it.

    ``unchecked``: the text of the line nobody has looked at for secrets yet, looked at with
    the rest of the queue (see :meth:`JsonFormatter.queued`). A handler that queues (atoll's)
    encodes and writes its queue within :data:`FLUSHED_WITHIN` seconds, or at once when it
    writes a record meanwhile, or when :data:`QUEUED_AT_MOST` lines wait (a queue whose loop
    ended before its flush).
    """
    try:
        queued: list[Any] = handler.queued  # type: ignore[attr-defined]
    except AttributeError:  # a handler that does not queue: written at once
        _written(handler, formatter.queued([unchecked, line]))
        return
    queued.extend((unchecked, line))  # one call: a thread writing the queue takes both
    waiting = len(queued)
    if waiting == _PAIR:
        asyncio.get_running_loop().call_later(FLUSHED_WITHIN, handler.flush)
    elif waiting >= QUEUED_AT_MOST * _PAIR:
        handler.flush()


_PAIR = 2
"""Entries of a queue per line: its unchecked text, and itself."""
QUEUED_AT_MOST = 256
"""Lines a handler's queue holds at most: a longer one is written at once."""


def _written(handler: logging.Handler, line: bytes) -> None:
    """Write ``line`` (UTF-8, whole) to ``handler``'s stream, flushed within a moment.

    Into the stream's buffer when it has one (stderr's, a file's), and flushed within
    :data:`FLUSHED_WITHIN` seconds, or at once when a record is logged meanwhile: a flush (a
    write to the file) per line would cost each request more than its line.
    """
    if getattr(handler, "queued", None):  # the lines queued before this one go first
        handler.write_queued()  # type: ignore[attr-defined] # a handler that queues has it
    stream: Any = handler.stream  # type: ignore[attr-defined] # a handler that writes lines has one
    try:
        target = stream.buffer
    except AttributeError:  # a stream of text alone, such as io.StringIO
        target = None
    if target is None:
        with handler.lock:  # type: ignore[union-attr] # a handler's lock is made with it
            stream.write(line.decode())
            stream.flush()
        return
    # A buffered stream takes each write whole under a lock of its own; the text layer above
    # it, which the handler's records go through, passes it whole lines.
    target.write(line)
    loop = asyncio.get_running_loop()
    if _Flush.due_on is not loop:  # none due, or due on a loop that ended before it came
        _Flush.due_on = loop
        loop.call_later(FLUSHED_WITHIN, _Flush.now, handler, target)


FLUSHED_WITHIN = 0.1
"""Seconds an access line may wait in its stream's buffer before it is written out."""


class _Flush:
    """The loop a flush of the buffered access lines is due on, if one is."""

    due_on: asyncio.AbstractEventLoop | None = None

    @classmethod
    def now(cls, handler: logging.Handler, target: Any) -> None:
        cls.due_on = None
        with handler.lock:  # type: ignore[union-attr]
            target.flush()


class _RequestLine(msgspec.Struct, gc=False, omit_defaults=True):
    """An HTTP request's access line, as JSON: the members in JsonFormatter's order."""

    time: str
    level: str
    logger: str
    message: str
    service: str
    instance: str
    method: str
    route: str | None
    path: str
    status: int
    bytes: int
    duration_ms: float
    client: str | None
    correlation_id: str
    handler: str | None = None
    rpc_method: str | None = None
    subject: str | None = None
    trace_id: str | None = None
    span_id: str | None = None


class _CallLine(msgspec.Struct, gc=False, omit_defaults=True):
    """A JSON-RPC call's access line, as JSON: the members in JsonFormatter's order."""

    time: str
    level: str
    logger: str
    message: str
    service: str
    instance: str
    rpc_method: str
    outcome: str
    duration_ms: float
    correlation_id: str
    error_code: int | None = None
    handler: str | None = None
    subject: str | None = None
    trace_id: str | None = None
    span_id: str | None = None


_LEVEL_NAMES = {logging.INFO: "info", logging.ERROR: "error"}


class _StatusText(dict[int, str]):
    """A status code's text, ``"200"``, made once.

    Formatting the integer in each line's message cost it 0.4k CPU instructions more.
    """

    def __missing__(self, status: int) -> str:
        text = self[status] = str(status)
        return text


_STATUS_TEXT = _StatusText()


def _sole_handler(logger: logging.Logger) -> logging.Handler | None:
    """The handler every record of ``logger`` goes to, if it is atoll's own and no other.

    What was found is kept per logger while the root's handler, its formatter and its filters
    stay the same: the look costs every access line.
    """
    handlers = logging.root.handlers
    if len(handlers) != 1:
        return None
    handler = handlers[0]
    known = _FOUND.get(logger)
    if (
        known is None
        or known[0] is not handler
        or known[1] is not handler.formatter
        or known[2] != len(handler.filters)
    ):
        known = _FOUND[logger] = _found(logger, handler)
    for each in known[3]:  # a handler added on the way since
        if each.handlers:
            return None
    return known[4]


def _found(logger: logging.Logger, handler: logging.Handler) -> _Found:
    """Whether ``handler``, the root's only one, takes ``logger``'s records alone, as atoll's."""
    chain: list[logging.Logger] = []
    each: logging.Logger | None = logger
    alone = True
    while each is not None and each is not logging.root:
        chain.append(each)
        alone = alone and each.propagate
        each = each.parent
    alone = (
        alone
        and getattr(handler, "writes_lines", False)
        and not handler.filters[1:]  # a filter atoll did not put there sees every record
        and getattr(handler.formatter, "makes_lines", False)  # not a format of the app's own
    )
    sole = handler if alone else None
    return (handler, handler.formatter, len(handler.filters), tuple(chain), sole)


_Found: TypeAlias = (
    "tuple[logging.Handler, logging.Formatter | None, int, tuple[logging.Logger, ...], "
    "logging.Handler | None]"
)
_FOUND: dict[logging.Logger, _Found] = {}
