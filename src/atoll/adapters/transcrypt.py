"""Transcrypt (``atoll[frontends]``): compiles the components of a service to ES modules.

The one module that knows Transcrypt's command line. It runs the compiler in a child process
(``python -m transcrypt``), as its own command line does, rather than importing it: the
compiler keeps its state in module globals, and a failed compile must not leave them in the
server's process.

The flags, and why each (see ``atoll.frontends.lint`` for what they change):

- ``-b``: build every module, not only those whose target is older than their source;
- ``-n``: no minification (which would need Java);
- ``-m``: source maps, so that the browser's debugger shows the Python;
- ``-k``: keyword arguments, without which every ``f(x=1)`` loses its ``x``;
- ``-o``: Python's operators on lists and strings (``[1] + [2]``, ``"ab" * 3``).
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import msgspec

from atoll.errors import BuildError

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["FLAGS", "TranscryptCompiler"]

FLAGS = ("-b", "-n", "-m", "-k", "-o")
"""The flags of every compile; ``atoll.frontends.lint`` rejects what is wrong under them."""
_SHOWN_LINES = 40
"""The last lines of a failed compile's output that its error shows."""


class TranscryptCompiler:
    """Compiles a Python module, and every module it imports, to ES modules in a directory.

    Args:
        python: the interpreter that runs Transcrypt; this one by default.
    """

    def __init__(self, python: str = sys.executable) -> None:
        self.python = python

    @staticmethod
    def available() -> bool:
        """Whether Transcrypt is installed beside atoll."""
        return importlib.util.find_spec("transcrypt") is not None

    def compile(self, entry: Path, target: Path, search_path: Sequence[str]) -> list[Path]:
        """Compile ``entry`` (a ``.py`` file) and its imports into ``target``.

        ``search_path``: where the imported modules are found, as ``sys.path`` lists them.
        Returns the Python sources compiled (Transcrypt's own runtime left out).

        Raises:
            BuildError: Transcrypt is not installed, or failed; its own words are shown.
        """
        if not self.available():
            raise BuildError(
                'Transcrypt is not installed: pip install "atoll[frontends]" compiles components'
            )
        environment = dict(os.environ)
        environment["PYTHONPATH"] = os.pathsep.join([entry.parent.as_posix(), *search_path])
        finished = subprocess.run(  # noqa: S603 - this interpreter, a fixed command line
            [self.python, "-m", "transcrypt", *FLAGS, "-od", str(target), str(entry)],
            cwd=entry.parent,
            env=environment,
            capture_output=True,
            text=True,
            check=False,
        )
        if finished.returncode != 0:
            said = (finished.stdout + finished.stderr).strip().splitlines()
            raise BuildError(
                f"Transcrypt could not compile the components (exit status "
                f"{finished.returncode}):\n" + "\n".join(said[-_SHOWN_LINES:])
            )
        return _sources(target / (entry.stem + ".project"), entry)


def _sources(project: Path, entry: Path) -> list[Path]:
    """The Python sources of a compile, from the project file Transcrypt writes beside it."""
    modules = msgspec.json.decode(project.read_bytes()).get("modules", [])
    spec = importlib.util.find_spec("transcrypt")
    own = [Path(place) for place in (spec.submodule_search_locations or [])] if spec else []
    found = []
    for module in modules:
        source = Path(module["source"])
        ours = not any(place in source.parents for place in own)
        if source.suffix == ".py" and ours and source != entry:
            found.append(source)
    return found
