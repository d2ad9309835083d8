"""Fields resolved in batches: one handler call for every parent of a level of a document.

A field declared ``@service.field(User, batched=True)`` is asked for by each ``User`` of a
list; graphql-core starts the resolvers of a list's items together, and each asks the
execution's :class:`Batch` of the field (and arguments) for its value. The first to ask
schedules the batch on the event loop's next turn, by which time every sibling has asked:
then the handler runs once with the list of parents, and each resolver gets its value.
This is what the DataLoader pattern does, without its cache: a document's execution is short,
and a value read twice in it is read from the same parent.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from atoll.errors import ConfigError

if TYPE_CHECKING:
    from atoll.endpoints.graphql.fields import FieldOfObject

__all__ = ["Batch", "batch_of"]


class Batch:
    """The parents waiting for one field's value, with the same arguments, in one execution.

    Args:
        field: the batched field.
        arguments: the field's arguments, by the handler's parameter names.
    """

    def __init__(self, field: FieldOfObject, arguments: dict[str, Any]) -> None:
        self.field = field
        self.arguments = arguments
        self._parents: list[Any] = []
        self._waiting: list[asyncio.Future[Any]] = []
        self._running: set[asyncio.Task[None]] = set()

    def load(self, parent: Any) -> asyncio.Future[Any]:
        """The field's value for ``parent``, once the batch has run."""
        loop = asyncio.get_running_loop()
        waiting: asyncio.Future[Any] = loop.create_future()
        self._parents.append(parent)
        self._waiting.append(waiting)
        if len(self._parents) == 1:  # the first of the level: the others ask before the turn ends
            loop.call_soon(self._flush)
        return waiting

    def _flush(self) -> None:
        parents, waiting = self._parents, self._waiting
        self._parents, self._waiting = [], []
        task = asyncio.get_running_loop().create_task(self._run(parents, waiting))
        self._running.add(task)
        task.add_done_callback(self._running.discard)

    async def _run(self, parents: list[Any], waiting: list[asyncio.Future[Any]]) -> None:
        try:
            values = await self._values(parents)
        except Exception as error:  # noqa: BLE001 - each resolver raises it, and it is told there
            for future in waiting:
                if not future.done():
                    future.set_exception(error)
            return
        for future, value in zip(waiting, values, strict=True):
            if not future.done():
                future.set_result(value)

    async def _values(self, parents: list[Any]) -> list[Any]:
        """The handler's values for ``parents``, one each.

        Raises:
            ConfigError: the handler returned another number of values.
        """
        method = self.field.method
        if method.admit is not None:
            await method.admit()
        values = await method.call({self.field.parent_parameter: parents, **self.arguments})
        if len(values) != len(parents):
            raise ConfigError(
                f"{self.field.handler.label} is batched: it was given {len(parents)} parents "
                f"and returned {len(values)} values; return one per parent, in order"
            )
        return list(values)


def batch_of(context: dict[Any, Any], field: FieldOfObject, arguments: dict[str, Any]) -> Batch:
    """The batch of ``field`` with ``arguments`` in the execution whose context is ``context``."""
    key = (id(field), repr(sorted(arguments.items())))
    batch = context.get(key)
    if batch is None:
        batch = context[key] = Batch(field, arguments)
    return batch
