"""The import rules ``atoll check`` reads from a project's source, without running it.

- A module of the ``model`` or ``domain`` layer (a module or package of that name, such as
  ``shop/orders/domain.py`` or ``shop/orders/domain/rules.py``) imports neither atoll nor a
  framework or an infrastructure library (:data:`FRAMEWORKS`), and no layer imports one outside
  it within its service: ``model``, ``domain``, ``application``, ``infrastructure``, innermost
  first.
- A service imports another service only through that service's ``contracts`` module (or
  package): what it publishes, never its internals.

Imports are read from the syntax tree, those inside functions and under ``TYPE_CHECKING``
included: a dependency is one however late it is made.
"""

from __future__ import annotations

import ast
from typing import TYPE_CHECKING

from atoll.tooling.findings import Finding
from atoll.tooling.project import LAYERS

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator
    from pathlib import Path

    from atoll.tooling.project import Module, Project

__all__ = [
    "FRAMEWORKS",
    "INNER_LAYERS",
    "imports_of",
    "layer_findings",
    "layered_homes",
    "service_findings",
]

INNER_LAYERS = ("model", "domain")
"""The layers that import no framework and no infrastructure."""

FRAMEWORKS = frozenset(
    {
        "aio_pika",
        "aiohttp",
        "aiosqlite",
        "alembic",
        "asyncpg",
        "atoll",
        "boto3",
        "celery",
        "click",
        "django",
        "fastapi",
        "flask",
        "granian",
        "grpc",
        "http.client",
        "httpx",
        "jwt",
        "kafka",
        "msgspec",
        "nats",
        "pika",
        "psycopg",
        "psycopg2",
        "pydantic",
        "pymongo",
        "redis",
        "requests",
        "smtplib",
        "socket",
        "sqlalchemy",
        "sqlite3",
        "starlette",
        "subprocess",
        "urllib.request",
        "uvicorn",
    }
)
"""What an inner layer must not import: atoll, frameworks, drivers and the standard library's
own network, process and database modules (a name and the modules under it)."""


def imports_of(module: Module, known: Iterable[str]) -> Iterator[tuple[str, int]]:
    """Each module ``module`` imports, by absolute name, with the line of the import.

    ``from package import name`` imports ``package.name`` when that is one of ``known``.
    """
    names = set(known)
    for node in ast.walk(module.tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(module, node)
            for alias in node.names:
                candidate = f"{base}.{alias.name}" if base else alias.name
                yield (candidate if candidate in names else base), node.lineno


def _absolute(module: Module, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    parts = module.package.split(".")
    parts = parts[: len(parts) - (node.level - 1)] if node.level > 1 else parts
    return ".".join([*parts, node.module] if node.module else parts)


def _framework(name: str) -> str | None:
    parts = name.split(".")
    for length in range(len(parts), 0, -1):
        if ".".join(parts[:length]) in FRAMEWORKS:
            return ".".join(parts[:length])
    return None


def _service_of_layered(name: str) -> tuple[str, int] | None:
    """The service prefix of a layered module, and its layer's rank: ``shop.orders``, 1."""
    parts = name.split(".")
    for index in range(len(parts) - 1, -1, -1):
        if parts[index] in LAYERS:
            return ".".join(parts[:index]), LAYERS.index(parts[index])
    return None


def layer_findings(project: Project) -> Iterator[tuple[Finding, Path]]:
    """Inner layers importing atoll, a framework or infrastructure; layers importing outward."""
    known = project.modules.keys()
    for module in project.modules.values():
        own = _service_of_layered(module.name)
        if own is None:
            continue
        layer = LAYERS[own[1]]
        for imported, line in imports_of(module, known):
            framework = _framework(imported)
            if layer in INNER_LAYERS and framework is not None:
                yield (
                    Finding(
                        project.shown(module.path),
                        line,
                        "layer-import",
                        f"{module.name}, of the {layer} layer, imports {framework}",
                        "keep the model and the domain plain Python: declare a port (a "
                        "Protocol) here and implement it in the infrastructure layer, or move "
                        "this code to the application layer",
                    ),
                    module.path,
                )
                continue
            other = _service_of_layered(imported)
            if other is not None and other[0] == own[0] and other[1] > own[1]:
                outer = LAYERS[other[1]]
                yield (
                    Finding(
                        project.shown(module.path),
                        line,
                        "layer-import",
                        f"{module.name}, of the {layer} layer, imports {imported}, of the "
                        f"{outer} layer outside it",
                        f"depend inward only: declare what {layer} needs here (a Protocol) "
                        f"and implement it in {outer}",
                    ),
                    module.path,
                )


def service_findings(project: Project, homes: dict[str, str]) -> Iterator[tuple[Finding, Path]]:
    """Modules of one service importing another service's modules other than its contracts.

    Args:
        project: the project read.
        homes: each service's package (or module), by the service's name.
    """
    known = project.modules.keys()
    for module in project.modules.values():
        mine = _owner(module.name, homes)
        if mine is None:
            continue  # the composition root, and other code of no service, may import any
        for imported, line in imports_of(module, known):
            theirs = _owner(imported, homes)
            if theirs is None or theirs == mine:
                continue
            home = homes[theirs]
            contracts = f"{home}.contracts"
            if imported == contracts or imported.startswith(contracts + "."):
                continue
            yield (
                Finding(
                    project.shown(module.path),
                    line,
                    "service-internals",
                    f"{module.name}, of service {mine!r}, imports {imported}, of service "
                    f"{theirs!r}, which is not its contracts module",
                    f"import the messages {theirs!r} publishes from {contracts}, or call it "
                    "through a client (clients.get(...)), never its internals",
                ),
                module.path,
            )


def _owner(module: str, homes: dict[str, str]) -> str | None:
    """The service whose home holds ``module``: the longest home that does."""
    found: tuple[int, str] | None = None
    for service, home in homes.items():
        if (module == home or module.startswith(home + ".")) and (
            found is None or len(home) > found[0]
        ):
            found = (len(home), service)
    return found[1] if found is not None else None


def layered_homes(project: Project) -> dict[str, str]:
    """The services of a project read from its layout: each package holding a layer module.

    Each is named by its package: ``shop.orders``.
    """
    homes: dict[str, str] = {}
    for name in project.modules:
        found = _service_of_layered(name)
        if found is not None and found[0]:
            homes.setdefault(found[0], found[0])
    return homes
