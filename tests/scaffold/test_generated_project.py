"""A project of ``atoll new`` passes its own ``make test`` at once, and its contracts bite.

One project is made and its virtual environment installed once (``make test`` with atoll from
this checkout, ``ATOLL=...``, and the rest from its lock through the configured index, which
takes about a minute); the tests after the first reuse it.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from atoll.cli import cli

ROOT = Path(__file__).resolve().parents[2]
MAKE_BOUND = 900
"""Seconds ``make test`` may take, its virtual environment installed: generous."""

pytestmark = pytest.mark.slow


def clean_environment() -> dict[str, str]:
    """This process's environment, less what would reach into the project's own.

    PYTHONPATH would import atoll from this checkout instead of the project's .venv; an
    outer make's variables would change the inner one's.
    """
    left_out = {"PYTHONPATH", "MAKEFLAGS", "MFLAGS", "MAKELEVEL", "VIRTUAL_ENV"}
    return {key: value for key, value in os.environ.items() if key not in left_out}


def run(argv, cwd, timeout=MAKE_BOUND):
    return subprocess.run(
        argv,
        cwd=cwd,
        env=clean_environment(),
        capture_output=True,
        text=True,
        check=False,
        timeout=timeout,
    )


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """The project, after its ``make test``: its directory and what make printed."""
    directory = tmp_path_factory.mktemp("new") / "tally"
    made = CliRunner().invoke(cli, ["new", "tally", "--directory", str(directory)])
    assert made.exit_code == 0, made.output
    make = shutil.which("make")
    assert make is not None, "make is missing: apt-get install make"
    python = Path(getattr(sys, "_base_executable", sys.executable))
    tested = run([make, "test", f"ATOLL={ROOT}", f"PYTHON={python}"], directory)
    return directory, tested


def test_make_test_passes_at_once(project):
    _, tested = project
    output = tested.stdout + tested.stderr
    assert tested.returncode == 0, output
    assert "Contracts: 2 kept, 0 broken." in output
    assert "11 passed" in output
    assert "skipped" not in output


@pytest.mark.parametrize(
    ("module", "line", "broken"),
    [
        ("model.py", "import atoll", "the model and the domain import no framework BROKEN"),
        ("domain.py", "import tally.application", "the layers point inward BROKEN"),
    ],
)
def test_the_layer_contracts_catch_an_import_that_points_outward(project, module, line, broken):
    directory, tested = project
    assert tested.returncode == 0, tested.stdout + tested.stderr
    path = directory / "tally" / module
    kept = path.read_text()
    path.write_text(f"{line}  # noqa: F401\n{kept}")
    try:
        checked = run([str(directory / ".venv" / "bin" / "lint-imports")], directory, 120)
    finally:
        path.write_text(kept)
    assert checked.returncode == 1, checked.stdout + checked.stderr
    assert broken in checked.stdout


def test_the_installed_wheel_ships_the_templates(project, tmp_path):
    """atoll installed from this checkout as a wheel, not from the source tree, makes one too."""
    directory, tested = project
    assert tested.returncode == 0, tested.stdout + tested.stderr
    atoll = directory / ".venv" / "bin" / "atoll"
    made = run([str(atoll), "new", "other", "--with-ui", "--directory", str(tmp_path)], tmp_path)
    assert made.returncode == 0, made.stdout + made.stderr
    assert (tmp_path / "other" / "ui.py").is_file()
    assert (tmp_path / ".github" / "workflows" / "ci.yml").is_file()
