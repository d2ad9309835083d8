"""``atoll check``'s rules run over a project and its system: every finding, sorted.

The import rules (:mod:`~atoll.tooling.layering`) and the work done at import
(:mod:`~atoll.tooling.import_work`) are read from the project; two more come from the map of
its system (:mod:`~atoll.tooling.system_map`):

- **untested handlers**: a handler of the project that no test file of the project names.
  A test names it when its text holds the handler's function name or one of its JSON-RPC
  method names as a word, one of its REST paths (each ``{parameter}`` standing for any
  segment, in quotes: ``"/runs/7"``, ``f"/runs/{run.id}"``), or, for a command, query or
  event handler, its message's class constructed (``RecordRun(``); a name in camel case
  (``runRecorded``) counts for a GraphQL field. It is a reading of the
  text, not a coverage measure: a test that names a handler without calling it counts, and
  a handler reached only through another's (a command sent by a handler) does not;
- **events** published by a service of the system that none of its services consumes, and
  consumed by one that none publishes, matched by their names on the wire.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from atoll.tooling.findings import Finding, without_allowed
from atoll.tooling.import_work import import_findings
from atoll.tooling.layering import layer_findings, layered_homes, service_findings

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence
    from pathlib import Path

    from atoll.tooling.project import Project
    from atoll.tooling.system_map import HandlerEntry, SystemMap

__all__ = ["check_project", "handler_findings", "message_findings", "naming_patterns"]


def check_project(
    project: Project, system: SystemMap | None, tests: Sequence[Path] | None = None
) -> list[Finding]:
    """Every finding in ``project``, sorted by file and line, those its lines allow left out.

    Args:
        project: the project's packages.
        system: its system's map; without one, the services are read from the layout alone,
            and the handler and message rules are not run.
        tests: the test files to look for handlers in; the project's by default.
    """
    if system is None:
        homes = layered_homes(project)
    else:
        homes = {s.name: s.home for s in system.services if s.home is not None}
    found = [*layer_findings(project), *service_findings(project, homes)]
    found += import_findings(project)
    if system is not None:
        found += handler_findings(project, system, project.test_files() if tests is None else tests)
        found += message_findings(project, system)
    return without_allowed(found)


def naming_patterns(handler: HandlerEntry) -> list[re.Pattern[str]]:
    """What a test's text holds when it names ``handler`` (see the module's docstring)."""
    words = {handler.name.rpartition(".")[2], *(m.rpartition(".")[2] for m in handler.methods)}
    words |= {_camel(word) for word in words}  # a GraphQL field's name
    patterns = [re.compile(rf"(?<!\w){re.escape(word)}\b") for word in sorted(words)]
    for route in handler.routes:
        path = route.partition(" ")[2]
        pieces = re.split(r"\{[^}]*\}", path)
        if path == "/":
            continue  # "/" is in every test
        body = r"(?:\{[^}]*\}|[^/\s\"'{}]+)".join(re.escape(piece) for piece in pieces)
        patterns.append(re.compile(rf"[\"']{body}(?:[\"'?#])"))
    if handler.message is not None:
        patterns.append(re.compile(rf"\b{re.escape(handler.message.__name__)}\("))
    return patterns


def _camel(name: str) -> str:
    first, *rest = name.split("_")
    return first + "".join(part.capitalize() for part in rest)


def handler_findings(
    project: Project, system: SystemMap, tests: Sequence[Path]
) -> Iterator[tuple[Finding, Path]]:
    """The project's handlers that no test in ``tests`` names."""
    texts = []
    for test in tests:
        try:
            texts.append(test.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError):
            continue
    for service in system.services:
        for handler in service.handlers:
            place = handler.place
            if place is None or not project.owns(place.path):
                continue
            patterns = naming_patterns(handler)
            if any(pattern.search(text) for pattern in patterns for text in texts):
                continue
            answers = [*handler.routes, *(f"JSON-RPC {m}" for m in handler.methods)]
            if handler.message is not None:
                answers.append(handler.message.__name__)
            yield (
                Finding(
                    project.shown(place.path),
                    place.line,
                    "untested-handler",
                    f"no test names handler {handler.name} of service {service.name!r}"
                    + (f" ({', '.join(answers)})" if answers else ""),
                    "write a test that calls it (by its route, its method or its message); "
                    "atoll check looks for its name, route, method or message in the tests",
                ),
                place.path,
            )


_EVENT_FIXES = {
    "unconsumed-event": (
        "consume it (@service.on), stop publishing it, or, when it is for consumers outside "
        "the system"
    ),
    "unpublished-event": (
        "declare its publisher's service.publishes(...), or, when it comes from outside the system"
    ),
}
"""What to do about an event one side of the system lacks, before the way to say it is meant."""


def message_findings(project: Project, system: SystemMap) -> Iterator[tuple[Finding, Path]]:
    """Events published and consumed by no service of ``system``, and the other way round."""
    for service in system.services:
        sides = (
            (service.publishes, system.consumers, "publishes", "consumes", "unconsumed-event"),
            (service.consumes, system.publishers, "consumes", "publishes", "unpublished-event"),
        )
        for uses, others, does, nobody, kind in sides:
            for use in uses:
                if others(use.name) or use.place is None or not project.owns(use.place.path):
                    continue
                yield (
                    Finding(
                        project.shown(use.place.path),
                        use.place.line,
                        kind,
                        f"service {service.name!r} {does} {use.name}, which no service of "
                        f"system {system.name!r} {nobody}",
                        f"{_EVENT_FIXES[kind]}, say so on this line: # atoll: allow[{kind}] - why",
                    ),
                    use.place.path,
                )
