"""The engine: graphql-core executing a schema's documents, each parsed and validated once.

A document is parsed, validated (the specification's rules, the depth and field limits, and
no introspection with ``--no-graphql-introspection``) and kept, by its text, for the next
request that sends it: what a client sends is its few queries again and again, and parsing
and validating cost more than executing a small one. At most :data:`KEPT` documents are
kept, the least recently used dropped first.

Errors become the response's ``errors``, each with ``extensions.code``
(:mod:`atoll.endpoints.graphql.errors`).
"""

from __future__ import annotations

import collections
import inspect
from typing import TYPE_CHECKING, Any

from graphql import (
    ExecutionResult,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    OperationDefinitionNode,
    OperationType,
    execute,
    get_operation_ast,
    parse,
    specified_rules,
    subscribe,
    validate,
)
from graphql.validation import NoSchemaIntrospectionCustomRule

from atoll.endpoints.graphql.engine import Executed
from atoll.endpoints.graphql.errors import (
    BAD_USER_INPUT,
    INTERNAL_SERVER_ERROR,
    PARSE_FAILED,
    VALIDATION_FAILED,
    told,
)

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Mapping, Sequence

    from graphql import DocumentNode, GraphQLSchema, SelectionSetNode

    from atoll.endpoints.graphql.options import GraphQLOptions
    from atoll.messaging.faults import FaultMap

__all__ = ["KEPT", "Engine"]

KEPT = 512
"""Documents kept parsed and validated, by their text."""


class _Refused:
    """A document that did not parse or validate: its errors, told again each time it comes."""

    __slots__ = ("errors",)

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        self.errors = errors


class Engine:
    """A schema, executing documents; see the module.

    Args:
        schema: the executable schema.
        sdl: the schema as SDL.
        fields: each root field: its root type, its signature and the JSON-RPC method it runs.
        faults: how the service's errors are told.
        options: the ``[graphql]`` options: limits, introspection.
    """

    def __init__(
        self,
        schema: GraphQLSchema,
        sdl: str,
        fields: Sequence[tuple[str, str, str]],
        faults: FaultMap,
        options: GraphQLOptions,
    ) -> None:
        self.schema = schema
        self._sdl = sdl
        self._fields = list(fields)
        self.faults = faults
        self.options = options
        self.rules = list(specified_rules)
        if not options.introspection:
            self.rules.append(NoSchemaIntrospectionCustomRule)
        self._kept: collections.OrderedDict[str, DocumentNode | _Refused] = (
            collections.OrderedDict()
        )

    @property
    def sdl(self) -> str:
        """The schema, in the schema definition language."""
        return self._sdl

    @property
    def fields(self) -> Sequence[tuple[str, str, str]]:
        """Each root field: its root type, its signature, and the JSON-RPC method it runs."""
        return self._fields

    async def execute(
        self,
        document: str,
        variables: Mapping[str, Any] | None = None,
        operation: str | None = None,
        *,
        mutations: bool = True,
    ) -> Executed:
        """Run ``document``'s operation with ``variables``; see :class:`GraphQLEngine`."""
        prepared = self._prepared(document)
        if isinstance(prepared, _Refused):
            return Executed({"errors": prepared.errors}, refused=True)
        chosen = get_operation_ast(prepared, operation)
        kind, fields = _operation_of(chosen)
        if not mutations and chosen is not None and chosen.operation is not OperationType.QUERY:
            refusal = _error(
                f"a {chosen.operation.value} is sent with POST, not GET", BAD_USER_INPUT
            )
            return Executed(
                {"errors": [refusal]}, refused=True, mutation=True, operation=kind, fields=fields
            )
        result = execute(
            self.schema,
            prepared,
            context_value={},  # the execution's own: its batches (atoll.adapters.graphql.batches)
            variable_values=dict(variables) if variables else None,
            operation_name=operation,
        )
        if inspect.isawaitable(result):
            result = await result
        return self._response(result, operation=kind, fields=fields)

    async def subscribe(
        self,
        document: str,
        variables: Mapping[str, Any] | None = None,
        operation: str | None = None,
    ) -> Executed | AsyncIterator[Executed]:
        """Subscribe with ``document``; see :class:`GraphQLEngine`."""
        prepared = self._prepared(document)
        if isinstance(prepared, _Refused):
            return Executed({"errors": prepared.errors}, refused=True)
        chosen = get_operation_ast(prepared, operation)
        if chosen is None or chosen.operation is not OperationType.SUBSCRIPTION:
            return await self.execute(document, variables, operation)
        made = subscribe(
            self.schema,
            prepared,
            context_value={},
            variable_values=dict(variables) if variables else None,
            operation_name=operation,
        )
        if inspect.isawaitable(made):
            made = await made
        if isinstance(made, ExecutionResult):
            return self._response(made)
        first = chosen.selection_set.selections[0]
        name = first.alias or first.name if isinstance(first, FieldNode) else None
        return self._stream(made, name.value if name is not None else "")

    async def _stream(
        self, results: AsyncIterator[ExecutionResult], field: str
    ) -> AsyncIterator[Executed]:
        """Each result of ``results``; an error ending the stream as its last result."""
        try:
            async for result in results:
                yield self._response(result)
        except Exception as error:  # noqa: BLE001 - the stream's end, told to its subscriber
            made = told(error, self.faults, field)
            shaped = {"message": made.message, "path": [field], "extensions": made.extensions}
            yield Executed({"data": None, "errors": [shaped]})

    def _prepared(self, document: str) -> DocumentNode | _Refused:
        """``document`` parsed and validated, from those kept or made now (and kept)."""
        kept = self._kept
        prepared = kept.get(document)
        if prepared is not None:
            kept.move_to_end(document)
            return prepared
        prepared = self._prepare(document)
        kept[document] = prepared
        if len(kept) > KEPT:
            kept.popitem(last=False)
        return prepared

    def _prepare(self, document: str) -> DocumentNode | _Refused:
        options = self.options
        size = len(document.encode())
        if size > options.max_document:
            return _Refused(
                [
                    _error(
                        f"the document holds {size} bytes; the service takes at most "
                        f"{options.max_document} (--graphql-max-document)",
                        VALIDATION_FAILED,
                    )
                ]
            )
        try:
            parsed = parse(document)
        except GraphQLError as error:
            return _Refused([_told_error(error, PARSE_FAILED)])
        errors = validate(self.schema, parsed, self.rules)
        if errors:
            return _Refused([_told_error(error, VALIDATION_FAILED) for error in errors])
        too_much = _over_limits(parsed, options)
        if too_much:
            return _Refused([_error(too_much, VALIDATION_FAILED)])
        return parsed

    def _response(
        self, result: ExecutionResult, *, operation: str = "", fields: tuple[str, ...] = ()
    ) -> Executed:
        """What ``result`` answers, its errors told; ``operation`` and ``fields`` are its own."""
        if not result.errors:
            return Executed({"data": result.data}, operation=operation, fields=fields)
        errors = []
        for error in result.errors:
            if not error.path:  # the request's own: a variable that does not fit
                errors.append(_told_error(error, BAD_USER_INPUT))
                continue
            original = error.original_error
            if original is None:  # a null for a non-null field: the service's mistake
                errors.append(_told_error(error, INTERNAL_SERVER_ERROR))
                continue
            field_name = ".".join(str(step) for step in error.path)
            made = told(original, self.faults, field_name)
            errors.append(_shaped(made.message, error, made.extensions))
        if result.data is None and not any(error.path for error in result.errors):
            # it did not run: no data
            return Executed({"errors": errors}, refused=True, operation=operation, fields=fields)
        return Executed({"data": result.data, "errors": errors}, operation=operation, fields=fields)


def _error(message: str, code: str) -> dict[str, Any]:
    return {"message": message, "extensions": {"code": code}}


def _told_error(error: GraphQLError, code: str) -> dict[str, Any]:
    return _shaped(error.message, error, {"code": code})


def _shaped(message: str, error: GraphQLError, extensions: dict[str, Any]) -> dict[str, Any]:
    shaped: dict[str, Any] = {"message": message}
    if error.locations:
        shaped["locations"] = [
            {"line": location.line, "column": location.column} for location in error.locations
        ]
    if error.path is not None:
        shaped["path"] = list(error.path)
    shaped["extensions"] = extensions
    return shaped


def _over_limits(document: DocumentNode, options: GraphQLOptions) -> str | None:
    """What of ``document`` goes past ``--graphql-max-depth`` or ``--graphql-max-fields``."""
    fragments = {
        definition.name.value: definition.selection_set
        for definition in document.definitions
        if isinstance(definition, FragmentDefinitionNode)
    }
    for definition in document.definitions:
        if not isinstance(definition, OperationDefinitionNode):
            continue
        selections = definition.selection_set
        depth, count = _measure(selections, fragments)
        if depth > options.max_depth:
            return (
                f"the document's selections nest {depth} deep; the service takes at most "
                f"{options.max_depth} (--graphql-max-depth)"
            )
        if count > options.max_fields:
            return (
                f"the document selects {count} fields; the service takes at most "
                f"{options.max_fields} (--graphql-max-fields)"
            )
    return None


def _measure(
    selections: SelectionSetNode, fragments: Mapping[str, SelectionSetNode]
) -> tuple[int, int]:
    """How deep ``selections`` nest and how many fields they select, fragments followed.

    Validation has refused fragment cycles by then, so that following spreads ends.
    """
    deepest, count = 0, 0
    for selection in selections.selections:
        if isinstance(selection, FieldNode):
            count += 1
            if selection.selection_set is not None:
                depth, inner = _measure(selection.selection_set, fragments)
                deepest, count = max(deepest, depth + 1), count + inner
            else:
                deepest = max(deepest, 1)
        else:
            if isinstance(selection, FragmentSpreadNode):
                spread = fragments.get(selection.name.value)
            elif isinstance(selection, InlineFragmentNode):
                spread = selection.selection_set
            else:  # pragma: no cover - the specification knows no other selection
                spread = None
            if spread is not None:
                depth, inner = _measure(spread, fragments)
                deepest, count = max(deepest, depth), count + inner
    return deepest, count


def _operation_of(chosen: OperationDefinitionNode | None) -> tuple[str, tuple[str, ...]]:
    """The operation's type (``query``...) and its root fields' names; nothing for none."""
    if chosen is None:
        return "", ()
    fields = tuple(
        selection.name.value
        for selection in chosen.selection_set.selections
        if isinstance(selection, FieldNode)
    )
    return chosen.operation.value, fields
