"""``atoll new``: the files of a project, its name and directory checked, its choices written.

These read what ``atoll new`` wrote, and run its first migration against its schema; the
project's own ``make test``, in a virtual environment of its own, is test_generated_project.py.
"""

import errno
import importlib.util
import os
import shlex
import shutil
import subprocess
import sys
import tomllib
import zipfile
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

import pytest
from click.testing import CliRunner

from atoll._version import __version__
from atoll.cli import cli
from atoll.errors import ConfigError
from atoll.frontends.component import render_component
from atoll.scaffold.lock import Requirement, installed_pins, normalized
from atoll.scaffold.project import ProjectPlan, ProjectTemplate, check_name, create_project

ROOT = Path(__file__).resolve().parents[2]


def new(*args: str):
    return CliRunner().invoke(cli, ["new", *args], catch_exceptions=False)


@pytest.mark.parametrize(
    ("name", "told"),
    [
        ("My-App", "'My-App' is not a package name: use lower-case letters, digits and"),
        ("My-App", "underscores, starting with a letter, such as 'my_app'"),
        ("2fast", "such as 'my_2fast'"),
        ("", "is not a package name"),
        ("json", "'json' is taken: it is a Python keyword, a module of the standard library"),
        ("class", "'class' is taken"),
        ("atoll", "such as 'atoll_service'"),
        ("httpx", "'httpx' is taken: it is a module of httpx, installed here, which the"),
    ],
)  # fmt: skip
def test_a_name_that_is_no_package_of_its_own_is_refused(tmp_path, name, told):
    result = new(name, "--directory", str(tmp_path / "project"))
    assert result.exit_code == 2
    assert told in result.output
    assert not (tmp_path / "project").exists()


def test_a_directory_with_something_in_it_is_refused_and_left_alone(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    result = new("tally", "--directory", str(tmp_path))
    assert result.exit_code == 2
    assert f"{tmp_path} is not empty: atoll new writes into a new or empty directory" in (
        result.output
    )
    assert [path.name for path in tmp_path.iterdir()] == ["notes.txt"]


def test_a_file_is_no_directory_to_write_into(tmp_path):
    (tmp_path / "tally").write_text("mine")
    result = new("tally", "--directory", str(tmp_path / "tally"))
    assert result.exit_code == 2
    assert f"{tmp_path / 'tally'} is a file: atoll new writes into a new or empty" in result.output


def test_a_directory_that_cannot_be_made_fails_with_the_reason(tmp_path):
    (tmp_path / "file").write_text("mine")
    result = new("tally", "--directory", str(tmp_path / "file" / "tally"))
    assert result.exit_code == 1
    assert f"atoll new tally: cannot write {tmp_path / 'file' / 'tally'}: " in result.output
    assert (tmp_path / "file").read_text() == "mine"


def full_disk_after(count: int):
    """An OSError as the disk fills up, after ``count`` calls went through."""
    calls = []

    def fail(real):
        def failing(*args, **kwargs):
            if len(calls) == count:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            calls.append(args)
            return real(*args, **kwargs)

        return failing

    return calls, fail


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


@pytest.mark.parametrize("existing", [False, True], ids=["new", "empty"])
@pytest.mark.parametrize("failing", ["write", "rename"])
def test_a_write_that_fails_leaves_nothing_and_the_command_runs_again(
    tmp_path, monkeypatch, existing, failing
):
    directory = tmp_path / "src" / "tally"
    if existing:
        directory.mkdir(parents=True)
    calls, fail = full_disk_after(5 if failing == "write" else 2 if existing else 0)
    if failing == "write":
        monkeypatch.setattr("atoll.scaffold.project._write", fail(write))
    else:
        monkeypatch.setattr(Path, "rename", fail(Path.rename))
    result = new("tally", "--directory", str(directory))
    assert result.exit_code == 1
    assert f"atoll new tally: cannot write {directory}: No space left on device" in result.output
    assert len(calls) == (5 if failing == "write" else 2 if existing else 0)  # partway
    if existing:
        assert list(directory.iterdir()) == []
    else:
        assert list(tmp_path.iterdir()) == []  # src/, made for the project, is gone too
    monkeypatch.undo()
    again = new("tally", "--directory", str(directory))
    assert again.exit_code == 0, again.output
    assert (directory / "tally" / "application.py").is_file()


def test_an_empty_directory_is_kept_and_nothing_else_is_left_in_it(tmp_path):
    identity = tmp_path.stat().st_ino  # the working directory of a shell, it may be
    assert new("tally", "--directory", str(tmp_path)).exit_code == 0
    assert tmp_path.stat().st_ino == identity
    assert sorted(path.name for path in tmp_path.iterdir() if path.name.startswith(".")) == [
        ".github",
        ".gitignore",
    ]
    assert [path.name for path in tmp_path.parent.iterdir() if "atoll-new" in path.name] == []


def test_a_requirement_not_installed_here_is_written_unpinned(tmp_path, monkeypatch):
    monkeypatch.setattr(
        "atoll.scaffold.project.TEST_REQUIREMENTS", ("pytest", "surely-not-installed-here")
    )
    create_project(ProjectPlan("tally"), tmp_path)
    lines = (tmp_path / "requirements.lock").read_text().splitlines()
    assert lines[-2:] == [
        "# not installed where `atoll new` ran, so not pinned:",
        "surely-not-installed-here",
    ]


def test_without_atoll_installed_the_lock_cannot_be_written(tmp_path, monkeypatch):
    real = metadata.distribution

    def distribution(name):
        if name == "atoll":
            raise metadata.PackageNotFoundError(name)
        return real(name)

    monkeypatch.setattr(metadata, "distribution", distribution)
    with pytest.raises(ConfigError, match="atoll's metadata is not installed here"):
        create_project(ProjectPlan("tally"), tmp_path / "tally")
    assert not (tmp_path / "tally").exists()


def test_an_empty_directory_is_written_into(tmp_path):
    result = new("tally", "--directory", str(tmp_path))
    assert result.exit_code == 0, result.output
    assert (tmp_path / "tally" / "application.py").is_file()
    assert "next: cd " in result.output


def test_the_directory_is_the_name_by_default(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert new("tally").exit_code == 0
    assert (tmp_path / "tally" / "tally" / "__main__.py").is_file()


def test_the_default_project_runs_on_embedded_defaults(tmp_path):
    create_project(ProjectPlan("tally"), tmp_path)
    config = tomllib.loads((tmp_path / "tally.toml").read_text())
    assert config == {"broker": {"url": "memory://"}, "db": {"url": ""}}
    project = tomllib.loads((tmp_path / "pyproject.toml").read_text())["project"]
    assert project["dependencies"] == [f"atoll[sql]>={__version__}"]
    assert not (tmp_path / "tally" / "ui.py").exists()


@pytest.mark.parametrize(
    ("broker", "url", "library"),
    [
        ("nats", "nats://127.0.0.1:4222", "nats-py"),
        ("rabbitmq", "amqp://guest:guest@127.0.0.1:5672/", "aio-pika"),
        ("redis", "redis://127.0.0.1:6379/0", "redis"),
    ],
)
def test_the_broker_and_database_chosen_are_configured_and_installed(
    tmp_path, broker, url, library
):
    result = new(
        "tally", "--broker", broker, "--database", "postgres", "--directory", str(tmp_path)
    )
    assert result.exit_code == 0, result.output
    config = tomllib.loads((tmp_path / "tally.toml").read_text())
    assert config["broker"]["url"] == url
    assert config["db"]["url"] == "postgresql+asyncpg://postgres@127.0.0.1:5432/tally"
    project = tomllib.loads((tmp_path / "pyproject.toml").read_text())["project"]
    assert project["dependencies"] == [f"atoll[sql,postgres,{broker}]>={__version__}"]
    pinned = pins(tmp_path / "requirements.lock")
    assert pinned[library] == metadata.version(library)
    assert pinned["asyncpg"] == metadata.version("asyncpg")


def test_an_unknown_broker_is_refused():
    result = CliRunner().invoke(cli, ["new", "tally", "--broker", "kafka"])
    assert result.exit_code == 2
    assert "'kafka' is not one of 'nats', 'rabbitmq', 'redis'" in result.output
    with pytest.raises(ConfigError, match="broker 'kafka' is not one atoll new knows"):
        ProjectPlan("tally", broker="kafka")


def pins(lock: Path) -> dict[str, str]:
    lines = [line for line in lock.read_text().splitlines() if not line.startswith("#")]
    found = {}
    for line in lines:
        name, _, version = line.partition("==")
        assert version, f"{line!r} is not pinned"
        found[normalized(name)] = version
    return found


def test_the_lock_pins_what_is_installed_here_and_not_atoll(tmp_path):
    create_project(ProjectPlan("tally"), tmp_path)
    pinned = pins(tmp_path / "requirements.lock")
    for name in ("msgspec", "sqlalchemy", "alembic", "aiosqlite", "pytest", "import-linter"):
        assert pinned[name] == metadata.version(name), name
    assert "atoll" not in pinned
    assert "asyncpg" not in pinned  # no extra asked for it
    assert "nats-py" not in pinned


def test_the_lock_follows_extras_and_leaves_out_what_is_not_installed():
    pinned = installed_pins(["uvicorn[standard]", "surely-not-installed-here"])
    names = {normalized(line.partition("==")[0]) for line in pinned.lines}
    assert {"uvicorn", "httptools", "click", "h11"} <= names  # httptools: extra "standard"
    assert "colorama" not in names  # sys_platform == 'win32', not installed here
    assert pinned.missing == ["surely-not-installed-here"]


def test_a_requirement_is_read_with_its_extras_and_its_condition():
    assert Requirement.parse('Foo_Bar[Socks, http2] >= 1.0 ; extra == "all"') == Requirement(
        "foo-bar", frozenset({"socks", "http2"}), conditional=True, when_extras={"all"}
    )
    with pytest.raises(ValueError, match="is not a requirement"):
        Requirement.parse("==1.0")


def test_a_placeholder_without_a_value_is_an_error_not_a_blank():
    assert ProjectTemplate("$(BIN) {{name}} $$x").substitute({"name": "tally"}) == (
        "$(BIN) tally $$x"
    )
    with pytest.raises(KeyError, match="missing"):
        ProjectTemplate("{{missing}}").substitute({})
    with pytest.raises(ValueError, match="Invalid placeholder"):
        ProjectTemplate("{{ name }}").substitute({"name": "tally"})


def test_every_file_is_rendered_with_no_placeholder_left(tmp_path):
    written = create_project(
        ProjectPlan("tally", with_ui=True), tmp_path, now=datetime(2026, 12, 5, 9, 30, tzinfo=UTC)
    )
    assert len(written) == len(set(written))
    for path in written:
        assert "{{" not in (tmp_path / path).read_text(), path
    [migration] = (tmp_path / "tally" / "migrations" / "versions").iterdir()
    assert migration.name.startswith("20261205_0930_")
    assert {".github/workflows/ci.yml", "Makefile", ".gitignore", "README.md"} <= {
        path.as_posix() for path in written
    }


def test_the_readme_starts_with_make_run_and_make_test(tmp_path):
    create_project(ProjectPlan("tally"), tmp_path)
    readme = (tmp_path / "README.md").read_text()
    assert readme.split("```")[1].split("\n")[1:3] == [
        "make run     # installs into .venv from the lock file, runs the service (Ctrl-C stops it)",
        "make test    # installs, then checks the layer contracts and runs the tests",
    ]
    assert "run: make test" in (tmp_path / ".github" / "workflows" / "ci.yml").read_text()


def dry_run(target: str, directory: Path) -> list[str]:
    """The commands ``make TARGET`` runs in ``directory``, printed, not run (``make -n``)."""
    make = shutil.which("make")
    assert make is not None, "make is missing: apt-get install make"
    outer = {"MAKEFLAGS", "MFLAGS", "MAKELEVEL"}  # an outer make's, which would change it
    environment = {key: value for key, value in os.environ.items() if key not in outer}
    result = subprocess.run(
        [make, "-n", target],
        cwd=directory,
        env=environment,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout.replace("\\\n", "").splitlines()


def test_the_image_is_written_by_atoll_deploy_image_from_a_lock_with_hashes(tmp_path, monkeypatch):
    """One writer of the Dockerfile: make image runs atoll deploy image, which checks hashes."""
    create_project(ProjectPlan("tally"), tmp_path)
    assert not (tmp_path / "Dockerfile").exists()
    commands = dry_run("image", tmp_path)
    [resolve] = [line for line in commands if "pip-compile" in line]
    assert "--generate-hashes" in resolve.split()
    assert "--build-deps-for wheel" in resolve  # the build backend, for pip install .
    assert "--output-file image.lock pyproject.toml" in resolve
    [write] = [line for line in commands if " deploy image" in line]
    assert shlex.split(write) == [".venv/bin/atoll", "deploy", "image", "--lock", "image.lock"]
    assert commands[-1] == "docker build -t tally:latest ."

    # What that command writes in the project, once pip-compile has written the lock:
    (tmp_path / "image.lock").write_text("msgspec==0.19.0 \\\n    --hash=sha256:" + "0" * 64 + "\n")
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, shlex.split(write)[1:], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    dockerfile = (tmp_path / "Dockerfile").read_text()
    assert "COPY image.lock ./requirements.lock" in dockerfile
    assert "RUN /venv/bin/pip install --no-deps --no-build-isolation ." in dockerfile
    assert dockerfile.endswith(
        'CMD ["python", "-m", "tally", "--server-host", "0.0.0.0", "--server-port", "8000"]\n'
    )
    assert ".venv" in (tmp_path / ".dockerignore").read_text().splitlines()


def test_the_project_builds_as_the_image_installs_it_with_its_migrations(tmp_path):
    """pip install --no-deps --no-build-isolation .: its build backend, which image.lock pins."""
    project = tmp_path / "tally"
    create_project(ProjectPlan("tally"), project)
    pip_wheel = [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-index", "--no-deps"]
    built = subprocess.run(
        [*pip_wheel, "--no-build-isolation", "--wheel-dir", str(tmp_path / "wheels"), str(project)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert built.returncode == 0, built.stdout + built.stderr
    [wheel] = (tmp_path / "wheels").glob("tally-0.1.0-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {"tally/app.py", "tally/migrations/env.py", "tally/migrations/script.py.mako"} <= names
    assert any(name.startswith("tally/migrations/versions/") for name in names)
    assert not any(name.startswith("tests/") for name in names)


def test_with_ui_the_service_serves_a_component(tmp_path):
    create_project(ProjectPlan("tally", with_ui=True), tmp_path)
    assert (
        "application.service.components(ui.NoteCard)" in (tmp_path / "tally" / "app.py").read_text()
    )
    project = tomllib.loads((tmp_path / "pyproject.toml").read_text())
    assert "frontends" in project["project"]["dependencies"][0]
    spec = importlib.util.spec_from_file_location("tally_ui", tmp_path / "tally" / "ui.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.NoteCard.tag == "tally-note-card"
    assert "<p>buy milk</p>" in render_component(module.NoteCard, {"text": "buy milk"})
    assert (tmp_path / "tests" / "test_ui.py").is_file()


def test_names_that_are_packages_of_their_own_pass():
    for name in ("tally", "notes_2", "a"):
        check_name(name)


def test_the_first_migration_is_the_schema(tmp_path):
    """Applied to a new database, it leaves nothing for autogenerate to write."""
    project = tmp_path / "project"
    create_project(ProjectPlan("tally"), project)
    environ = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(project)])}
    target = ["tally.app:service", "--db-data-dir", str(tmp_path / "data")]

    def atoll(*argv: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "atoll", "db", *argv],
            cwd=project,
            env=environ,
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    assert "upgraded to" in atoll("upgrade", *target)
    written = atoll("revision", *target, "-m", "anything left")
    assert "matches the schema; no revision written" in written
