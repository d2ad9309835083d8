"""Faults: how an application error is told to a caller, the same way on every transport.

A service declares which of its domain's exceptions a caller may see, and how:
``service.error(EmailTakenError, status=409)``. REST answers with that status and an RFC 9457
problem document, JSON-RPC with an error object whose code is in the application range
(-32000 to -32099). Any other exception is unexpected: the caller learns only that something
failed and the correlation id under which it was logged, never the exception's text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from atoll.errors import ConfigError

__all__ = ["APPLICATION_CODES", "Fault", "FaultMap", "FaultRule"]

APPLICATION_CODES = range(-32099, -32000 + 1)
"""The JSON-RPC codes reserved for implementation-defined server errors."""

# Where a word starts inside a CamelCase name: after a lower-case letter or digit, or at the
# last capital of an acronym followed by a lower-case letter (HTTPTimeout -> HTTP Timeout).
_WORD_START = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")


@dataclass(frozen=True, slots=True)
class FaultRule:
    """How one exception type is told to callers."""

    status: int
    code: int
    title: str


@dataclass(frozen=True, slots=True)
class Fault:
    """An application error as a caller sees it."""

    status: int
    """The HTTP status of a REST response."""
    code: int
    """The JSON-RPC error code, in -32000..-32099."""
    title: str
    """A short, stable summary of the kind of error, such as ``"email taken"``."""
    detail: str
    """What went wrong this time: the exception's message."""
    data: dict[str, Any] = field(default_factory=dict)
    """Machine-readable details; always holds ``type``, the exception's class name."""


class FaultMap:
    """Exception types a caller may see, each with its status, code and title."""

    def __init__(self) -> None:
        self._rules: dict[type[BaseException], FaultRule] = {}

    def add(
        self,
        error: type[BaseException],
        *,
        status: int = 400,
        code: int = -32000,
        title: str | None = None,
    ) -> None:
        """Let callers see ``error`` (and its subclasses) with this status, code and title.

        Raises:
            ConfigError: the status is not a 4xx or 5xx, or the code is outside -32000..-32099.
        """
        candidate: object = error  # checked at run time too: a caller may pass anything
        if not (isinstance(candidate, type) and issubclass(candidate, BaseException)):
            raise ConfigError(f"{error!r} is not an exception class; pass the class itself")
        if not 400 <= status <= 599:  # noqa: PLR2004 - the HTTP error range
            raise ConfigError(
                f"status {status} for {error.__name__} is not an HTTP error status; "
                "use 400..599, such as 409 for a conflict"
            )
        if code not in APPLICATION_CODES:
            raise ConfigError(
                f"JSON-RPC code {code} for {error.__name__} is outside the application range; "
                "use -32000..-32099 (the others are the protocol's own)"
            )
        self._rules[error] = FaultRule(status, code, title or _words(error.__name__))

    def update(self, other: FaultMap) -> None:
        """Add every rule of ``other``; its rules win where both name one type."""
        self._rules.update(other._rules)

    def describe(self, error: BaseException) -> Fault | None:
        """The fault to tell a caller about ``error``, or None if it is unexpected."""
        for klass in type(error).__mro__:
            rule = self._rules.get(klass)
            if rule is not None:
                return Fault(
                    status=rule.status,
                    code=rule.code,
                    title=rule.title,
                    detail=str(error) or rule.title,
                    data={"type": type(error).__name__, **getattr(error, "fault_data", {})},
                )
        return None

    def rules(self) -> list[FaultRule]:
        """The rules, in the order they were added."""
        return list(self._rules.values())

    def by_error(self) -> list[tuple[type[BaseException], FaultRule]]:
        """Each exception type with its rule, in the order they were added."""
        return list(self._rules.items())

    def __len__(self) -> int:
        return len(self._rules)


def _words(name: str) -> str:
    """``EmailTakenError`` -> ``"email taken"``; an acronym stays one word (``"http timeout"``)."""
    stem = name.removesuffix("Error") or name
    return _WORD_START.sub(" ", stem).lower()
