"""The self-contained pages atoll serves (the API page, the GraphQL page), filled from templates.

A page is one HTML file beside the module serving it, with placeholders such as
``{{title}}``; :func:`fill` puts each value in, escaped, in one pass, so that a value holding
another placeholder's name stays text. The file is read and split once per process.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = ["escape", "fill"]


def fill(package: str, name: str, values: Mapping[str, str]) -> bytes:
    """The page ``name`` of ``package``, each ``{{key}}`` of ``values`` replaced, as UTF-8.

    Args:
        package: the package holding the file (a module's ``__package__``).
        name: the file's name, such as ``"page.html"``.
        values: the text of each placeholder, by its name without braces; escaped here.
    """
    marks = {"{{" + key + "}}": escape(value) for key, value in values.items()}
    parts = _split(package, name, tuple(sorted(marks)))
    return "".join(marks.get(part, part) for part in parts).encode("utf-8")


@cache
def _split(package: str, name: str, marks: tuple[str, ...]) -> tuple[str, ...]:
    """The page split around its placeholders: text, placeholder, text, placeholder, ..."""
    # Imported here: importlib.resources costs more to import than a page costs to build.
    from importlib import resources  # noqa: PLC0415 - kept off atoll's import path

    text = resources.files(package).joinpath(name).read_text(encoding="utf-8")
    parts: list[str] = []
    while True:
        found = [(text.find(mark), mark) for mark in marks if mark in text]
        if not found:
            parts.append(text)
            return tuple(parts)
        at, mark = min(found)
        parts.extend((text[:at], mark))
        text = text[at + len(mark) :]


def escape(text: str) -> str:
    """``text`` safe in HTML text and in a quoted attribute (what ``html.escape`` does)."""
    # The html module imports its entity tables, which the pages never need.
    return (
        text.replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace('"', "&quot;")
        .replace("'", "&#x27;")
    )
