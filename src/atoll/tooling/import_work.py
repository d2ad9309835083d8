"""Work done at import: found by importing a project's modules in an interpreter of their own.

The modules are imported one by one in a child interpreter (``python -I -B``: no user site,
no bytecode written) whose audit hook (:func:`sys.addaudithook`, PEP 578) records what
importing does that it should not, and refuses it: a socket connected or bound, a host looked
up, a file opened for writing or removed, a directory made, a process or a thread started, a
SQLite database opened, an HTTP connection made. (Starting a thread raises no audit event
before Python 3.13: the child wraps ``threading.Thread.start`` and ``_thread.start_new_thread``
to tell it.) Each is attributed to the innermost line of the project's own source on the stack
when it happened, and then does not happen: the hook raises :class:`PermissionError`, so the
file is not written, the socket not connected, the process not started, and that module's
import fails with it (the finding is the work, not the failure). A module that fails to import
for another reason is reported with the line that raised.

The child runs with this interpreter's ``sys.path``, so it imports what the project would,
in a session of its own, killed with all it started once done; its records come through a
pipe of their own, so that what the modules write, or keep open, cannot hold them up. It is
ended after :data:`TIMEOUT` seconds, and the module it was importing then is a finding, as is
one whose import ends the interpreter. What the hooks do not see (a C extension's own sockets,
work started later by a function the import defined) is not found, nor refused.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from atoll.tooling.findings import Finding

if TYPE_CHECKING:
    from collections.abc import Iterator

    from atoll.tooling.project import Project

__all__ = ["TIMEOUT", "import_findings"]

TIMEOUT = 120.0
"""How long the child interpreter may take to import every module, in seconds."""

_DRAIN = 10.0
"""Seconds to wait, once the child has ended, for the last of its records."""

_CHILD = r"""
import json, os, sys, traceback

request = json.loads(sys.stdin.read())
sys.path[:] = request["path"]
roots = tuple(request["roots"])
state = {"on": False, "module": ""}
# Records go through a pipe of their own, which no module writes to.
out = os.fdopen(request["records"], "w")
seen = set()


class Refused(PermissionError):  # work done at import: recorded, then refused
    pass


def emit(record):
    out.write("\0atoll " + json.dumps(record) + "\n")
    out.flush()

_WRITE = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC


def described(event, args):
    if event in ("socket.connect", "socket.bind"):
        verb = "connects a socket to" if event == "socket.connect" else "binds a socket to"
        return f"{verb} {args[1]!r}"
    if event == "socket.getaddrinfo":
        return f"looks up the host {args[0]!r}"
    if event == "open":
        path, mode, flags = args
        if isinstance(path, int) or str(path).endswith((".pyc", ".pyc.tmp")):
            return None
        writes = (isinstance(mode, str) and any(c in mode for c in "wax+")) or (
            mode is None and isinstance(flags, int) and flags & _WRITE
        )
        return f"opens {str(path)!r} for writing" if writes else None
    if event in ("os.remove", "os.rename", "os.mkdir", "os.rmdir", "shutil.rmtree"):
        return f"changes the file system ({event} {str(args[0])!r})"
    if event == "subprocess.Popen":
        return f"starts the process {args[1]!r}"
    if event in ("os.system", "os.posix_spawn", "os.fork", "os.forkpty") or event.startswith(
        ("os.exec", "os.spawn")
    ):
        return f"starts a process ({event})"
    if event in ("threading.Thread.start", "_thread.start_new_thread"):
        return "starts a thread"
    if event == "sqlite3.connect":
        return f"opens the SQLite database {str(args[0])!r}"
    if event == "http.client.connect":
        return f"connects to {args[1]}:{args[2]} over HTTP"
    return None


def hook(event, args):
    if not state["on"]:
        return
    state["on"] = False  # what describing does is not the module's
    try:
        what = described(event, args)
        if what is None:
            return
        frame = sys._getframe(1)
        while frame is not None and not frame.f_code.co_filename.startswith(roots):
            frame = frame.f_back
        if frame is None:
            return  # not the project's doing
        place = (frame.f_code.co_filename, frame.f_lineno, what)
        if place not in seen:  # a module importing one refused meets the same work again
            seen.add(place)
            emit({"found": state["module"], "path": place[0], "line": place[1], "what": what})
    finally:
        state["on"] = True
    raise Refused(f"atoll check refuses work at import: {what}")


sys.addaudithook(hook)


def told(event, function):
    # Starting a thread raises no audit event before Python 3.13: these say it instead.
    def wrapper(*args, **kwargs):
        hook(event, args)
        return function(*args, **kwargs)

    return wrapper


import _thread, threading  # noqa: E401, E402

threading.Thread.start = told("threading.Thread.start", threading.Thread.start)
_thread.start_new_thread = told("_thread.start_new_thread", _thread.start_new_thread)
for name in request["modules"]:
    emit({"importing": name})
    state["module"] = name
    state["on"] = True
    try:
        __import__(name)
    except BaseException as error:
        state["on"] = False
        cause = error
        while cause is not None and not isinstance(cause, Refused):
            cause = cause.__cause__ or cause.__context__
        if cause is not None:
            continue  # the work refused is the finding
        frames = traceback.extract_tb(error.__traceback__)
        place = [f for f in frames if f.filename.startswith(roots)]
        last = place[-1] if place else None
        emit(
            {
                "failed": name,
                "path": last.filename if last else "",
                "line": last.lineno if last else 1,
                "error": f"{type(error).__name__}: {error}",
            }
        )
    state["on"] = False
emit({"done": True})
os._exit(0)  # threads a module started must not keep the child alive
"""


def import_findings(project: Project) -> Iterator[tuple[Finding, Path]]:
    """What importing each module of ``project`` does that it should not, and what fails.

    A module whose import does not end within :data:`TIMEOUT`, or ends the interpreter, is
    a finding too; what the modules before it did is still reported.
    """
    modules = [name for name in project.modules if not name.endswith(".__main__")]
    request: dict[str, object] = {
        "path": [str(p) for p in project.import_paths] + sys.path,
        "roots": project.roots,
        "modules": modules,
    }
    reading, writing = os.pipe()
    request["records"] = writing
    try:
        child = subprocess.Popen(  # noqa: S603 - this interpreter, a script of ours
            [sys.executable, "-I", "-B", "-c", _CHILD],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            cwd=project.root,
            pass_fds=(writing,),
            start_new_session=True,  # a group of its own, killed whole at the end
        )
    except BaseException:
        os.close(reading)
        raise
    finally:
        os.close(writing)
    told: list[bytes] = []
    reader = threading.Thread(target=_read, args=(reading, told), daemon=True)
    reader.start()
    ended = ""
    try:
        child.communicate(json.dumps(request).encode(), timeout=TIMEOUT)
        if child.returncode:
            ended = f"ends the interpreter (status {child.returncode})"
    except subprocess.TimeoutExpired:
        ended = f"did not end within {TIMEOUT:g} s: it waits for something"
    finally:
        _end(child)
    reader.join(timeout=_DRAIN)
    yield from _findings(project, b"".join(told).decode(errors="replace"), ended)


def _read(descriptor: int, into: list[bytes]) -> None:
    """Collect what is written to the pipe ``descriptor`` until its end."""
    with open(descriptor, "rb") as stream:
        while chunk := stream.read1():
            into.append(chunk)


def _end(child: subprocess.Popen[bytes]) -> None:
    """Kill ``child`` and whatever it started, still in its process group."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(child.pid, signal.SIGKILL)
    child.wait()


def _findings(project: Project, told: str, ended: str) -> Iterator[tuple[Finding, Path]]:
    """The findings of what the child told: records, each after a NUL and ``atoll``."""
    paths = {str(m.path.resolve()): m.path for m in project.modules.values()}
    importing = ""
    done = False
    for piece in told.split("\0atoll ")[1:]:
        try:
            record = json.loads(piece.partition("\n")[0])
        except ValueError:
            continue
        if "importing" in record:
            importing = record["importing"]
        elif "done" in record:
            done = True
        elif "failed" in record:
            module = project.modules[record["failed"]]
            path = paths.get(record["path"], module.path)
            line = record["line"] if record["path"] in paths else 1
            yield (
                Finding(
                    project.shown(path),
                    line,
                    "import-failed",
                    f"importing {record['failed']} fails: {record['error']}",
                    "make the module import on its own (a missing dependency, a name that "
                    "moved), or move it out of the package",
                ),
                path,
            )
        else:
            path = paths.get(record["path"], Path(record["path"]))
            yield (
                Finding(
                    project.shown(path),
                    record["line"],
                    "import-time-work",
                    f"importing {record['found']} {record['what']}",
                    "do nothing at import: do it in a component's start(), a provider, or a "
                    "function the entrypoint calls",
                ),
                path,
            )
    if not done and importing:
        module = project.modules[importing]
        yield (
            Finding(
                project.shown(module.path),
                1,
                "import-time-work",
                f"importing {importing} {ended or 'ends the interpreter'}",
                "do nothing at import: wait, serve or exit in a function the entrypoint calls",
            ),
            module.path,
        )
