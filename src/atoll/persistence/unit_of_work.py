"""The unit of work: one atomic change to a service's aggregates, with the events it raised.

::

    class RunsUnitOfWork(UnitOfWork):
        runs: Repository[Run]

    @service.command(RecordRun)
    async def record_run(command: RecordRun, uow: RunsUnitOfWork) -> int:
        async with uow:
            run = await uow.runs.add(Run.record(command))      # run.events: [RunRecorded]
            await uow.commit()
        return run.id

A unit of work is an async context. Inside it, repositories load and add aggregates, and the
unit of work tracks each of them. ``commit`` writes their changes and, in the same
transaction, the events they raised (each aggregate's ``events`` list, and those given to
:meth:`UnitOfWork.publish`) to the outbox; an outbox relay hands them to the broker once they
are committed, so that a crash between the commit and the publish loses nothing. Leaving the
block without ``commit`` rolls everything back.

When the handler is consuming a delivered message (see
:class:`~atoll.messaging.envelope.Delivery`), the unit of work also keeps an inbox: entering
raises :class:`~atoll.errors.DuplicateMessageError` when the message's effect is already
committed, which the bus takes as done, and ``commit`` records the message id with the effect.
"""

from __future__ import annotations

import typing
import uuid
from typing import TYPE_CHECKING, Any, Self

from atoll.errors import (
    ConfigError,
    ConflictError,
    DuplicateMessageError,
    PersistenceError,
    TooManyConflictsError,
)
from atoll.kernel.logs import current_log_context
from atoll.kernel.spans import current_span
from atoll.messaging.context import current_call
from atoll.messaging.envelope import NO_DELIVERY, Delivery, seal
from atoll.persistence.idempotency import HOLD
from atoll.persistence.repository import Repository, repository_for

if TYPE_CHECKING:
    from collections.abc import Awaitable
    from types import TracebackType

    from atoll.messaging.envelope import Envelope
    from atoll.persistence.ports import Database, Transaction
    from atoll.persistence.schema import Mapping

__all__ = ["UnitOfWork", "cached_repositories"]

_CARRIED = ("traceparent", "tracestate", "subject", "subject_kind")
"""Headers of a delivery that the events raised while handling it carry on: the trace
context, and who caused the first message."""

T = typing.TypeVar("T")


class UnitOfWork:
    """An atomic change to one service's aggregates; subclass it to name its repositories.

    Each annotation of a subclass that is a repository (``runs: Repository[Run]``, or a
    subclass of :class:`Repository`) becomes an attribute holding one for this unit of work.
    ``repositories`` maps other annotations (a domain's repository protocol) to the
    :class:`Repository` subclass that implements them.

    Args:
        database: the service's database.
        delivery: the delivered message this unit of work consumes, if any.
        repositories: implementations of annotated repository ports, by port.
    """

    def __init__(
        self,
        database: Database,
        delivery: Delivery = NO_DELIVERY,
        repositories: dict[Any, type[Repository[Any]]] | None = None,
    ) -> None:
        self.database = database
        self.delivery = delivery
        self._transaction: Transaction | None = None
        self._done = False
        self._tracked: dict[int, tuple[Mapping, object]] = {}
        self._published: list[Envelope] = []
        self._header_values: dict[str, str] | None = None
        for name, repository in cached_repositories(type(self), repositories).items():
            setattr(self, name, repository(self))

    # -- the block ---------------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        if self._transaction is not None or self._done:
            raise PersistenceError(
                f"{type(self).__name__} is entered once: a unit of work is one `async with` "
                "block; a handler gets a new one for each call"
            )
        self._transaction = await self._guard(self.database.begin())
        delivery = self.delivery
        try:
            seen = delivery.message_id is not None and await self._guard(
                self._transaction.seen(delivery.consumer, delivery.message_id)
            )
        except BaseException:
            await self._end()  # __aexit__ does not run when entering fails
            raise
        if seen:
            await self._end()
            raise DuplicateMessageError(
                f"{delivery.consumer} has committed the effect of message "
                f"{delivery.message_id} already; it is acknowledged and skipped"
            )
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._transaction is not None:
            await self._end()

    async def commit(self) -> None:
        """Write every change, the events raised, and the inbox entry, in one transaction.

        The unit of work is over afterwards.

        The idempotency key the call holds, if any (kept in this database), is marked
        committed with them: a retry of the call then never runs it again.

        Raises:
            ConflictError: a concurrent change won; the bus runs the handler again.
            DuplicateMessageError: a twin delivery of the message committed first.
            IdempotencyKeyInUseError: the call's idempotency key was taken over meanwhile.
        """
        transaction = self._open("commit")
        outbox = [*self._collect(), *self._published]
        delivery = self.delivery
        inbox = (
            (delivery.consumer, delivery.message_id) if delivery.message_id is not None else None
        )
        key = HOLD.get()
        if key is not None and key.store is not self.database.keys:
            key = None  # the call's key is kept by another service's database
        span = current_span()
        if span is not None:  # traces on: the commit is a span of its own
            span = span.child(
                "commit",
                "internal",
                {"db.operation.name": "COMMIT", "atoll.outbox.events": len(outbox)},
            )
        try:
            if key is None:
                await self._guard(transaction.commit(outbox, inbox))
            else:
                await self._guard(transaction.commit(outbox, inbox, key))
                key.committed = True
        except BaseException as error:
            if span is not None:
                span.fail(error)
                span.end()
            await self._end()
            raise
        if span is not None:
            span.end()
        await self._end(rollback=False)
        if outbox:
            self.database.outbox_signal.notify()

    async def rollback(self) -> None:
        """Forget every change; the unit of work is over afterwards."""
        if self._transaction is not None:
            await self._end()

    def publish(self, *events: object, stream: str = "") -> None:
        """Raise ``events`` through the outbox, committed with the changes, in ``stream``.

        For events that belong to no aggregate; an aggregate's own go in its ``events`` list.
        """
        self._open("publish events")
        self._published.extend(
            seal(event, stream=stream, headers=self._headers()) for event in events
        )

    # -- what repositories use ---------------------------------------------------------------

    def mapping(self, aggregate: type) -> Mapping:
        """How ``aggregate`` is kept in this unit of work's database."""
        return self.database.schema.mapping(aggregate)

    def transaction(self, what: str) -> Transaction:
        """The open transaction, for a repository's own queries.

        Raises:
            PersistenceError: the unit of work is not entered, or is over.
        """
        return self._open(what)

    def track(self, mapping: Mapping, aggregate: object) -> None:
        """Collect the events ``aggregate`` raises, on commit."""
        self._tracked.setdefault(id(aggregate), (mapping, aggregate))

    async def run(self, operation: Awaitable[T]) -> T:
        """Await ``operation`` on the transaction, with its conflicts told how to retry."""
        return await self._guard(operation)

    # -- inside ------------------------------------------------------------------------------

    def _open(self, what: str) -> Transaction:
        if self._transaction is None:
            state = "is over" if self._done else "is not entered"
            raise PersistenceError(
                f"cannot {what}: {type(self).__name__} {state}; use it inside "
                "`async with uow:`, before `await uow.commit()`"
            )
        return self._transaction

    def _collect(self) -> list[Envelope]:
        headers = self._headers()
        outbox: list[Envelope] = []
        for mapping, aggregate in self._tracked.values():
            raised = getattr(aggregate, "events", None)
            if not raised:
                continue
            stream = mapping.stream(aggregate)
            outbox.extend(seal(event, stream=stream, headers=headers) for event in raised)
            raised.clear()
        return outbox

    def _headers(self) -> dict[str, str]:
        """What every event this unit of work raises travels with, the same for all of them.

        ``sender`` is the service; ``correlation_id`` is shared by everything that follows
        from one outside call (the delivery's own, or the one the call's edge put in the log
        context, or new here); ``causation_id`` is the
        message being handled, if any; a ``traceparent`` goes on from the delivery, or, with
        traces on, is the span in progress's (the handler's); ``subject`` and ``subject_kind``
        go on too, who made the outside call (when it proved who).
        """
        if self._header_values is None:
            delivery = self.delivery
            headers: dict[str, str] = {}
            if self.database.service:
                headers["sender"] = self.database.service
            if delivery.message_id is None:  # the outside call's id, given at its edge
                headers["correlation_id"] = (
                    current_log_context().get("correlation_id") or uuid.uuid4().hex
                )
                call = current_call()  # an outside call: who made it, if it proved it
                caller = None if call is None else call.identity
                if caller is not None and caller.kind != "anonymous":
                    headers["subject"] = caller.subject
                    headers["subject_kind"] = caller.kind
            else:
                headers["causation_id"] = delivery.message_id
                headers["correlation_id"] = str(
                    delivery.headers.get("correlation_id") or delivery.message_id
                )
                for carried in _CARRIED:
                    if carried in delivery.headers:
                        headers[carried] = str(delivery.headers[carried])
            span = current_span()
            if (
                span is not None
            ):  # traces on: the events go on in the trace of the span raising them
                headers.pop("tracestate", None)
                span.carry(headers)
            self._header_values = headers
        return self._header_values

    async def _end(self, *, rollback: bool = True) -> None:
        """Over: forget what was tracked and published, rolling back unless it committed."""
        transaction, self._transaction = self._transaction, None
        self._done = True
        self._tracked.clear()
        self._published.clear()
        if transaction is not None and rollback:
            await transaction.rollback()

    async def _guard(self, operation: Awaitable[T]) -> T:
        try:
            return await operation
        except TooManyConflictsError:
            raise
        except ConflictError as conflict:
            options = self.database.options
            raise ConflictError(
                str(conflict),
                retries=options.conflict_retries,
                backoff=options.conflict_backoff,
            ) from conflict


_MADE: dict[tuple[type[UnitOfWork], frozenset[tuple[Any, type]]], dict[str, type[Any]]] = {}


def cached_repositories(
    cls: type[UnitOfWork], implementations: dict[Any, type[Repository[Any]]] | None
) -> dict[str, type[Repository[Any]]]:
    """The repositories ``cls`` declares, with ``implementations``, read once for both.

    A handler call makes a unit of work; reading the annotations again each time would cost
    more than the rest of the unit of work does.
    """
    key = (cls, frozenset((implementations or {}).items()))
    made = _MADE.get(key)
    if made is None:
        made = _MADE[key] = _repositories(cls, implementations or {})
    return made


def _repositories(
    cls: type[UnitOfWork], implementations: dict[Any, type[Repository[Any]]]
) -> dict[str, type[Repository[Any]]]:
    """The repository attributes a unit-of-work class annotates, with what makes each."""
    try:
        hints = typing.get_type_hints(cls)
    except NameError as error:
        raise ConfigError(
            f"the annotations of {cls.__qualname__} name {error.name!r}, which is not defined "
            "where the class is; import it at module level (not under TYPE_CHECKING)"
        ) from error
    found: dict[str, type[Repository[Any]]] = {}
    for name, hint in hints.items():
        if name.startswith("_") or hint is Delivery:
            continue
        maker = _repository_of(hint, implementations)
        if maker is not None:
            found[name] = maker
        elif name not in _OWN_ATTRIBUTES:
            raise ConfigError(
                f"{cls.__qualname__}.{name} is annotated {getattr(hint, '__qualname__', hint)}, "
                "which is no repository: annotate it Repository[Aggregate] or a Repository "
                "subclass, or map it with service.database(..., repositories={Port: Impl})"
            )
    return found


def _repository_of(
    hint: Any, implementations: dict[Any, type[Repository[Any]]]
) -> type[Repository[Any]] | None:
    if hint in implementations:
        return implementations[hint]
    if isinstance(hint, type) and issubclass(hint, Repository):
        return hint
    origin = typing.get_origin(hint)
    if isinstance(origin, type) and issubclass(origin, Repository):
        (aggregate,) = typing.get_args(hint)
        return repository_for(origin, aggregate)
    return None


_OWN_ATTRIBUTES = frozenset({"database", "delivery"})
