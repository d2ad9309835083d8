from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
from click.testing import CliRunner

import atoll
from atoll.cli import cli
from atoll.cli.run import load_target
from atoll.errors import TargetError


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A directory holding an importable application module, as the working directory."""
    (tmp_path / "shopapp.py").write_text(
        textwrap.dedent(
            """
            import atoll
            from atoll.kernel.lifecycle import Lifecycle

            app = atoll.App("shop")

            @app.task
            async def stop(lifecycle: Lifecycle) -> None:
                print("shop ran", flush=True)
                lifecycle.request_stop()

            def make():
                return app

            number = 3
            """
        )
    )
    (tmp_path / "broken.py").write_text("import not_a_module_anywhere\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    for name in ("shopapp", "broken"):
        sys.modules.pop(name, None)


def test_version_prints_the_package_version():
    result = CliRunner().invoke(cli, ["--version"])
    assert result.exit_code == 0
    assert result.output == f"atoll {atoll.__version__}\n"


def test_python_dash_m_atoll_shows_help():
    done = subprocess.run(
        [sys.executable, "-m", "atoll", "--help"], capture_output=True, text=True, check=True
    )
    assert "run" in done.stdout
    assert "Usage: atoll" in done.stdout


def test_run_without_a_target_shows_its_help():
    result = CliRunner().invoke(cli, ["run", "--help"])
    assert result.exit_code == 0
    assert "MODULE:OBJECT" in result.output


def test_run_runs_the_target_and_exits_with_its_status(project):
    result = CliRunner().invoke(cli, ["run", "shopapp:app"])
    assert result.exit_code == 0, result.output
    assert "shop ran" in result.output


def test_run_accepts_a_factory(project):
    result = CliRunner().invoke(cli, ["run", "shopapp:make"])
    assert result.exit_code == 0, result.output


def test_run_passes_the_options_to_the_application(project):
    result = CliRunner().invoke(cli, ["run", "shopapp:app", "--log-level", "loud"])
    assert result.exit_code == 2
    assert "log.level" in result.output


def test_run_shows_the_application_help(project):
    result = CliRunner().invoke(cli, ["run", "shopapp:app", "--help"])
    assert result.exit_code == 0
    assert "atoll run shopapp:app" in result.output
    assert "SHOP_SHUTDOWN_GRACE" in result.output


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("shopapp", "'shopapp' is not MODULE:OBJECT"),
        ("shopap:app", "cannot import 'shopap'"),
        ("shopapp:ap", "'shopapp' has no attribute 'ap'; did you mean 'app'?"),
        ("shopapp:zzz", "'shopapp' has no attribute 'zzz'"),
        ("shopapp:number", "is int 3, not an application"),
    ],
)
def test_run_explains_a_bad_target(project, target, message):
    result = CliRunner().invoke(cli, ["run", target])
    assert result.exit_code == 2
    assert message in result.output


def test_a_module_failing_inside_shows_its_own_error(project):
    with pytest.raises(ModuleNotFoundError, match="not_a_module_anywhere"):
        load_target("broken:app")


def test_load_target_follows_dotted_attributes(project):
    assert load_target("shopapp:app.name") == "shop"


def test_load_target_error_is_an_import_error(project):
    with pytest.raises(ImportError) as info:
        load_target("nowhere_at_all:app")
    assert isinstance(info.value, TargetError)


def test_load_target_imports_from_the_working_directory(tmp_path, monkeypatch):
    (tmp_path / "herehere.py").write_text("thing = 7\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in {"", str(tmp_path)}])
    try:
        assert load_target("herehere:thing") == 7
        assert sys.path[0] == str(tmp_path)
    finally:
        sys.modules.pop("herehere", None)


def test_run_without_a_target_is_a_usage_error():
    result = CliRunner().invoke(cli, ["run"])
    assert result.exit_code == 2
    assert "Missing argument 'MODULE:OBJECT'" in result.output


def test_a_module_whose_name_starts_like_a_missing_one_shows_its_own_error(project):
    (project / "redisx_app.py").write_text("import redisx\n")
    try:
        with pytest.raises(ModuleNotFoundError, match="No module named 'redisx'"):
            load_target("redisx_app:app")
    finally:
        sys.modules.pop("redisx_app", None)
