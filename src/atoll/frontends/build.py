"""Build a service's components into the JavaScript its pages load: lint, compile, check, hash.

::

    built = build_components("hello", [Hello, Counter], Path("build/ui/hello"), compiler)
    built.module  # "3f2a9c0d17be/components.js": define every component's element

The steps, each of which stops the build with a :class:`~atoll.errors.BuildError` saying why:

1. **Lint** each component's module with :mod:`atoll.frontends.lint`: the Python Transcrypt
   compiles wrongly without a word, each finding with ``file:line`` and the rewrite.
2. **Compile** with the compiler given (Transcrypt's, from ``atoll.adapters.transcrypt``),
   and lint every other module compiled with them (the components' imports).
3. **Add** atoll's element glue (``atoll-elements.js``), Preact (from the npm registry,
   pinned by atoll's lock file, see :mod:`atoll.frontends.packages`) and ``components.js``,
   which defines each component's custom element.
4. **Check in Node**: every module loads, each component renders with no attribute set, and
   its HTML is the HTML CPython renders from the same view, since Transcrypt's mistakes are
   silent: a module that imports a name that does not exist, a view that computes something
   else.
5. **Write** the files under a directory named by the hash of their content (served with
   long-lived cache headers: a new build is a new address), and ``fragments.json`` beside it,
   the manifest a page or a shell reads: the version, the entry module, each component's name,
   tag and attributes, the sources built from. The build before stays, for pages that loaded
   it; older ones go.

A build from the same sources gives the same bytes, so the same address.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import msgspec

from atoll.errors import BuildError
from atoll.frontends.component import check_tag
from atoll.frontends.elements import render
from atoll.frontends.lint import lint_file
from atoll.frontends.packages import LOCK, PREACT, installed_packages

if TYPE_CHECKING:
    from collections.abc import Sequence

    from atoll.frontends.component import Component

__all__ = [
    "HOST_MEMBERS",
    "MANIFEST",
    "Build",
    "Compiler",
    "build_components",
    "read_build",
    "stale",
]

MANIFEST = "fragments.json"
"""The manifest of a build, beside its hashed directory."""
ENTRY = "components.js"
"""The module a page loads: it defines every component's custom element."""
KEPT_BUILDS = 2
"""Builds kept in the output directory: the new one, and the one pages loaded before it."""

_HERE = Path(__file__).resolve().parent
_GLUE = _HERE / "static" / "atoll-elements.js"
_CHECK = _HERE / "node" / "check.mjs"
_STAMP = re.compile(rb"^// Transcrypt'ed from Python, [0-9: -]+\n")
_SKIPPED_SUFFIXES = {".project"}  # the compiler's own notes, with this machine's paths
_HASH_LENGTH = 12
_log = logging.getLogger("atoll.frontends")


class Compiler(Protocol):
    """What compiles Python modules to ES modules (``atoll.adapters.transcrypt``)."""

    def compile(self, entry: Path, target: Path, search_path: Sequence[str]) -> list[Path]:
        """Compile ``entry`` and its imports into ``target``; the Python sources compiled."""
        ...


@dataclass(frozen=True)
class BuiltComponent:
    """A component of a build: its class's name, its element's tag, its attributes."""

    name: str
    tag: str
    observed: list[str]


@dataclass(frozen=True)
class Build:
    """A build of a service's components, as its manifest says.

    Attributes:
        service: the service whose components these are.
        version: the hash of the files, which names their directory.
        module: the entry module's path, from the manifest's directory.
        files: every file's path, from the manifest's directory.
        components: each component built.
        sources: the Python sources compiled, as absolute paths.
    """

    service: str
    version: str
    module: str
    files: list[str]
    components: list[BuiltComponent]
    sources: list[str] = field(default_factory=list)


def build_components(
    service: str,
    components: Sequence[type[Component]],
    output: Path,
    compiler: Compiler,
    *,
    packages: Path | None = None,
    node: str | None = None,
) -> Build:
    """Build ``components`` into ``output``; the build's manifest (see the module's docstring).

    Args:
        service: the name of the service they belong to.
        components: the :class:`~atoll.frontends.component.Component` classes to build.
        output: the service's build directory: hashed builds and ``fragments.json``.
        compiler: compiles the Python to ES modules.
        packages: the installed npm packages; installed from atoll's lock file when None.
        node: the Node.js program; ``node`` on ``PATH`` when None.

    Raises:
        BuildError: a step failed; the message names it, with the tool's words and the fix.
    """
    if not components:
        raise BuildError(f"service {service!r} has no component to build")
    described = [_described(component) for component in components]
    _lint([_source_of(component) for component in components])
    node = node or shutil.which("node")
    if node is None:
        raise BuildError(
            "node is not installed, and a build checks the compiled modules in it: install "
            "Node.js (apt-get install nodejs)"
        )
    modules = installed_packages() if packages is None else packages
    output = output.resolve()
    output.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".building-", dir=output) as scratch:
        work = Path(scratch)
        entry = work / "atoll_components.py"
        entry.write_text(_python_entry(components), encoding="utf-8")
        target = work / "target"
        _log.info(
            "compiling %d component(s) of service %s with Transcrypt", len(components), service
        )
        search_path = [str(Path(path).resolve()) for path in sys.path]  # "" is the directory
        sources = compiler.compile(entry, target, search_path)
        _lint([source for source in sources if source not in _sources_linted(components)])
        (target / (entry.stem + ".js")).unlink(missing_ok=True)
        (target / (entry.stem + ".map")).unlink(missing_ok=True)
        (target / entry.name).unlink(missing_ok=True)
        shutil.copy(_GLUE, target / _GLUE.name)
        shutil.copy(modules / PREACT, target / PREACT.name)
        (target / ENTRY).write_text(_javascript_entry(components), encoding="utf-8")
        files = _normalized(target)
        _check_in_node(node, target, files, components)
        version = _hash(target, files)
        final = output / version
        try:
            target.rename(final)
        except OSError:  # built already, the same bytes: by an earlier build, or another process
            if not final.is_dir():
                raise
    built = Build(
        service=service,
        version=version,
        module=f"{version}/{ENTRY}",
        files=[f"{version}/{name}" for name in files],
        components=described,
        sources=sorted(str(source) for source in sources),
    )
    _write_manifest(output, built)
    _prune(output, version)
    _log.info("built the components of service %s: %s", service, built.module)
    return built


def read_build(output: Path) -> Build | None:
    """The build in ``output``, as its manifest says; None when there is none."""
    try:
        return msgspec.json.decode((output / MANIFEST).read_bytes(), type=Build)
    except (FileNotFoundError, msgspec.DecodeError, msgspec.ValidationError):
        return None


def stale(output: Path, components: Sequence[type[Component]]) -> bool:
    """Whether ``output`` holds no build of ``components`` as their sources are now.

    True when there is no manifest, when the components are not those built (a class, a tag
    or an attribute changed), or when a source, atoll's glue or its lock file is newer than
    the manifest.
    """
    built = read_build(output)
    if built is None or built.components != [_described(each) for each in components]:
        return True
    made = (output / MANIFEST).stat().st_mtime
    sources = [*built.sources, *map(str, _sources_linted(components)), str(_GLUE), str(LOCK)]
    for source in sources:
        try:
            if Path(source).stat().st_mtime > made:
                return True
        except FileNotFoundError:
            return True
    return not all((output / name).is_file() for name in built.files)


HOST_MEMBERS = frozenset(
    {
        "announce",
        "call",
        "claims",
        "component",
        "later",
        "listen",
        "now",
        "refresh",
        "refresh_token",
        "refresh_with",
        "remember_token",
        "subscribe",
    }
)
"""What the element showing a component (``self.host``) has of its own, in
``atoll-elements.js``: a prop of one of these names would replace it with the prop's value,
and the component would fail as it calls it. Names starting with ``_`` are its own too."""


def _described(component: type[Component]) -> BuiltComponent:
    observed = list(component.observed)
    for name in observed:
        if not name.isidentifier() or name != name.lower():
            raise BuildError(
                f"{component.__name__} observes {name!r}: each observed attribute is a prop "
                "named in lower case, as a Python identifier (user_id is the user-id attribute)"
            )
        if name in HOST_MEMBERS or name.startswith("_"):
            raise BuildError(
                f"{component.__name__} observes {name!r}, which its element (self.host) has "
                f"as its own, and the prop would replace it: name the prop otherwise, such as "
                f"{name.strip('_') + '_value'!r} (taken: {', '.join(sorted(HOST_MEMBERS))}, "
                "and names starting with _)"
            )
    try:
        tag = check_tag(component)
    except ValueError as error:
        raise BuildError(str(error)) from error
    return BuiltComponent(component.__name__, tag, observed)


def _source_of(component: type[Component]) -> Path:
    module = sys.modules.get(component.__module__)
    path = getattr(module, "__file__", None)
    if component.__module__ == "__main__" or path is None or not path.endswith(".py"):
        raise BuildError(
            f"{component.__name__} is defined in {component.__module__!r}, which has no "
            "module file to compile: define components in a module of their own (ui.py)"
        )
    if component.__qualname__ != component.__name__:
        raise BuildError(
            f"{component.__qualname__} is not defined at the top of its module "
            f"{component.__module__!r}: the compiled module exports only its top-level classes"
        )
    return Path(path).resolve()


def _sources_linted(components: Sequence[type[Component]]) -> set[Path]:
    return {_source_of(component) for component in components}


def _lint(sources: Sequence[Path]) -> None:
    findings = [finding for source in sorted(set(sources)) for finding in lint_file(source)]
    if findings:
        raise BuildError(
            f"{len(findings)} construct(s) Transcrypt compiles wrongly; rewrite each as said:\n"
            + "\n".join(str(finding) for finding in findings)
        )


def _python_entry(components: Sequence[type[Component]]) -> str:
    lines = ["# The components of a build: compiling this compiles each, and what they import."]
    lines += [f"import {module}" for module in sorted({each.__module__ for each in components})]
    return "\n".join(lines) + "\n"


def _javascript_entry(components: Sequence[type[Component]]) -> str:
    modules = sorted({each.__module__ for each in components})
    lines = [
        "// Defines the custom element of each component of this build (written by atoll).",
        "import { define } from './atoll-elements.js';",
    ]
    lines += [f"import * as m{index} from './{name}.js';" for index, name in enumerate(modules)]
    for component in components:
        lines.append(f"define(m{modules.index(component.__module__)}.{component.__name__});")
    return "\n".join(lines) + "\n"


def _normalized(target: Path) -> list[str]:
    """The build's files, sorted, each made the same from the same sources (no timestamp)."""
    files = []
    for path in sorted(target.iterdir()):
        if path.suffix in _SKIPPED_SUFFIXES or not path.is_file():
            path.unlink()
            continue
        if path.suffix == ".js":
            path.write_bytes(_STAMP.sub(b"// Transcrypt'ed from Python\n", path.read_bytes()))
        files.append(path.name)
    return files


def _hash(target: Path, files: Sequence[str]) -> str:
    digest = hashlib.sha256()
    for name in files:
        digest.update(name.encode() + b"\0" + (target / name).read_bytes() + b"\0")
    return digest.hexdigest()[:_HASH_LENGTH]


def _check_in_node(
    node: str, target: Path, files: Sequence[str], components: Sequence[type[Component]]
) -> None:
    expected = {}
    for component in components:
        props: dict[str, object] = dict.fromkeys(component.observed)
        try:
            expected[component.__name__] = render(component(props).rendered())
        except Exception as error:
            raise BuildError(
                f"{component.__name__}'s view fails in CPython with no attribute set "
                f"({type(error).__name__}: {error}): an element renders before its attributes "
                "are set, so its view must take None for each"
            ) from error
    request = {
        "modules": [name for name in files if name.endswith((".js", ".mjs"))],
        "components": [
            {"module": each.__module__ + ".js", "name": each.__name__, "observed": each.observed}
            for each in components
        ],
    }
    finished = subprocess.run(  # noqa: S603 - node, with atoll's own script
        [node, str(_CHECK), str(target), msgspec.json.encode(request).decode()],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "NODE_NO_WARNINGS": "1"},
    )
    if finished.returncode != 0:
        raise BuildError(f"the check in Node failed to run:\n{finished.stderr.strip()}")
    report = msgspec.json.decode(finished.stdout)
    problems = [
        f"{name} does not load in Node: {error}"
        for name, error in report["modules"].items()
        if error is not None
    ]
    for name, shown in report["components"].items():
        if shown["error"] is not None:
            problems.append(
                f"{name} fails to render in Node with no attribute set: {shown['error']}"
            )
        elif shown["html"] != expected[name]:
            problems.append(
                f"{name} renders differently compiled, with no attribute set: Transcrypt "
                "compiled its view wrongly\n"
                f"  CPython: {expected[name]}\n  Node:    {shown['html']}"
            )
    missing = [
        tag for tag in (check_tag(each) for each in components) if tag not in report["defined"]
    ]
    if missing and not problems:
        problems.append(f"{ENTRY} did not define the element(s) {', '.join(missing)}")
    if problems:
        raise BuildError(
            "the compiled components fail in Node (Transcrypt compiles some Python wrongly "
            "without a word):\n" + "\n".join(problems)
        )


def _write_manifest(output: Path, built: Build) -> None:
    # A name of its own: two processes building at once each replace the manifest whole.
    handle, name = tempfile.mkstemp(prefix=MANIFEST + ".", dir=output)
    with os.fdopen(handle, "wb") as written:
        written.write(msgspec.json.format(msgspec.json.encode(built)) + b"\n")
    Path(name).replace(output / MANIFEST)


def _prune(output: Path, version: str) -> None:
    """Remove the builds older than the last :data:`KEPT_BUILDS`, by when they were made."""

    def made(path: Path) -> tuple[bool, float]:
        try:
            return path.name == version, path.stat().st_mtime
        except FileNotFoundError:  # pruned by another process meanwhile
            return False, 0.0

    builds = sorted(
        (path for path in output.iterdir() if path.is_dir() and not path.name.startswith(".")),
        key=made,
    )
    for old in builds[:-KEPT_BUILDS]:
        shutil.rmtree(old, ignore_errors=True)
