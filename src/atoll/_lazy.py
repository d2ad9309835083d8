"""Names a package exports but imports only on first use, so that importing it stays cheap."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, MutableMapping

__all__ = ["lazy_names"]


def lazy_names(
    package: str, exported: list[str], where: Mapping[str, str], namespace: MutableMapping[str, Any]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The ``__getattr__`` and ``__dir__`` of ``package``, which loads ``where[name]`` on first use.

    Args:
        package: the package's name, for the error of an unknown attribute.
        exported: its ``__all__``, which ``dir()`` lists.
        where: the module each lazily loaded name comes from.
        namespace: the package's ``globals()``; a loaded name is kept there, so that it is
            looked up once.
    """

    def get(name: str) -> Any:
        module = where.get(name)
        if module is None:
            msg = f"module {package!r} has no attribute {name!r}"
            raise AttributeError(msg)
        value = getattr(importlib.import_module(module), name)
        namespace[name] = value
        return value

    def names() -> list[str]:
        return sorted(exported)

    return get, names
