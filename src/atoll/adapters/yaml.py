"""YAML documents written with PyYAML: the same bytes for the same data.

Keys keep the order they were built in, a text of several lines is a literal block, lists
are indented under their key, and no value is written as an ``&anchor`` and its ``*alias``:
a file generated twice from the same data is the same file, fit to commit and to compare,
and reads as a person would write it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import yaml  # type: ignore[import-untyped]  # PyYAML ships no type hints

if TYPE_CHECKING:
    from collections.abc import Iterable

__all__ = ["dump", "dump_all"]


class _Dumper(yaml.SafeDumper):  # type: ignore[misc]  # PyYAML is untyped
    """Block style; a text of several lines as a literal block, the way a person writes it."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> Any:  # noqa: ARG002, FBT001, FBT002 - PyYAML's signature
        """Indent a list under its key, as Kubernetes' and compose's examples do."""
        return super().increase_indent(flow, indentless=False)

    def ignore_aliases(self, data: object) -> bool:  # noqa: ARG002 - PyYAML's hook
        """Write each value where it is: no ``&anchor``, which few people read fluently."""
        return True


def _text(dumper: yaml.SafeDumper, value: str) -> Any:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _text)


def dump(document: object) -> str:
    """One YAML document."""
    text: str = yaml.dump(
        document, Dumper=_Dumper, sort_keys=False, default_flow_style=False, width=100
    )
    return text


def dump_all(documents: Iterable[object]) -> str:
    """Several YAML documents in one text, each begun by ``---``."""
    return "".join(f"---\n{dump(document)}" for document in documents)
