"""An application's own defaults: in place of its options' declared ones, below every source."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

import atoll
from atoll.errors import ConfigError
from atoll.kernel.app import App
from atoll.kernel.entrypoint import load_config


@dataclass(frozen=True)
class PoolOptions:
    size: int = atoll.option(5, help="connections kept")


@dataclass(frozen=True)
class DbOptions:
    url: str = atoll.option("sqlite://", help="database URL")
    hosts: list[str] = atoll.option(default_factory=list, help="replicas")
    pool: PoolOptions = field(default_factory=PoolOptions)


def app_with_defaults() -> App:
    app = App("runs")
    app.options("db", DbOptions)
    app.defaults({"db": {"url": "postgresql://db/runs", "hosts": ["a"], "pool": {"size": 9}}})
    return app


def test_the_application_s_defaults_replace_the_declared_ones():
    db = load_config(app_with_defaults(), [], {}).section("db")
    assert db == DbOptions("postgresql://db/runs", ["a"], PoolOptions(9))


def test_a_file_the_environment_and_a_flag_each_win_over_them(tmp_path):
    config = tmp_path / "runs.toml"
    config.write_text('[db]\nurl = "sqlite:///file.db"\n')
    app = app_with_defaults()
    assert load_config(app, ["--config", str(config)], {}).section("db").url == (
        "sqlite:///file.db"
    )
    environ = {"RUNS_DB_POOL_SIZE": "3"}
    assert load_config(app, [], environ).section("db").pool.size == 3
    assert load_config(app, ["--db-hosts", "b,c"], {}).section("db").hosts == ["b", "c"]


def test_help_shows_them_as_the_defaults(capsys):
    with pytest.raises(SystemExit):
        load_config(app_with_defaults(), ["--help"], {})
    shown = " ".join(capsys.readouterr().out.split())
    assert 'default: "postgresql://db/runs"' in shown
    assert "default: 9" in shown


def test_print_config_says_they_are_defaults():
    config = load_config(app_with_defaults(), ["--print-config"], {})
    assert 'db.url = "postgresql://db/runs"  (default)' in config.describe()
    assert config.origin("db.url").kind == "default"


def test_a_list_default_is_never_shared_between_loads():
    app = app_with_defaults()
    first = load_config(app, [], {}).section("db")
    first.hosts.append("changed")
    assert load_config(app, [], {}).section("db").hosts == ["a"]


def test_a_default_naming_no_option_is_refused_with_a_hint():
    app = app_with_defaults()
    app.defaults({"db": {"pool": {"sise": 3}}})
    with pytest.raises(ConfigError, match=r"defaults name no option 'db.pool.sise'; did you mean"):
        load_config(app, [], {})


def test_a_default_of_the_wrong_type_is_refused_as_any_value_is():
    app = app_with_defaults()
    app.defaults({"db": {"pool": {"size": "many"}}})
    with pytest.raises(ConfigError, match=r'db.pool.size = "many" \(default\) is invalid'):
        load_config(app, [], {})


async def test_a_system_s_defaults_apply_when_composed_and_win_over_its_services():
    import atoll.testing  # noqa: PLC0415 - the harness, for this test only

    service = atoll.Service("runs")
    service.options("store", DbOptions)
    service.defaults({"store": {"url": "memory://runs", "hosts": ["a"]}})
    system = atoll.System(service, name="club")
    system.defaults({"store": {"url": "memory://club"}})
    async with atoll.testing.run(system) as harness:
        store = harness.container.get(DbOptions)
    assert (store.url, store.hosts) == ("memory://club", ["a"])


def test_a_service_and_a_system_set_defaults_through_their_app():
    service = atoll.Service("runs")
    service.options("db", DbOptions)
    service.defaults({"db": {"url": "memory://"}})
    assert load_config(service.app, [], {}).section("db").url == "memory://"
    system = atoll.System(service, name="club")
    system.defaults({"shutdown": {"grace": 2.5}})
    assert system.app.option_defaults == {"shutdown.grace": 2.5}
