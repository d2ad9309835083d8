"""A system's map written out: as text, and as a Mermaid flowchart.

Both show each service with its endpoints (REST routes, JSON-RPC methods, GraphQL), its
database, the commands and queries it takes, the events it publishes and consumes, the
commands it sends and the services it calls; the messages travel through the system's one
broker. The picture (an SVG in an HTML page) is :mod:`~atoll.tooling.picture`'s. The output
depends on the declarations alone: the same system gives the same text, byte for byte.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from atoll.tooling.system_map import ServiceMap, SystemMap

__all__ = [
    "BROKER",
    "Edge",
    "edges_of",
    "endpoint_lines",
    "mermaid",
    "messages_of",
    "packed",
    "text",
]

BROKER = "broker: memory:// unless --broker-url"
"""What carries the messages: the system's one broker, chosen by configuration."""

_WIDTH = 96


@dataclass(frozen=True)
class Edge:
    """An arrow of the drawing: ``source`` to ``target``, with what it means.

    ``kind`` is ``takes`` (a command to its service), ``publishes``, ``consumes`` (an event
    to its consumer), ``sends`` (a service to another's command), ``calls`` (a service to
    another) or ``database``.
    """

    source: str
    target: str
    kind: str


def messages_of(system: SystemMap) -> list[tuple[str, str]]:
    """Each message of the system once, ``(name, "command" or "event")``, in order of mention."""
    found: dict[str, str] = {}
    for service in system.services:
        for use in service.commands:
            found.setdefault(use.name, "command")
        for use in service.publishes:
            found.setdefault(use.name, "event")
        for use in service.consumes:
            found.setdefault(use.name, "event")
        for use in service.sends:
            found.setdefault(use.name, "command")
    return list(found.items())


def edges_of(system: SystemMap) -> list[Edge]:
    """The arrows between services, messages and databases, in a fixed order.

    A service is ``service:NAME``, a message ``message:NAME``, a database ``database:NAME``.
    """
    edges: list[Edge] = []
    names = {service.name for service in system.services}
    for service in system.services:
        me = f"service:{service.name}"
        if service.database:
            edges.append(Edge(me, f"database:{service.name}", "database"))
        edges += [Edge(f"message:{u.name}", me, "takes") for u in service.commands]
        edges += [Edge(me, f"message:{u.name}", "publishes") for u in service.publishes]
        edges += [Edge(f"message:{u.name}", me, "consumes") for u in service.consumes]
        edges += [Edge(me, f"message:{u.name}", "sends") for u in service.sends]
        called = sorted({name for name, _ in service.calls if name in names})
        edges += [Edge(me, f"service:{name}", "calls") for name in called]
    return list(dict.fromkeys(edges))


def endpoint_lines(service: ServiceMap) -> list[str]:
    """What ``service`` answers, a line each: its REST routes, then its JSON-RPC methods."""
    lines = list(service.routes)
    if service.methods:
        lines += packed(service.methods, 48, "JSON-RPC: ")
    if service.graphql:
        lines.append("GraphQL")
    return lines


def text(system: SystemMap) -> str:
    """The map as text: the system, then each service and what it declares."""
    names = ", ".join(service.name for service in system.services)
    out = [f"system {system.name}: {names}", f"  {BROKER}"]
    for service in system.services:
        out += ["", f"service {service.name}"]
        for label, value in _rows(system, service):
            lead = f"  {label:<10} "
            lines = packed(value, _WIDTH - len(lead))
            out += [lead + lines[0], *(" " * len(lead) + line for line in lines[1:])]
    return "\n".join(out) + "\n"


def _rows(system: SystemMap, service: ServiceMap) -> list[tuple[str, list[str]]]:
    """What ``service`` declares, a row per kind of thing, those it has none of left out."""
    rows: list[tuple[str, list[str]]] = [
        ("database", ["its own"] if service.database else []),
        ("REST", service.routes),
        ("JSON-RPC", service.methods),
        ("GraphQL", ["yes"] if service.graphql else []),
        ("timers", service.timers),
        ("takes", [u.name for u in service.commands]),
        ("publishes", [_to(system, u.name) for u in service.publishes]),
        ("consumes", [_from(system, u.name) for u in service.consumes]),
        ("sends", [u.name for u in service.sends]),
        ("calls", list(dict.fromkeys(name for name, _ in service.calls))),
    ]
    return [row for row in rows if row[1]] or [("declares", ["no endpoint and no message"])]


def packed(items: list[str], width: int, first: str = "") -> list[str]:
    """``items`` joined with commas into lines of at most ``width`` characters, where they fit.

    An item is never broken; ``first`` opens the first line.
    """
    lines = [first]
    for index, item in enumerate(items):
        piece = item + ("," if index < len(items) - 1 else "")
        if lines[-1] not in {"", first} and len(lines[-1]) + 1 + len(piece) > width:
            lines[-1] = lines[-1].rstrip()
            lines.append("")
        lines[-1] += ("" if lines[-1] in {"", first} else " ") + piece
    return lines


def _to(system: SystemMap, event: str) -> str:
    consumers = system.consumers(event)
    return f"{event} (to {', '.join(consumers) if consumers else 'no service'})"


def _from(system: SystemMap, event: str) -> str:
    publishers = system.publishers(event)
    return f"{event} (from {', '.join(publishers) if publishers else 'no service'})"


def node_id(node: str) -> str:
    """A Mermaid node id for ``kind:name``: letters, digits and underscores."""
    kind, _, name = node.partition(":")
    return f"{kind[0]}_{re.sub(r'[^A-Za-z0-9]', '_', name)}"


def _label(lines: list[str]) -> str:
    return "<br/>".join(line.replace('"', "#quot;") for line in lines)


_ARROWS = {
    "takes": "-->",
    "publishes": "-->",
    "consumes": "-->",
    "sends": "-.->",
    "calls": "-.->",
    "database": "---",
}


def mermaid(system: SystemMap) -> str:
    """The map as a Mermaid flowchart (``flowchart LR``), messages inside the broker."""
    out = ["flowchart LR"]
    for service in system.services:
        lines = [f"<b>{service.name}</b>", *endpoint_lines(service)]
        out.append(f'  {node_id("service:" + service.name)}["{_label(lines)}"]')
        if service.database:
            out.append(f'  {node_id("database:" + service.name)}[("{service.name} database")]')
    messages = messages_of(system)
    if messages:
        out.append(f'  subgraph broker["{BROKER}"]')
        for name, kind in messages:
            shape = ('[/"', '"/]') if kind == "command" else ('>"', '"]')
            out.append(f"    {node_id('message:' + name)}{shape[0]}{name}{shape[1]}")
        out.append("  end")
    for edge in edges_of(system):
        arrow = _ARROWS[edge.kind]
        label = "" if edge.kind == "database" else f"|{edge.kind}|"
        out.append(f"  {node_id(edge.source)} {arrow}{label} {node_id(edge.target)}")
    return "\n".join(out) + "\n"
