"""What ``atoll check`` and ``atoll graph`` share: the target read as a system and a project."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from atoll.cli.db import load_service_target
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
    project is its module's top-level package (or module, a file of its own); or a directory,
    a project read from its layout alone, with no map.

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
        try:
            return project_of_directory(directory), None
        except ValueError as error:
            raise TargetError(str(error)) from error
    obj = load_service_target(target, doing)
    try:
        project: Project | None = project_of_module(target.partition(":")[0].split(".")[0])
    except ValueError:
        project = None  # made elsewhere than in a file (a namespace, a frozen module)
    return project, map_system(obj, project)
