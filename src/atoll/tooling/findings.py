"""A finding of ``atoll check``: where, what, the fix; and how a line says it is intended.

A finding is shown as ``path:line: [kind] message; fix: ...``. A finding that is intended
(an event published for consumers outside the system, say) is kept quiet by a comment on its
line, or on the line above it, naming its kind and saying why::

    # atoll: allow[unconsumed-event] - published for consumers outside the system
    service.publishes(UserRegistered)
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence
    from pathlib import Path

__all__ = ["KINDS", "Finding", "allowed", "without_allowed"]

KINDS = {
    "layer-import": "an inner layer imports a framework, infrastructure, or an outer layer",
    "service-internals": "a service imports another service's internals, not its contracts",
    "import-failed": "a module of the project fails to import",
    "import-time-work": "importing a module connects, writes, starts a thread or a process",
    "untested-handler": "no test names the handler, its route, its method or its message",
    "unconsumed-event": "an event is published and no service of the system consumes it",
    "unpublished-event": "an event is consumed and no service of the system publishes it",
}
"""The kinds of finding, each with what it means."""

_ALLOW = re.compile(r"#\s*atoll:\s*allow\[([a-z\-, ]+)\]")


@dataclass(frozen=True, order=True)
class Finding:
    """One thing ``atoll check`` found.

    Args:
        path: the file, as shown.
        line: the line in it, from 1.
        kind: one of :data:`KINDS`.
        message: what is wrong.
        fix: what to do about it.
    """

    path: str
    line: int
    kind: str
    message: str
    fix: str

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            msg = f"{self.kind!r} is no kind of finding; the kinds: {', '.join(KINDS)}"
            raise ValueError(msg)

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: [{self.kind}] {self.message}; fix: {self.fix}"


def allowed(lines: Sequence[str], line: int, kind: str) -> bool:
    """Whether line ``line`` (from 1) of ``lines``, or the one above it, allows ``kind``."""
    for number in (line, line - 1):
        if 1 <= number <= len(lines):
            for match in _ALLOW.finditer(lines[number - 1]):
                if kind in {k.strip() for k in match.group(1).split(",")}:
                    return True
    return False


def without_allowed(findings: Iterable[tuple[Finding, Path]]) -> list[Finding]:
    """The findings (each with its file) whose line does not allow them, sorted, once each."""
    kept: set[Finding] = set()
    texts: dict[Path, list[str]] = {}
    for finding, path in findings:
        if path not in texts:
            try:
                texts[path] = path.read_text(encoding="utf-8").splitlines()
            except OSError:
                texts[path] = []
        if not allowed(texts[path], finding.line, finding.kind):
            kept.add(finding)
    return sorted(kept)
