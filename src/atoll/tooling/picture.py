"""A system's map as a picture: a standalone HTML page holding one SVG, laid out in columns.

The databases on the left, the services in the middle (each box lists its endpoints), the
messages on the right, inside the broker; arrows for the commands each service takes, the
events it publishes and consumes and the commands it sends, curves on the left for the calls
between services. No script, no style sheet or font from elsewhere: the page reads offline,
and the same system gives the same page, byte for byte.
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape
from typing import TYPE_CHECKING

from atoll.tooling.graph import BROKER, edges_of, endpoint_lines, messages_of

if TYPE_CHECKING:
    from atoll.tooling.system_map import SystemMap

__all__ = ["html_page", "svg"]

_LINE = 16
_PAD = 10
_GAP = 28
_TOP = 60
_DATABASE_X, _DATABASE_W = 130, 150
_SERVICE_X, _SERVICE_W = 330, 330
_MESSAGE_X, _MESSAGE_W = 780, 250
_MESSAGE_H = 30
_CHAR = 7.2  # the width of a character of the 12px monospace font, about
_COLORS = {
    "takes": "#1f6feb",
    "publishes": "#2da44e",
    "consumes": "#2da44e",
    "sends": "#1f6feb",
    "calls": "#8250df",
    "database": "#6e7781",
}
_LEGEND = (
    ("takes", "a command or query it takes"),
    ("publishes", "an event published, then consumed"),
    ("sends", "a command it sends (dashed)"),
    ("calls", "a call to another service (dashed)"),
)


@dataclass(frozen=True)
class _Box:
    x: float
    y: float
    width: float
    height: float

    @property
    def middle(self) -> float:
        return self.y + self.height / 2


def _fit(text: str, width: float) -> str:
    """``text`` cut to what fits in ``width`` pixels, an ellipsis at the end if cut."""
    room = int((width - 2 * _PAD) / _CHAR)
    return text if len(text) <= room else text[: room - 1] + "\u2026"


def svg(system: SystemMap) -> str:
    """The picture of ``system``, an ``<svg>`` element."""
    boxes: dict[str, _Box] = {}
    parts: list[str] = []
    y = _TOP
    for service in system.services:
        lines = endpoint_lines(service)
        height = _PAD * 2 + _LINE * (1 + len(lines))
        box = _Box(_SERVICE_X, y, _SERVICE_W, height)
        boxes[f"service:{service.name}"] = box
        parts.append(
            f'<g class="service"><rect x="{box.x}" y="{box.y}" width="{box.width}" '
            f'height="{box.height}" rx="6" fill="#f6f8fa" stroke="#24292f"/>'
        )
        parts.append(
            f'<text x="{box.x + _PAD}" y="{box.y + _PAD + 12}" font-weight="bold">'
            f"{escape(service.name)}</text>"
        )
        for index, line in enumerate(lines):
            parts.append(
                f'<text x="{box.x + _PAD}" y="{box.y + _PAD + 12 + _LINE * (index + 1)}">'
                f"{escape(_fit(line, box.width))}</text>"
            )
        parts.append("</g>")
        if service.database:
            db = _Box(_DATABASE_X, box.middle - 20, _DATABASE_W, 40)
            boxes[f"database:{service.name}"] = db
            parts.append(
                f'<g class="database"><rect x="{db.x}" y="{db.y}" width="{db.width}" '
                f'height="{db.height}" rx="14" fill="#fff8c5" stroke="#9a6700"/>'
                f'<text x="{db.x + _PAD}" y="{db.middle + 4}">'
                f"{escape(_fit(service.name + ' database', db.width))}</text></g>"
            )
        y += height + _GAP
    services_bottom = y
    messages = messages_of(system)
    y = _TOP + 30
    for name, kind in messages:
        box = _Box(_MESSAGE_X, y, _MESSAGE_W, _MESSAGE_H)
        boxes[f"message:{name}"] = box
        fill = "#ddf4ff" if kind == "command" else "#dafbe1"
        parts.append(
            f'<g class="{kind}"><rect x="{box.x}" y="{box.y}" width="{box.width}" '
            f'height="{box.height}" rx="{3 if kind == "command" else 12}" fill="{fill}" '
            f'stroke="#24292f"/><text x="{box.x + _PAD}" y="{box.middle + 4}">'
            f"{escape(_fit(name, box.width))}</text></g>"
        )
        y += _MESSAGE_H + 12
    messages_bottom = y
    if messages:
        parts.insert(
            0,
            f'<g class="broker"><rect x="{_MESSAGE_X - 15}" y="{_TOP}" '
            f'width="{_MESSAGE_W + 30}" height="{messages_bottom - _TOP + 3}" rx="8" '
            'fill="none" stroke="#6e7781" stroke-dasharray="6 4"/>'
            f'<text x="{_MESSAGE_X - 5}" y="{_TOP + 20}">{escape(BROKER)}</text></g>',
        )
    parts += _arrows(system, boxes)
    height = max(services_bottom, messages_bottom) + 20
    parts += _legend(height)
    height += 20 * len(_LEGEND) + 20
    width = _MESSAGE_X + _MESSAGE_W + 40
    title = f"{system.name}: {len(system.services)} services, {len(messages)} messages"
    return "\n".join(
        [
            (
                f'<svg width="{width}" height="{height}" '
                f'viewBox="0 0 {width} {height}" font-family="monospace" font-size="12" '
                'role="img">'
            ),
            f"<title>{escape(title)}</title>",
            "<defs>",
            *(
                f'<marker id="arrow-{kind}" viewBox="0 0 10 10" refX="10" refY="5" '
                'markerWidth="7" markerHeight="7" orient="auto-start-reverse">'
                f'<path d="M 0 0 L 10 5 L 0 10 z" fill="{color}"/></marker>'
                for kind, color in _COLORS.items()
            ),
            "</defs>",
            f'<text x="20" y="30" font-size="18" font-weight="bold">{escape(system.name)}</text>',
            *parts,
            "</svg>",
        ]
    )


def _arrows(system: SystemMap, boxes: dict[str, _Box]) -> list[str]:
    parts: list[str] = []
    calls = 0
    for edge in edges_of(system):
        source, target = boxes[edge.source], boxes[edge.target]
        color = _COLORS[edge.kind]
        dashed = ' stroke-dasharray="5 4"' if edge.kind in {"sends", "calls"} else ""
        marker = "" if edge.kind == "database" else f' marker-end="url(#arrow-{edge.kind})"'
        if edge.kind == "calls":
            calls += 1
            bend = source.x - 30 - 12 * calls
            path = (
                f"M {source.x} {source.middle - 6} C {bend} {source.middle - 6}, "
                f"{bend} {target.middle + 6}, {target.x} {target.middle + 6}"
            )
        elif edge.kind == "database":
            path = f"M {source.x} {source.middle} L {target.x + target.width} {target.middle}"
        elif edge.source.startswith("service:"):  # to a message, on the right
            path = f"M {source.x + source.width} {source.middle} L {target.x} {target.middle}"
        else:  # from a message, on the right, to a service
            path = f"M {source.x} {source.middle} L {target.x + target.width} {target.middle}"
        parts.append(
            f'<path class="{edge.kind}" d="{path}" fill="none" stroke="{color}" '
            f'stroke-width="1.5"{dashed}{marker}/>'
        )
    return parts


def _legend(top: float) -> list[str]:
    parts = []
    for index, (kind, words) in enumerate(_LEGEND):
        y = top + 20 * index
        dashed = ' stroke-dasharray="5 4"' if kind in {"sends", "calls"} else ""
        parts.append(
            f'<path d="M 20 {y} L 60 {y}" stroke="{_COLORS[kind]}" stroke-width="1.5"{dashed} '
            f'marker-end="url(#arrow-{kind})"/><text x="70" y="{y + 4}">{escape(words)}</text>'
        )
    return parts


def html_page(system: SystemMap) -> str:
    """A standalone HTML page of ``system``'s picture, well-formed as XML too."""
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en">',
            "<head>",
            '<meta charset="utf-8"/>',
            f"<title>{escape(system.name)}: the system</title>",
            "</head>",
            '<body style="margin: 0; padding: 16px; background: #ffffff;">',
            svg(system),
            "</body>",
            "</html>",
            "",
        ]
    )
