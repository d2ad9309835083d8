"""The lock files: what ``make demo`` installs is what atoll runs with, and nothing more."""

from __future__ import annotations

import re
import subprocess
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+) \\$", re.MULTILINE)


def pins(name: str) -> dict[str, str]:
    text = (ROOT / name).read_text()
    return {canonicalize_name(package): version for package, version in PIN.findall(text)}


def extra(name: str) -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = project["dependencies"] if name == "" else project["optional-dependencies"][name]
    return {canonicalize_name(Requirement(line).name) for line in wanted} - {"atoll"}


def test_every_line_of_both_locks_is_pinned_with_hashes():
    for name in ("requirements.lock", "requirements-dev.lock"):
        text = (ROOT / name).read_text()
        blocks = [block for block in re.split(r"\n(?=\S)", text) if not block.startswith("#")]
        assert blocks, name
        for block in blocks:
            assert PIN.match(block), block
            assert "--hash=sha256:" in block, block


def test_the_development_lock_keeps_every_pin_of_the_runtime_lock():
    runtime, development = pins("requirements.lock"), pins("requirements-dev.lock")
    assert {name: development.get(name) for name in runtime} == runtime


def wanted_by(name: str) -> dict[str, set[str]]:
    """Who pulls each pinned package into a lock, from pip-compile's ``# via`` comments."""
    text = (ROOT / name).read_text()
    who: dict[str, set[str]] = {}
    for block in re.split(r"\n(?=\S)", text):
        pinned = PIN.match(block)
        if pinned is None:
            continue
        comments = [line.strip().lstrip("#").strip() for line in block.splitlines() if "#" in line]
        via = {entry.removeprefix("via").strip() for entry in comments} - {""}
        who[canonicalize_name(pinned.group(1))] = via
    return who


def test_the_runtime_lock_holds_atoll_with_every_extra_and_no_development_tool():
    runtime = pins("requirements.lock")
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = set(project["optional-dependencies"]) - {"all", "dev"}
    wanted = extra("").union(*(extra(name) for name in extras))
    assert wanted - set(runtime) == set()
    tools = {"mypy", "ruff", "pytest", "coverage", "import-linter", "fastapi", "gemstone"}
    assert tools <= extra("dev")
    assert tools & wanted == set()
    # A tool may still be pinned at run time when a runtime dependency needs it: Transcrypt
    # 3.9.5 (atoll[frontends]) requires mypy. It must never come from atoll itself.
    who = wanted_by("requirements.lock")
    for tool in tools & set(runtime):
        assert who[tool], tool
        assert "atoll (pyproject.toml)" not in who[tool], (tool, who[tool])
        assert who[tool] <= set(runtime), (tool, who[tool])
    assert tools <= set(pins("requirements-dev.lock"))


def test_mypy_is_in_the_runtime_lock_only_because_transcrypt_needs_it():
    assert wanted_by("requirements.lock")["mypy"] == {"transcrypt"}


def make(*targets: str) -> str:
    """What make would run for ``targets`` in a checkout without a virtual environment."""
    done = subprocess.run(
        ["make", "-n", "VENV=/nonexistent/venv", *targets],  # noqa: S607 - make from PATH
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout


def test_make_demo_installs_the_runtime_lock_alone():
    commands = make("demo")
    assert "-r requirements.lock" in commands
    assert "requirements-dev.lock" not in commands
    assert "-m runnerly" in commands


def test_make_test_installs_the_development_lock_on_top_of_the_runtime_one():
    commands = make("install")
    assert commands.index("-r requirements.lock") < commands.index("-r requirements-dev.lock")
