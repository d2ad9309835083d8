"""A project on disk: its packages, their modules parsed, each module's layer, its tests.

A project is found from one of its top-level packages (the package of ``atoll check``'s
target; or a module of its own, a single file) or from a directory. Its root is the nearest
directory up from the package holding a ``pyproject.toml``, a ``setup.py`` or a ``.git``;
found from a directory, its packages are the directories of the directory (or of its
``src/``) that hold an ``__init__.py``. Alembic's ``migrations`` folders are left out:
Alembic runs them, nothing imports them.
"""

from __future__ import annotations

import ast
import importlib.util
import os
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

__all__ = ["LAYERS", "Module", "Project", "project_of_directory", "project_of_module"]

LAYERS = ("model", "domain", "application", "infrastructure")
"""The layers of a service, innermost first: a layer imports none after it."""

_ROOT_MARKERS = ("pyproject.toml", "setup.py", ".git")
_SKIPPED = frozenset({"migrations", "__pycache__", "node_modules", "build", "dist"})
_TEST_GLOBS = ("test_*.py", "*_test.py", "conftest.py")


@dataclass(frozen=True)
class Module:
    """A module of the project: its dotted name, its file and its syntax tree."""

    name: str
    path: Path
    tree: ast.Module = field(repr=False, compare=False)

    @property
    def package(self) -> str:
        """The package the module's relative imports start from."""
        if self.path.name == "__init__.py":
            return self.name
        return self.name.rpartition(".")[0]


@dataclass
class Project:
    """A project's root, the packages found in it, and the directories they are imported from.

    Args:
        root: the project's directory.
        packages: the top-level packages, by name, with their directories (or, for a module
            of its own, its file).
    """

    root: Path
    packages: dict[str, Path]

    @property
    def import_paths(self) -> list[Path]:
        """The directories to put on ``sys.path`` for the packages to import."""
        return sorted({path.parent for path in self.packages.values()})

    @cached_property
    def modules(self) -> dict[str, Module]:
        """Every module of the packages, by dotted name, parsed; unparsable files left out."""
        found: dict[str, Module] = {}
        for package, directory in sorted(self.packages.items()):
            if directory.is_file():  # a module of its own
                found.update(_parsed(package, directory))
                continue
            for path in sorted(directory.rglob("*.py")):
                relative = path.relative_to(directory)
                if _SKIPPED & set(relative.parts[:-1]):
                    continue
                parts = [package, *relative.with_suffix("").parts]
                if parts[-1] == "__init__":
                    parts.pop()
                found.update(_parsed(".".join(parts), path))
        return found

    @property
    def roots(self) -> list[str]:
        """The packages' directories (with a trailing separator) and single modules' files."""
        return [
            str(path.resolve()) + ("" if path.is_file() else os.sep)
            for path in self.packages.values()
        ]

    def owns(self, path: Path | str) -> bool:
        """Whether ``path`` is a file of one of the project's packages."""
        resolved = Path(path).resolve()
        return any(resolved.is_relative_to(d.resolve()) for d in self.packages.values())

    def test_files(self) -> list[Path]:
        """The test files under the root: ``test_*.py``, ``*_test.py`` and ``conftest.py``."""
        found: set[Path] = set()
        for directory, subdirectories, files in os.walk(self.root):
            subdirectories[:] = sorted(
                d for d in subdirectories if not d.startswith(".") and d not in _SKIPPED
            )
            here = Path(directory)
            found.update(
                here / name
                for name in files
                if any(Path(name).match(pattern) for pattern in _TEST_GLOBS)
            )
        return sorted(found)

    def shown(self, path: Path) -> str:
        """``path`` as a finding names it: relative to the current directory when under it."""
        resolved = path.resolve()
        here = Path.cwd().resolve()
        return str(resolved.relative_to(here)) if resolved.is_relative_to(here) else str(path)


def _parsed(name: str, path: Path) -> dict[str, Module]:
    """The module ``name`` of ``path``, parsed; nothing for a file that does not parse."""
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    except (SyntaxError, UnicodeDecodeError):
        return {}
    return {name: Module(name, path, tree)}


def root_of(directory: Path) -> Path:
    """The nearest directory from ``directory`` up that holds a project's marker file."""
    for candidate in [directory, *directory.parents]:
        if any((candidate / marker).exists() for marker in _ROOT_MARKERS):
            return candidate
    return directory


def project_of_module(name: str) -> Project:
    """The project that holds the importable top-level package or module ``name``.

    Raises:
        ValueError: ``name`` is no package or module of a file found on ``sys.path``.
    """
    spec = importlib.util.find_spec(name)
    if spec is None:
        raise ValueError(f"no package or module {name!r} is found on sys.path")
    locations = list(spec.submodule_search_locations or [])
    if locations:
        found = Path(locations[0]).resolve()
    elif spec.origin is not None and spec.origin.endswith(".py"):
        found = Path(spec.origin).resolve()
    else:
        raise ValueError(f"{name!r} is neither a package nor a module of a .py file")
    return Project(root_of(found.parent), {name: found})


def project_of_directory(directory: Path) -> Project:
    """The project in ``directory``: the packages in it, or in its ``src/``.

    Raises:
        ValueError: ``directory`` holds no package.
    """
    root = directory.resolve()
    packages: dict[str, Path] = {}
    for base in (root, root / "src"):
        if not base.is_dir():
            continue
        for child in sorted(base.iterdir()):
            if (
                (child / "__init__.py").is_file()
                and child.name.isidentifier()
                and child.name not in {"tests", "test"}
            ):
                packages.setdefault(child.name, child)
    if not packages:
        raise ValueError(
            f"{directory} holds no Python package (a directory with an __init__.py), nor does "
            "its src/; name the project's directory, or its system as MODULE:OBJECT"
        )
    return Project(root, packages)
