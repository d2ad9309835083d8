"""What ``atoll check`` and ``atoll graph`` share: the target read as a system and a project."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import TYPE_CHECKING

from atoll.cli.db import load_service_target
from atoll.cli.run import make_importable, split_target
from atoll.errors import TargetError
from atoll.tooling.project import project_of_directory, project_of_module
from atoll.tooling.system_map import map_system

if TYPE_CHECKING:
    from atoll.tooling.project import Project
    from atoll.tooling.system_map import SystemMap

__all__ = ["read_target"]


def read_target(target: str, doing: str) -> tuple[Project | None, SystemMap | None]:
    """The project ``target`` names, and its system's map.

    ``target`` is ``MODULE:OBJECT`` (a service, a system, or a function returning one), whose
    project is its module's top-level package (or module, a file of its own); or a directory:
    the system its ``pyproject.toml`` names (``[tool.atoll] system = "shop.app:system"``),
    imported from the directory (or its ``src/``), or else a project read from its layout
    alone, with no map.

    Raises:
        TargetError: ``target`` names no directory with a package, nor a service or system.
    """
    if ":" not in target:
        directory = Path(target)
        if not directory.is_dir():
            raise TargetError(
                f"{target!r} is neither MODULE:OBJECT nor a directory; name the system, as "
                "`atoll run` takes it (runnerly.app:system), or the project's directory"
            )
        named = _system_named_in(directory)
        if named is None:
            try:
                return project_of_directory(directory), None
            except ValueError as error:
                raise TargetError(str(error)) from error
        for base in (directory / "src", directory):  # the directory itself first on sys.path
            if base.is_dir():
                make_importable(base.resolve())
        target = named
    obj = load_service_target(target, doing)
    try:
        project: Project | None = project_of_module(split_target(target)[0].split(".")[0])
    except ValueError:
        project = None  # made elsewhere than in a file (a namespace, a frozen module)
    return project, map_system(obj, project)


def _system_named_in(directory: Path) -> str | None:
    """The ``[tool.atoll] system`` of ``directory``'s ``pyproject.toml``, if it names one.

    Raises:
        TargetError: the file is not TOML, or the value is not a ``MODULE:OBJECT`` string.
    """
    pyproject = directory / "pyproject.toml"
    if not pyproject.is_file():
        return None
    try:
        table = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise TargetError(f"{pyproject} is not TOML: {error}") from error
    named = table.get("tool", {}).get("atoll", {}).get("system")
    if named is None:
        return None
    if not isinstance(named, str) or ":" not in named:
        raise TargetError(
            f"[tool.atoll] system in {pyproject} is {named!r}; write MODULE:OBJECT, "
            'as `atoll run` takes it: system = "shop.app:system"'
        )
    return named
