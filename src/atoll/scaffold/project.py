"""A new project: a service in four layers, its tests, and what builds, runs and checks it.

::

    plan = ProjectPlan("tally", broker="nats", database="postgres", with_ui=False)
    written = create_project(plan, Path("tally"))   # the paths written, relative to the directory

The files are the templates of ``atoll/scaffold/templates`` (shipped in the wheel), each
rendered by :class:`ProjectTemplate`: ``{{name}}`` is the value of ``name``, and a
placeholder without a value is an error, not a blank. ``package/`` becomes the project's
package, named as the project. ``requirements.lock`` is written from the versions installed
where atoll runs (:mod:`atoll.scaffold.lock`).
"""

from __future__ import annotations

import contextlib
import keyword
import re
import shutil
import string
import sys
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata, resources
from pathlib import Path
from typing import TYPE_CHECKING

from atoll._version import __version__
from atoll.errors import ConfigError
from atoll.scaffold.lock import installed_pins

if TYPE_CHECKING:
    from importlib.resources.abc import Traversable

__all__ = [
    "BROKERS",
    "DATABASES",
    "TEST_REQUIREMENTS",
    "ProjectPlan",
    "ProjectTemplate",
    "check_name",
    "create_project",
]

BROKERS: dict[str, tuple[str, str]] = {
    "memory": ("memory://", "atoll's in-memory broker, in the process: nothing to run"),
    "nats": ("nats://127.0.0.1:4222", "NATS with JetStream (nats-server -js)"),
    "rabbitmq": ("amqp://guest:guest@127.0.0.1:5672/", "RabbitMQ"),
    "redis": ("redis://127.0.0.1:6379/0", "Redis Streams"),
}
"""Each broker's URL in the project's configuration, and what it is."""

DATABASES: dict[str, tuple[str, str]] = {
    "sqlite": ("", "empty: SQLite, in data/{name}.db, migrated as the service starts"),
    "postgres": (
        "postgresql+asyncpg://postgres@127.0.0.1:5432/{name}",
        "PostgreSQL: create the database, then `make migrate` applies the migrations",
    ),
}
"""Each database's URL in the project's configuration, and what it is."""

TEST_REQUIREMENTS = ("pytest", "pytest-asyncio", "import-linter")
"""What the project's tests need beside atoll."""

_NAME = re.compile(r"[a-z][a-z0-9_]*")
_RESERVED = frozenset({"atoll", "test", "tests", "app", "migrations"})
_TEMPLATES = "templates"
_ALEMBIC_TEMPLATE = "adapters/sqlalchemy/alembic_template"
"""The Alembic environment atoll db writes (read as files: the adapter is not imported)."""
_ALEMBIC_FILES = ("env.py", "script.py.mako")
_PACKAGE = "package"
_RENAMED = {"gitignore": ".gitignore"}


_PLACEHOLDER = r"""\{\{(?:
    (?P<escaped>(?!))|
    (?P<named>[a-z_][a-z0-9_]*)\}\}|
    (?P<braced>(?!))|
    (?P<invalid>)
)"""
"""``{{name}}``; no escape and no other form: ``{{`` alone is an error, named by its line."""


class ProjectTemplate(string.Template):
    """A template whose placeholders are ``{{name}}``: ``$`` is the Makefile's and the shell's."""

    # string.Template compiles a str pattern when the class is made: mypy knows only the result
    pattern = _PLACEHOLDER  # type: ignore[assignment]


@dataclass(frozen=True)
class ProjectPlan:
    """What ``atoll new`` makes.

    Args:
        name: the project's name, which is its package's and its service's.
        broker: the broker of its configuration: ``memory`` (in the process) or a server.
        database: the database of its configuration.
        with_ui: whether the service serves a UI component (``atoll[frontends]``).
    """

    name: str
    broker: str = "memory"
    database: str = "sqlite"
    with_ui: bool = False

    def __post_init__(self) -> None:
        for what, value, known in (
            ("broker", self.broker, BROKERS),
            ("database", self.database, DATABASES),
        ):
            if value not in known:
                raise ConfigError(
                    f"{what} {value!r} is not one atoll new knows: choose one of "
                    f"{', '.join(sorted(known))}"
                )

    @property
    def extras(self) -> list[str]:
        """The extras of atoll the project installs: SQL always, and those its choices need."""
        extras = ["sql"]
        if self.database == "postgres":
            extras.append("postgres")
        if self.broker != "memory":
            extras.append(self.broker)
        if self.with_ui:
            extras.append("frontends")
        return extras

    def values(self, revision: str, created: datetime) -> dict[str, str]:
        """The value of each placeholder of the templates."""
        broker_url, broker_comment = BROKERS[self.broker]
        database_url, database_comment = DATABASES[self.database]
        ui = self.with_ui
        return {
            "name": self.name,
            "env": self.name.upper(),
            "tag": self.name.replace("_", "-"),
            "atoll_version": __version__,
            "extras": ",".join(self.extras),
            "broker_url": broker_url,
            "broker_comment": broker_comment,
            "database_url": database_url.format(name=self.name),
            "database_comment": database_comment.format(name=self.name),
            "config_summary": (
                f"{'SQLite' if self.database == 'sqlite' else 'PostgreSQL'} and "
                f"{'the in-memory broker' if self.broker == 'memory' else self.broker}."
            ),
            "revision": revision,
            "created": created.strftime("%Y-%m-%d %H:%M:%S"),
            "bottom_layer": "(contracts) | (ui)" if ui else "contracts",
            "ui_import": ", ui" if ui else "",
            "ui_declaration": "\n    application.service.components(ui.NoteCard)" if ui else "",
            "ui_tree": "  ui.py              NoteCard, a component the service serves\n"
            if ui
            else "",
        }


def check_name(name: str) -> None:
    """Refuse a name that cannot be a Python package's of its own.

    Raises:
        ConfigError: the name is not lower-case letters, digits and ``_`` starting with a
            letter, or it is a keyword, a module of the standard library or of a distribution
            installed here, or one of atoll's (the message suggests a name that is none of
            these).
    """
    suggestion = re.sub(r"[^a-z0-9_]+", "_", name.lower()).strip("_")
    if suggestion[:1].isdigit() or not suggestion:
        suggestion = f"my_{suggestion}".rstrip("_")
    if not _NAME.fullmatch(name):
        raise ConfigError(
            f"{name!r} is not a package name: use lower-case letters, digits and underscores, "
            f"starting with a letter, such as {suggestion!r}"
        )
    if keyword.iskeyword(name) or name in sys.stdlib_module_names or name in _RESERVED:
        raise ConfigError(
            f"{name!r} is taken: it is a Python keyword, a module of the standard library or "
            f"a name atoll uses, and the project's package would hide it; choose another, "
            f"such as '{name}_service'"
        )
    installed = metadata.packages_distributions().get(name)
    if installed:
        raise ConfigError(
            f"{name!r} is taken: it is a module of {', '.join(sorted(set(installed)))}, "
            f"installed here, which the project's package would hide; choose another, such "
            f"as '{name}_service'"
        )


def create_project(
    plan: ProjectPlan, directory: Path, *, now: datetime | None = None
) -> list[Path]:
    """Write the project of ``plan`` into ``directory``, which is created if missing.

    All the files or none: they are written apart, then renamed into place (see
    :func:`_write_all`), so that a write that fails leaves nothing and running again works.

    Returns:
        The files written, relative to ``directory``, in the order written.

    Raises:
        ConfigError: the name is refused (:func:`check_name`), or ``directory`` is a file or
            a directory with something in it: nothing is overwritten.
        OSError: a file could not be written (a full disk, a permission); what was written
            is removed.
    """
    check_name(plan.name)
    if directory.exists() and (not directory.is_dir() or any(directory.iterdir())):
        what = "is not empty" if directory.is_dir() else "is a file"
        raise ConfigError(
            f"{directory} {what}: atoll new writes into a new or empty directory only, "
            "and overwrites nothing; name another with --directory DIR"
        )
    lock = lock_text(plan)  # before anything is written: it may refuse
    created = now or datetime.now(tz=UTC)
    revision = uuid.uuid4().hex[:12]
    values = plan.values(revision, created)
    files: dict[Path, str] = {}
    root = resources.files("atoll.scaffold").joinpath(_TEMPLATES)
    for template, relative in _templates(root, Path()):
        target = _target(relative, plan, revision, created)
        if target is not None:
            files[target] = ProjectTemplate(template.read_text(encoding="utf-8")).substitute(values)
    # Alembic's environment, as atoll db writes it for any service: one copy, not two.
    migrations = Path(plan.name, "migrations")
    for name in _ALEMBIC_FILES:
        files[migrations / name] = (
            resources.files("atoll").joinpath(_ALEMBIC_TEMPLATE, name).read_text(encoding="utf-8")
        )
    files[Path("requirements.lock")] = lock
    _write_all(files, directory)
    return list(files)


def lock_text(plan: ProjectPlan) -> str:
    """``requirements.lock``: the project's dependencies pinned as installed here.

    Raises:
        ConfigError: atoll runs without its installed metadata (from a source tree on
            ``PYTHONPATH``), which alone names its dependencies.
    """
    pins = installed_pins([f"atoll[{','.join(plan.extras)}]", *TEST_REQUIREMENTS], skip={"atoll"})
    if "atoll" in pins.missing:
        raise ConfigError(
            "atoll's metadata is not installed here (does it run from a source tree?): the "
            "lock file could not name its dependencies; install atoll (pip install -e "
            "PATH_TO_ATOLL for a checkout) and run atoll new again"
        )
    lines = [
        f"# The dependencies of {plan.name} and of its tests, pinned to the versions installed",
        f"# where `atoll new` ran (atoll {__version__}); atoll itself is installed apart, from",
        "# the Makefile's ATOLL. No hashes: re-resolve with pip-tools (pip-compile",
        "# --generate-hashes) to have them.",
        *pins.lines,
    ]
    if pins.missing:
        lines.append("# not installed where `atoll new` ran, so not pinned:")
        lines.extend(pins.missing)
    return "\n".join(lines) + "\n"


def _templates(folder: Traversable, relative: Path) -> list[tuple[Traversable, Path]]:
    """Every template under ``folder``, with its path relative to the templates' root."""
    found: list[tuple[Traversable, Path]] = []
    for entry in sorted(folder.iterdir(), key=lambda entry: entry.name):
        if entry.is_dir():
            found.extend(_templates(entry, relative / entry.name))
        elif entry.name.endswith(".tmpl"):
            found.append((entry, relative / entry.name))
    return found


def _target(relative: Path, plan: ProjectPlan, revision: str, created: datetime) -> Path | None:
    """Where the template at ``relative`` is written; ``None`` for one the plan leaves out."""
    name = relative.name.removesuffix(".tmpl")
    if name in {"ui.py", "test_ui.py"} and not plan.with_ui:
        return None
    if name == "first.py":
        name = f"{created:%Y%m%d_%H%M}_{revision}_first.py"
    elif name == "config.toml":
        name = f"{plan.name}.toml"
    name = _RENAMED.get(name, name)
    parts = relative.parent.parts
    if parts[:1] == (_PACKAGE,):
        parts = (plan.name, *parts[1:])
    return Path(*parts, name)


def _write_all(files: dict[Path, str], directory: Path) -> None:
    """Write ``files`` into ``directory``, a new or empty one, all of them or none.

    A new directory is written under another name beside it, in the same parent, and renamed
    to its own at the end: one rename, which is atomic. An empty directory is kept as it is
    (it may be the working directory, or have permissions of its own): the files are written
    into a hidden directory inside it, whose entries are then renamed one level up. On any
    failure what was written, and any parent directory made for it, is removed.
    """
    staged = f".{directory.name or 'project'}.atoll-new-{uuid.uuid4().hex[:8]}"
    existing = directory.is_dir()
    staging = directory / staged if existing else directory.parent / staged
    missing = [] if existing else [up for up in directory.absolute().parents if not up.exists()]
    try:
        for parent in reversed(missing):
            parent.mkdir()
        staging.mkdir()
        moved: list[Path] = []  # the entries renamed into the existing directory
        try:
            for relative, text in files.items():
                _write(staging / relative, text)
            if existing:
                for entry in sorted(staging.iterdir()):
                    moved.append(entry.rename(directory / entry.name))  # noqa: PERF401 - one at a time
                staging.rmdir()
            else:
                staging.rename(directory)
        except BaseException:
            for path in moved:
                if path.is_dir() and not path.is_symlink():
                    shutil.rmtree(path, ignore_errors=True)
                else:
                    path.unlink(missing_ok=True)
            shutil.rmtree(staging, ignore_errors=True)
            raise
    except BaseException:
        for parent in missing:  # the deepest first: each is empty once the one in it is gone
            with contextlib.suppress(OSError):
                parent.rmdir()
        raise


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
