"""The watchfiles adapter: run a command, and run it again each time a source file changes.

What ``atoll run --reload`` does, for development only. The command runs as a child process
in a process group of its own, so that Ctrl-C at the terminal reaches this process alone, which
stops the child as a deployment would: SIGTERM, then the child's graceful shutdown (a child
still running :data:`STOP_WAIT` seconds later is killed). SIGTERM, SIGINT and SIGHUP (the
terminal closed) stop it so; so does an error here (too many files to watch), which is then
raised: the child never outlives this process's loop. On a change to a Python file (or a
TOML file, such as a configuration file) under the watched paths, a line says which, the child
is stopped, and started again. A child that exits by itself (a syntax error just saved) is
started again at the next change.

Changes in the directories of tools and builds (``.venv``, ``__pycache__``, ``.git``,
``build``, ``dist``...) are ignored (watchfiles still watches them, then filters them out).
"""

from __future__ import annotations

import contextlib
import signal
import subprocess
import threading
from pathlib import Path
from typing import TYPE_CHECKING

import watchfiles

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Sequence

__all__ = ["STOP_WAIT", "SourceFilter", "described", "run_reloading"]

STOP_WAIT = 60.0
"""Seconds a child may take to stop after SIGTERM before it is killed: more than its own
grace period, ten seconds by default, after which it stops regardless."""

_SHOWN = 3
"""Changed files named in one line; more are counted."""


class SourceFilter(watchfiles.PythonFilter):
    """Python and TOML files, outside the directories of tools and builds."""

    ignore_dirs = (
        *watchfiles.DefaultFilter.ignore_dirs,
        ".ruff_cache",
        ".eggs",
        "build",
        "dist",
        "htmlcov",
        "site",
        "venv",
    )

    def __init__(self) -> None:
        super().__init__(extra_extensions=(".toml",))


def run_reloading(
    command: Sequence[str],
    paths: Sequence[Path],
    *,
    echo: Callable[[str], None],
    root: Path | None = None,
) -> int:
    """Run ``command`` until SIGTERM, SIGINT or SIGHUP, again after each change under ``paths``.

    Args:
        command: the program and its arguments.
        paths: the directories (or files) to watch.
        echo: writes a line for the user: what changed, a child that exited by itself.
        root: changed files are named relative to it, when under it; the current directory
            by default.

    Returns:
        The exit status of the last child: 0 when it stopped cleanly on SIGTERM.

    Raises:
        OSError: the paths cannot be watched (the system's limit of watches reached); the
            child has been stopped.
    """
    root = root or Path.cwd()
    stopping = threading.Event()
    with _stopping_on_signals(stopping):
        child = _start(command)
        try:
            reported = False
            for changes in watchfiles.watch(
                *paths,
                watch_filter=SourceFilter(),
                stop_event=stopping,
                rust_timeout=500,  # wake up twice a second to see whether the child has ended
                yield_on_timeout=True,
                raise_interrupt=False,
            ):
                if not changes:
                    if child.poll() is not None and not reported:
                        echo(
                            f"the application exited with status {child.returncode}; "
                            "waiting for a change to start it again"
                        )
                        reported = True
                    continue
                echo(f"reloading: {described(changes, root)}")
                _stop(child)
                if stopping.is_set():  # a stop signal came while the child stopped
                    break
                child = _start(command)
                reported = False
        finally:
            status = _stop(child)  # whatever ended the loop, even an error watching
        return status


def described(changes: set[tuple[watchfiles.Change, str]], root: Path) -> str:
    """The changes as a user reads them: ``runs/handlers.py modified, old.py deleted``."""
    named = sorted((_relative(Path(path), root), change.name) for change, path in changes)
    shown = [f"{path} {what}" for path, what in named[:_SHOWN]]
    if len(named) > _SHOWN:
        shown.append(f"and {len(named) - _SHOWN} more")
    return ", ".join(shown)


def _relative(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)


def _start(command: Sequence[str]) -> subprocess.Popen[bytes]:
    # A group of its own: Ctrl-C at the terminal reaches this process only, which stops the
    # child with SIGTERM, once; a second signal would cut the child's shutdown short.
    return subprocess.Popen(command, process_group=0)  # noqa: S603 - the user's own command


def _stop(child: subprocess.Popen[bytes]) -> int:
    """Stop ``child`` with SIGTERM (killed after :data:`STOP_WAIT` seconds); its status."""
    if child.poll() is None:
        child.send_signal(signal.SIGTERM)
    try:
        return child.wait(timeout=STOP_WAIT)
    except subprocess.TimeoutExpired:
        child.kill()
        return child.wait()


@contextlib.contextmanager
def _stopping_on_signals(stopping: threading.Event) -> Iterator[None]:
    def stop(_signum: int, _frame: object) -> None:
        stopping.set()

    stopping_signals = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
    previous = {signum: signal.signal(signum, stop) for signum in stopping_signals}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
