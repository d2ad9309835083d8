import dataclasses
import doctest
import enum
import re
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Annotated

import msgspec
import pytest

from atoll.errors import ConfigError
from atoll.kernel.config import Config, ConfigSpec, Origin, Secret, option

DOCS = Path(__file__).parents[2] / "docs" / "reference" / "configuration.md"


class Level(enum.Enum):
    DEBUG = "debug"
    INFO = "info"


@dataclasses.dataclass(frozen=True)
class PoolOptions:
    size: int = option(5, help="Connections kept open")
    timeout: float = option(2.5, help="Seconds to wait for a connection")


@dataclasses.dataclass(frozen=True)
class DatabaseOptions:
    url: str = option("sqlite:///app.db", help="Database URL")
    password: Secret = option(Secret("hunter2"), help="Database password")
    replicas: list[str] = option(default_factory=list, help="Read replica URLs")
    pool: PoolOptions = option(default_factory=PoolOptions)


@dataclasses.dataclass(frozen=True)
class ServerOptions:
    host: str = option("127.0.0.1", help="Interface to listen on")
    port: Annotated[int, msgspec.Meta(ge=1, le=65535)] = option(8000, help="Port to listen on")
    debug: bool = option(False, help="Reload on change")
    level: Level = option(Level.INFO, help="Log level")


@dataclasses.dataclass(frozen=True)
class NameOptions:
    name: str = option(help="Service name")


@dataclasses.dataclass(frozen=True)
class RangeOptions:
    low: int = 0
    high: int = 10

    def __post_init__(self) -> None:
        if self.low > self.high:
            msg = f"low ({self.low}) must not exceed high ({self.high})"
            raise ValueError(msg)


def make_spec(sections=None, **kwargs):
    settings = {"prog": "runs", "env_prefix": "RUNS", "description": "The runs service."}
    settings.update(kwargs)
    return ConfigSpec(sections or [("db", DatabaseOptions), ("server", ServerOptions)], **settings)


def load(argv=(), environ=None, sections=None):
    return make_spec(sections).load(argv=list(argv), environ=environ or {})


def problems(argv=(), environ=None, sections=None):
    with pytest.raises(ConfigError) as raised:
        load(argv, environ, sections)
    return str(raised.value)


def toml(tmp_path, text):
    path = tmp_path / "runs.toml"
    path.write_text(textwrap.dedent(text))
    return path


# --- sources and precedence -------------------------------------------------


def test_defaults_apply_when_no_source_sets_an_option():
    config = load()
    assert config.section("db") == DatabaseOptions()
    assert config.section("server") == ServerOptions()
    assert config.origin("server.port") == Origin("default")


def test_file_overrides_the_default(tmp_path):
    path = toml(tmp_path, "[server]\nport = 7000\n")
    config = load(["--config", str(path)])
    assert config.section("server").port == 7000
    assert config.origin("server.port") == Origin("file", str(path))


def test_environment_overrides_the_file(tmp_path):
    path = toml(tmp_path, "[server]\nport = 7000\n")
    config = load(["--config", str(path)], {"RUNS_SERVER_PORT": "7001"})
    assert config.section("server").port == 7001
    assert config.origin("server.port") == Origin("env", "RUNS_SERVER_PORT")


def test_flag_overrides_the_environment():
    config = load(["--server-port", "7002"], {"RUNS_SERVER_PORT": "7001"})
    assert config.section("server").port == 7002
    assert config.origin("server.port") == Origin("flag", "--server-port")


def test_flag_wins_over_file_when_file_lacks_the_key(tmp_path):
    path = toml(
        tmp_path,
        """
        [server]
        host = "10.0.0.1"
        port = 7000
        """,
    )
    config = load(["--config", str(path), "--server-debug", "--server-port=9000"])
    assert config.section("server") == ServerOptions(host="10.0.0.1", port=9000, debug=True)
    assert config.origin("server.host") == Origin("file", str(path))
    assert config.origin("server.debug") == Origin("flag", "--server-debug")
    assert config.origin("server.port") == Origin("flag", "--server-port")
    assert config.origin("server.level") == Origin("default")


def test_negative_bool_flag_sets_false_and_is_named_as_the_origin():
    config = load(["--no-server-debug"], {"RUNS_SERVER_DEBUG": "true"})
    assert config.section("server").debug is False
    assert config.origin("server.debug") == Origin("flag", "--no-server-debug")


def test_last_of_a_repeated_flag_wins():
    assert load(["--server-port", "1", "--server-port", "2"]).section("server").port == 2


def test_config_file_path_can_come_from_the_environment(tmp_path):
    path = toml(tmp_path, '[db]\nurl = "postgresql://h/db"\n')
    config = load(environ={"RUNS_CONFIG": str(path)})
    assert config.section("db").url == "postgresql://h/db"


def test_config_flag_wins_over_the_config_environment_variable(tmp_path):
    path = toml(tmp_path, "[server]\nport = 7000\n")
    config = load(["--config", str(path)], {"RUNS_CONFIG": str(tmp_path / "absent.toml")})
    assert config.section("server").port == 7000


def test_empty_config_environment_variable_means_no_file():
    assert load(environ={"RUNS_CONFIG": ""}).section("server") == ServerOptions()


def test_env_prefix_is_upper_cased():
    config = make_spec(env_prefix="runs").load(argv=[], environ={"RUNS_SERVER_PORT": "1"})
    assert config.section("server").port == 1


def test_load_reads_sys_argv_and_os_environ_when_called(monkeypatch):
    spec = make_spec()
    monkeypatch.setattr(sys, "argv", ["runs", "--server-port", "9001"])
    monkeypatch.setenv("RUNS_SERVER_HOST", "10.0.0.2")
    server = spec.load().section("server")
    assert (server.host, server.port) == ("10.0.0.2", 9001)


def test_importing_the_modules_reads_no_environment():
    code = textwrap.dedent(
        """
        import collections.abc, os

        class Untouchable(collections.abc.Mapping):
            def __getitem__(self, key):
                raise AssertionError(f"os.environ[{key!r}] read at import")
            def __iter__(self):
                raise AssertionError("os.environ listed at import")
            def __len__(self):
                raise AssertionError("os.environ measured at import")

        os.environ = Untouchable()
        import atoll, atoll.kernel.config, atoll.kernel.options
        import atoll.kernel.entrypoint, atoll.kernel.lifecycle, atoll.cli
        """
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize(
    ("origin", "shown"),
    [
        (Origin("default"), "default"),
        (Origin("file", "/etc/runs.toml"), "config file /etc/runs.toml"),
        (Origin("env", "RUNS_DB_URL"), "environment variable RUNS_DB_URL"),
        (Origin("flag", "--db-url"), "flag --db-url"),
    ],
)
def test_origin_says_where_a_value_came_from(origin, shown):
    assert str(origin) == shown


# --- subsections ------------------------------------------------------------


def test_subsection_options_are_read_from_flags_environment_and_file(tmp_path):
    path = toml(tmp_path, "[db.pool]\nsize = 6\n")
    config = load(
        ["--config", str(path), "--db-pool-timeout", "1.5"],
        {"RUNS_DB_URL": "postgresql://h/db"},
    )
    assert config.section("db").pool == PoolOptions(size=6, timeout=1.5)
    assert config.origin("db.pool.size") == Origin("file", str(path))
    assert config.origin("db.pool.timeout") == Origin("flag", "--db-pool-timeout")
    env_config = load(environ={"RUNS_DB_POOL_SIZE": "4"})
    assert env_config.section("db").pool.size == 4


def test_subsection_default_instance_gives_its_options_defaults():
    @dataclasses.dataclass(frozen=True)
    class CacheOptions:
        pool: PoolOptions = option(default_factory=lambda: PoolOptions(size=20))

    assert load(sections=[("cache", CacheOptions)]).section("cache").pool.size == 20


# --- the spec refuses programming errors -------------------------------------


def test_two_keys_with_one_flag_and_variable_are_refused_naming_both():
    @dataclasses.dataclass
    class Db:
        pool_size: int = 1

    @dataclasses.dataclass
    class DbPool:
        size: int = 1

    with pytest.raises(ConfigError) as raised:
        make_spec([("db", Db), ("db_pool", DbPool)])
    assert str(raised.value) == (
        "option db.pool_size and option db_pool.size both map to flag --db-pool-size; "
        "rename one of them"
    )


def test_clashes_are_all_reported_at_once():
    @dataclasses.dataclass
    class Flat:
        a_b: int = 1
        c_d: int = 1
        C_D: int = 1

    @dataclasses.dataclass
    class Inner:
        b: int = 1

    with pytest.raises(ConfigError) as raised:
        make_spec([("x", Flat), ("x_a", Inner)])
    assert str(raised.value) == (
        "2 configuration problems:\n"
        "  option x.c_d and option x.C_D both map to variable RUNS_X_C_D; rename one of them\n"
        "  option x.a_b and option x_a.b both map to flag --x-a-b; rename one of them"
    )


def test_option_that_maps_to_a_built_in_flag_is_refused():
    @dataclasses.dataclass
    class Printing:
        config: bool = False

    with pytest.raises(ConfigError) as raised:
        make_spec([("print", Printing)])
    assert str(raised.value) == (
        "the built-in flag and option print.config both map to flag --print-config; "
        "rename the option"
    )


def test_duplicate_section_name_is_refused():
    with pytest.raises(ConfigError) as raised:
        make_spec([("db", DatabaseOptions), ("db", PoolOptions)])
    assert str(raised.value) == (
        "section 'db' is declared twice (DatabaseOptions and PoolOptions); "
        "give each a distinct name"
    )


@pytest.mark.parametrize("name", ["Db", "my-db", "1db", ""])
def test_section_name_must_be_lower_case_letters_digits_and_underscores(name):
    with pytest.raises(ConfigError) as raised:
        make_spec([(name, DatabaseOptions)])
    assert str(raised.value) == (
        f"section name {name!r} must be lower-case letters, digits and underscores, starting "
        "with a letter: it becomes a TOML table, a flag and a variable name"
    )


def test_section_must_be_a_dataclass():
    with pytest.raises(ConfigError, match=r"^section 'db' must be a dataclass type, got 5$"):
        make_spec([("db", 5)])


@pytest.mark.parametrize("prefix", ["", "1RUNS", "MY-APP"])
def test_env_prefix_must_be_an_identifier(prefix):
    with pytest.raises(ConfigError) as raised:
        make_spec(env_prefix=prefix)
    assert str(raised.value) == (
        f"env_prefix {prefix!r} must be letters, digits and underscores, starting with a "
        "letter, such as 'RUNS'"
    )


# --- conversion from every source ---------------------------------------------


def test_environment_and_flag_text_convert_by_the_same_rules():
    environ = {"RUNS_DB_REPLICAS": "a, b", "RUNS_SERVER_LEVEL": "debug", "RUNS_SERVER_DEBUG": "1"}
    config = load(["--db-password", "s3cret", "--db-pool-size", "3"], environ)
    assert config.section("db") == DatabaseOptions(
        password=Secret("s3cret"), replicas=["a", "b"], pool=PoolOptions(size=3)
    )
    assert config.section("server") == ServerOptions(debug=True, level=Level.DEBUG)


def test_list_flag_takes_a_json_array():
    config = load(["--db-replicas", '["a,1", "b"]'])
    assert config.section("db").replicas == ["a,1", "b"]


def test_file_values_arrive_typed(tmp_path):
    path = toml(
        tmp_path,
        """
        [db]
        password = "s3cret"
        replicas = ["a", "b"]
        [server]
        debug = true
        level = "debug"
        """,
    )
    config = load(["--config", str(path)])
    assert config.section("db").password == Secret("s3cret")
    assert config.section("db").replicas == ["a", "b"]
    assert config.section("server") == ServerOptions(debug=True, level=Level.DEBUG)


def test_post_init_value_error_becomes_a_config_error_naming_the_section():
    message = problems(
        ["--range-low", "5", "--range-high", "2"], sections=[("range", RangeOptions)]
    )
    assert message == (
        "section [range] is invalid: low (5) must not exceed high (2) (raised by RangeOptions)"
    )


def test_post_init_of_a_subsection_is_named_by_its_dotted_key():
    @dataclasses.dataclass
    class Outer:
        range: RangeOptions = dataclasses.field(default_factory=RangeOptions)

    message = problems(["--app-range-low", "11"], sections=[("app", Outer)])
    assert message.startswith("section [app.range] is invalid: low (11) must not exceed high")


# --- validation messages ------------------------------------------------------


def test_bad_environment_value_names_option_source_value_reason_and_example():
    message = problems(environ={"RUNS_SERVER_PORT": "eighty"})
    assert message == (
        'server.port = "eighty" (environment variable RUNS_SERVER_PORT) is invalid: '
        "Expected `int`, got `str`; for example RUNS_SERVER_PORT=8000"
    )


def test_bad_flag_value_gives_a_flag_example():
    assert problems(["--server-port", "0"]) == (
        'server.port = "0" (flag --server-port) is invalid: Expected `int` >= 1; '
        "for example --server-port 8000"
    )


def test_bad_file_value_names_the_file_and_gives_a_toml_example(tmp_path):
    path = toml(tmp_path, '[server]\nlevel = "loud"\n')
    assert problems(["--config", str(path)]) == (
        f'server.level = "loud" (config file {path}) is invalid: '
        "Invalid enum value 'loud'; for example level = \"info\" in [server]"
    )


def test_bad_default_is_reported_with_a_flag_example():
    @dataclasses.dataclass
    class Broken:
        port: Annotated[int, msgspec.Meta(ge=1)] = 0
        debug: bool = "maybe"  # type: ignore[assignment]

    assert problems(sections=[("app", Broken)]) == (
        "2 configuration problems:\n"
        "  app.port = 0 (default) is invalid: Expected `int` >= 1; for example --app-port 1\n"
        '  app.debug = "maybe" (default) is invalid: Expected `bool`, got `str`; '
        "for example --app-debug"
    )


def test_example_text_is_shell_quoted_and_lists_with_commas_use_json():
    @dataclasses.dataclass
    class Tags:
        tags: list[int] = dataclasses.field(default_factory=lambda: [1, 2])
        labels: list[str] = dataclasses.field(default_factory=lambda: ["a,b"])
        title: str = "two words"
        limit: int = 3

    message = problems(
        ["--app-title", "x", "--app-limit", "many"],
        {"RUNS_APP_TAGS": "x", "RUNS_APP_LABELS": "[1"},
        sections=[("app", Tags)],
    )
    assert "; for example RUNS_APP_TAGS=1,2\n" in message
    assert """; for example RUNS_APP_LABELS='["a,b"]'\n""" in message
    assert message.endswith("; for example --app-limit 3")


def test_example_is_left_out_when_no_valid_value_is_known():
    @dataclasses.dataclass
    class Odd:
        value: Annotated[int, msgspec.Meta(lt=0)]

    assert problems(environ={"RUNS_APP_VALUE": "x"}, sections=[("app", Odd)]) == (
        'app.value = "x" (environment variable RUNS_APP_VALUE) is invalid: '
        "Expected `int`, got `str`"
    )


def test_secret_value_is_masked_in_errors(tmp_path):
    path = toml(tmp_path, "[db]\npassword = 12345\n")
    message = problems(["--config", str(path)])
    assert message == (
        f'db.password = "********" (config file {path}) is invalid: '
        'Expected `str`, got `int`; for example password = "change-me" in [db]'
    )


def test_every_bad_value_is_reported_at_once_one_per_line():
    message = problems(
        ["--server-port", "http"],
        {"RUNS_DB_POOL_SIZE": "many", "RUNS_SERVER_LEVEL": "loud", "RUNS_SERVER_DEBUG": "yes"},
    )
    assert message.splitlines() == [
        "4 configuration problems:",
        (
            '  db.pool.size = "many" (environment variable RUNS_DB_POOL_SIZE) is invalid: '
            "Expected `int`, got `str`; for example RUNS_DB_POOL_SIZE=5"
        ),
        (
            '  server.port = "http" (flag --server-port) is invalid: Expected `int`, got `str`; '
            "for example --server-port 8000"
        ),
        (
            '  server.debug = "yes" (environment variable RUNS_SERVER_DEBUG) is invalid: '
            "Expected `bool`, got `str`; for example RUNS_SERVER_DEBUG=false"
        ),
        (
            '  server.level = "loud" (environment variable RUNS_SERVER_LEVEL) is invalid: '
            "Invalid enum value 'loud'; for example RUNS_SERVER_LEVEL=info"
        ),
    ]


def test_unset_required_option_names_its_flag_variable_and_file_key():
    assert problems(sections=[("app", NameOptions)]) == (
        "app.name is required but not set; set flag --app-name, environment variable "
        "RUNS_APP_NAME, or name in [app] of the config file"
    )


def test_required_option_set_by_any_source_is_accepted():
    config = load(environ={"RUNS_APP_NAME": "runs"}, sections=[("app", NameOptions)])
    assert config.section("app") == NameOptions(name="runs")


# --- config file problems -----------------------------------------------------


def test_unknown_file_section_suggests_the_closest(tmp_path):
    path = toml(tmp_path, "[servr]\nport = 1\n")
    assert problems(["--config", str(path)]) == (
        f"config file {path}: unknown section [servr]; did you mean [server]?"
    )


def test_unknown_file_section_without_a_close_match_lists_the_sections(tmp_path):
    path = toml(tmp_path, "[zzz]\nport = 1\n")
    assert problems(["--config", str(path)]) == (
        f"config file {path}: unknown section [zzz]; expected one of: [db], [server]"
    )


def test_unknown_file_key_suggests_the_closest(tmp_path):
    path = toml(tmp_path, "[db.pool]\nsise = 1\n")
    assert problems(["--config", str(path)]) == (
        f"config file {path}: unknown key sise in [db.pool]; did you mean size?"
    )


def test_unknown_file_key_without_a_close_match_lists_the_keys(tmp_path):
    path = toml(tmp_path, "[server]\nzzz = 1\n")
    assert problems(["--config", str(path)]) == (
        f"config file {path}: unknown key zzz in [server]; expected one of: "
        "host, port, debug, level"
    )


def test_file_section_that_is_not_a_table_is_an_error(tmp_path):
    path = toml(tmp_path, "server = 5\n[db]\npool = []\n")
    assert problems(["--config", str(path)]).splitlines() == [
        "2 configuration problems:",
        f"  config file {path}: server must be a table ([server]), got 5",
        f"  config file {path}: db.pool must be a table ([db.pool]), got []",
    ]


def test_file_key_problems_and_value_problems_are_reported_together(tmp_path):
    path = toml(tmp_path, "[server]\nprt = 1\n")
    message = problems(["--config", str(path), "--server-port", "x"])
    assert message.splitlines()[:2] == [
        "2 configuration problems:",
        f"  config file {path}: unknown key prt in [server]; did you mean port?",
    ]


def test_missing_config_file_names_the_path_and_where_it_came_from(tmp_path):
    path = tmp_path / "absent.toml"
    assert problems(environ={"RUNS_CONFIG": str(path)}) == (
        f"config file {path} does not exist (the path comes from environment variable RUNS_CONFIG)"
    )


def test_unreadable_config_file_names_the_path_and_the_reason(tmp_path):
    assert problems(["--config", str(tmp_path)]) == (
        f"config file {tmp_path} cannot be read (the path comes from flag --config): Is a directory"
    )


def test_invalid_toml_gives_the_line_and_column(tmp_path):
    path = toml(tmp_path, "[server]\nport = = 1\n")
    assert problems(["--config", str(path)]) == (
        f"config file {path} is not valid TOML (the path comes from flag --config): "
        "Invalid value (at line 2, column 8)"
    )


def test_config_file_that_is_not_utf8_is_invalid(tmp_path):
    path = tmp_path / "latin1.toml"
    path.write_bytes('[db]\nurl = "caf\xe9"\n'.encode("latin-1"))
    message = problems(["--config", str(path)])
    assert message.startswith(
        f"config file {path} is not valid TOML (the path comes from flag --config): "
        "'utf-8' codec can't decode byte 0xe9"
    )


# --- command-line problems ----------------------------------------------------


def test_unknown_flag_suggests_the_closest():
    assert (
        problems(["--server-prot", "1"])
        == "unknown flag --server-prot; did you mean --server-port?"
    )


def test_abbreviated_flag_is_unknown():
    assert problems(["--db-ur=x"]) == "unknown flag --db-ur; did you mean --db-url?"


def test_unknown_negative_flag_suggests_the_closest():
    assert problems(["--no-server-dbug"]) == (
        "unknown flag --no-server-dbug; did you mean --no-server-debug?"
    )


def test_unknown_flag_without_a_close_match_points_to_help():
    assert problems(["--zzz"]) == "unknown flag --zzz; run with --help to list the options"


def test_every_unknown_flag_is_reported_at_once():
    assert problems(["--server-prot", "1", "--db-rl", "x"]).splitlines() == [
        "2 configuration problems:",
        "  unknown flag --server-prot; did you mean --server-port?",
        "  unknown flag --db-rl; did you mean --db-url?",
    ]


def test_unexpected_positional_argument_is_an_error():
    assert problems(["serve"]) == (
        "unexpected argument 'serve': options are flags (--section-key VALUE); "
        "run with --help to list them"
    )


def test_flag_without_its_value_is_an_error():
    assert problems(["--server-port"]) == (
        "command line: argument --server-port: expected one argument; "
        "run with --help to list the options"
    )


# --- --help and --version -----------------------------------------------------


@pytest.fixture
def wide_terminal(monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")


def help_text(capsys, spec=None):
    with pytest.raises(SystemExit) as exited:
        (spec or make_spec()).load(argv=["--help"], environ={})
    assert exited.value.code == 0
    return capsys.readouterr().out


def squashed(text):
    return " ".join(text.split())


@pytest.mark.usefixtures("wide_terminal")
def test_help_lists_each_option_with_type_default_and_variable(capsys):
    out = help_text(capsys)
    assert out.startswith("usage: runs [options]\n\nThe runs service.\n")
    for entry in [
        '--db-url STR Database URL [str; default: "sqlite:///app.db"; env: RUNS_DB_URL]',
        ("--db-replicas STR,... Read replica URLs [list[str]; default: []; env: RUNS_DB_REPLICAS]"),
        (
            "--server-port INT Port to listen on [int (>= 1, <= 65535); default: 8000; "
            "env: RUNS_SERVER_PORT]"
        ),
        (
            '--server-level {debug,info} Log level [{debug,info}; default: "info"; '
            "env: RUNS_SERVER_LEVEL]"
        ),
    ]:
        assert entry in squashed(out)


@pytest.mark.usefixtures("wide_terminal")
def test_help_masks_secret_defaults(capsys):
    out = help_text(capsys)
    assert "hunter2" not in out
    assert 'Database password [secret; default: "********"; env: RUNS_DB_PASSWORD]' in out


@pytest.mark.usefixtures("wide_terminal")
def test_help_groups_options_by_section_in_declaration_order(capsys):
    out = help_text(capsys)
    titles = [line for line in out.splitlines() if line.endswith("options:")]
    assert titles == ["options:", "[db] options:", "[db.pool] options:", "[server] options:"]


@pytest.mark.usefixtures("wide_terminal")
def test_help_offers_a_negative_flag_for_bool_options(capsys):
    assert "--server-debug, --no-server-debug Reload on change [bool;" in squashed(
        help_text(capsys)
    )


@pytest.mark.usefixtures("wide_terminal")
def test_help_lists_config_and_print_config_and_the_precedence(capsys):
    out = squashed(help_text(capsys))
    assert "--config PATH read options from this TOML file [env: RUNS_CONFIG]" in out
    assert "--print-config print the effective configuration, with where each value" in out
    assert out.endswith(
        "Each option takes the value of the highest of: its default, the config file, "
        "its environment variable, its flag."
    )


@pytest.mark.usefixtures("wide_terminal")
def test_help_marks_required_options_and_options_without_help(capsys):
    @dataclasses.dataclass
    class Bare:
        name: str
        retries: int = 3

    out = squashed(help_text(capsys, make_spec([("app", Bare)])))
    assert "--app-name STR [str; required; env: RUNS_APP_NAME]" in out
    assert "--app-retries INT [int; default: 3; env: RUNS_APP_RETRIES]" in out


@pytest.mark.usefixtures("wide_terminal")
def test_help_shows_percent_signs_verbatim(capsys):
    @dataclasses.dataclass
    class Load:
        ratio: float = option(0.5, help="Share of 100% to use")

    out = help_text(capsys, make_spec([("app", Load)], prog="runs%d", version="1%"))
    assert "Share of 100% to use [float; default: 0.5;" in out
    assert out.startswith("usage: runs%d [options]")


def test_version_prints_prog_and_version(capsys):
    spec = make_spec(prog="python -m runs", version="1.2.0")
    with pytest.raises(SystemExit) as exited:
        spec.load(argv=["--version"], environ={})
    assert exited.value.code == 0
    assert capsys.readouterr().out == "python -m runs 1.2.0\n"


def test_there_is_no_version_flag_without_a_version():
    assert problems(["--version"]) == "unknown flag --version; run with --help to list the options"


# --- the Config ---------------------------------------------------------------


def test_section_by_dataclass_returns_its_instance():
    config = load(["--server-port", "1"])
    server: ServerOptions = config.section(ServerOptions)
    assert server.port == 1


def test_section_by_dataclass_held_by_two_sections_asks_for_a_name():
    config = load(sections=[("main", PoolOptions), ("replica", PoolOptions)])
    with pytest.raises(ConfigError) as raised:
        config.section(PoolOptions)
    assert str(raised.value) == (
        "2 sections hold PoolOptions (main, replica); ask for the section by name"
    )


def test_section_by_dataclass_held_by_no_section_is_an_error():
    with pytest.raises(ConfigError, match=r"^0 sections hold RangeOptions \(none\); ask for"):
        load().section(RangeOptions)


def test_unknown_section_name_suggests_the_closest():
    with pytest.raises(ConfigError, match=r"^no section 'sever'; did you mean server\?$"):
        load().section("sever")


def test_unknown_origin_key_lists_the_keys_without_a_close_match():
    with pytest.raises(ConfigError) as raised:
        load(sections=[("app", PoolOptions)]).origin("zzz")
    assert str(raised.value) == "no option 'zzz'; expected one of: app.size, app.timeout"


def test_describe_shows_every_option_with_its_value_and_origin_secrets_masked():
    config = load(
        ["--server-port", "9000"],
        {"RUNS_DB_PASSWORD": "s3cret", "RUNS_DB_REPLICAS": "a,b"},
    )
    assert config.describe().splitlines() == [
        'db.url = "sqlite:///app.db"  (default)',
        'db.password = "********"  (environment variable RUNS_DB_PASSWORD)',
        'db.replicas = ["a","b"]  (environment variable RUNS_DB_REPLICAS)',
        "db.pool.size = 5  (default)",
        "db.pool.timeout = 2.5  (default)",
        'server.host = "127.0.0.1"  (default)',
        "server.port = 9000  (flag --server-port)",
        "server.debug = false  (default)",
        'server.level = "info"  (default)',
    ]


def test_describe_masks_a_password_written_in_a_url():
    config = load(
        [
            "--db-url",
            "postgresql://ada:pa55@db:5432/runs",
            "--db-replicas",
            "http://u:p@a/rpc,http://b/rpc",
        ],
        {},
    )
    described = config.describe()
    assert 'db.url = "postgresql://ada:********@db:5432/runs"' in described
    assert 'db.replicas = ["http://u:********@a/rpc","http://b/rpc"]' in described
    assert "pa55" not in described


@dataclasses.dataclass(frozen=True)
class KeyringOptions:
    signing: Secret = option(Secret(""), help="Signing key")
    previous: list[Secret] = option(default_factory=list, help="Keys still accepted")
    backup: Secret | None = option(None, help="Backup key")


def test_secrets_are_the_text_of_every_secret_set_each_once():
    config = load(
        ["--keys-previous", "old-key-1,old-key-2,signing-key"],
        {"RUNS_KEYS_SIGNING": "signing-key", "RUNS_DB_PASSWORD": "s3cret"},
        sections=[("db", DatabaseOptions), ("keys", KeyringOptions)],
    )
    assert config.secrets() == ("s3cret", "signing-key", "old-key-1", "old-key-2")


def test_secrets_leave_out_an_unset_or_empty_secret():
    config = load(["--keys-backup", ""], sections=[("keys", KeyringOptions)])
    assert config.section("keys").backup is None
    assert config.secrets() == ()


def test_show_config_is_set_by_print_config():
    assert load(["--print-config"]).show_config is True
    assert load().show_config is False


def test_config_can_be_made_directly_for_tests():
    config = Config({"app": PoolOptions()}, [], {})
    assert config.section("app") == PoolOptions()
    assert config.describe() == ""


# --- the reference documentation ----------------------------------------------


def reference_blocks(*kinds):
    blocks = re.findall(r"```(\w+)\n(.*?)```", DOCS.read_text(), flags=re.DOTALL)
    return [(kind, code) for kind, code in blocks if kind in kinds]


def test_reference_examples_run_as_shown():
    # The page's python blocks declare; its pycon blocks are doctests run in the same namespace.
    namespace = {"__name__": "configuration_reference"}
    parser, runner = doctest.DocTestParser(), doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    blocks = reference_blocks("python", "pycon")
    assert blocks
    for number, (kind, code) in enumerate(blocks):
        if kind == "python":
            exec(compile(code, f"{DOCS}:{number}", "exec"), namespace)  # noqa: S102 -- the doc's own code
            continue
        test = parser.get_doctest(code, namespace, f"block {number}", str(DOCS), 0)
        runner.run(test, clear_globs=False)
        namespace.update(test.globs)  # a DocTest runs in a copy; later blocks need its names
    results = runner.summarize(verbose=False)
    assert results.attempted > 0
    assert results.failed == 0


def test_reference_help_output_is_what_help_prints(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "100")
    namespace = {"__name__": "configuration_reference"}
    exec(reference_blocks("python")[0][1], namespace)  # noqa: S102 -- the doc's own code
    (shown,) = [code for _, code in reference_blocks("text") if code.startswith("usage:")]
    assert help_text(capsys, namespace["spec"]) == shown


# --- an alias: a second flag for one option ------------------------------------


@dataclasses.dataclass(frozen=True)
class QueueOptions:
    url: str = option("memory://", alias="--queue", help="The queue")
    depth: int = 8


def test_an_alias_sets_its_option_and_is_named_as_the_origin():
    config = load(["--queue", "nats://q:4222"], sections=[("queue", QueueOptions)])
    assert config.section("queue").url == "nats://q:4222"
    assert config.origin("queue.url") == Origin("flag", "--queue")


def test_the_option_flag_beside_an_alias_is_still_named_as_itself():
    config = load(["--queue-url", "nats://q:4222"], sections=[("queue", QueueOptions)])
    assert config.section("queue").url == "nats://q:4222"
    assert config.origin("queue.url") == Origin("flag", "--queue-url")


def test_the_later_of_an_option_flag_and_its_alias_wins_and_is_named():
    config = load(["--queue", "a://1", "--queue-url", "b://2"], sections=[("queue", QueueOptions)])
    assert config.section("queue").url == "b://2"
    assert config.origin("queue.url") == Origin("flag", "--queue-url")


def test_an_alias_overrides_the_environment_like_its_flag():
    config = load(
        ["--queue", "a://1"], {"RUNS_QUEUE_URL": "b://2"}, sections=[("queue", QueueOptions)]
    )
    assert config.section("queue").url == "a://1"


def test_a_bad_value_given_by_an_alias_names_the_alias_and_gives_it_as_the_example():
    assert problems(["--queue-depth", "deep"], sections=[("queue", QueueOptions)]) == (
        'queue.depth = "deep" (flag --queue-depth) is invalid: Expected `int`, got `str`; '
        "for example --queue-depth 8"
    )

    @dataclasses.dataclass
    class Sized:
        depth: int = option(8, alias="--depth")

    assert problems(["--depth", "deep"], sections=[("sized", Sized)]) == (
        'sized.depth = "deep" (flag --depth) is invalid: Expected `int`, got `str`; '
        "for example --depth 8"
    )


@pytest.mark.usefixtures("wide_terminal")
def test_help_lists_an_alias_beside_its_flag(capsys):
    with pytest.raises(SystemExit):
        make_spec([("queue", QueueOptions)]).load(argv=["--help"], environ={})
    assert "--queue-url STR, --queue STR The queue [str;" in squashed(capsys.readouterr().out)


def test_an_alias_that_clashes_with_another_flag_is_refused():
    @dataclasses.dataclass
    class Other:
        url: str = option("x", alias="--db-url")

    with pytest.raises(ConfigError) as raised:
        make_spec([("db", DatabaseOptions), ("other", Other)])
    assert str(raised.value) == (
        "option db.url and option other.url both map to flag --db-url; rename one of them"
    )


@pytest.mark.parametrize("alias", ["queue", "--Queue", "--queue url", "-q", "--", 3])
def test_an_alias_must_be_a_whole_lower_case_flag(alias):
    @dataclasses.dataclass
    class Bad:
        url: str = option("x", alias=alias)

    with pytest.raises(ConfigError) as raised:
        make_spec([("bad", Bad)])
    assert str(raised.value) == (
        f"option bad.url has the alias {alias!r}; an alias is a whole flag in lower case, "
        "such as '--broker'"
    )


@dataclasses.dataclass(frozen=True)
class WorkerOptions:
    enabled: bool = option(default=True, alias="--worker", help="Work")


@pytest.mark.parametrize(
    ("argv", "value", "flag"),
    [
        (["--no-worker"], False, "--no-worker"),
        (["--worker"], True, "--worker"),
        (["--no-worker-enabled"], False, "--no-worker-enabled"),
        (["--worker-enabled"], True, "--worker-enabled"),
        (["--no-worker", "--worker-enabled"], True, "--worker-enabled"),
    ],
)
def test_a_switchs_alias_sets_it_both_ways_and_is_named_as_the_origin(argv, value, flag):
    config = load(argv, sections=[("worker", WorkerOptions)])
    assert config.section("worker").enabled is value
    assert config.origin("worker.enabled") == Origin("flag", flag)


@pytest.mark.usefixtures("wide_terminal")
def test_help_lists_a_switchs_alias_and_its_negative_beside_its_flags(capsys):
    with pytest.raises(SystemExit):
        make_spec([("worker", WorkerOptions)]).load(argv=["--help"], environ={})
    assert "--worker-enabled, --no-worker-enabled, --worker, --no-worker" in squashed(
        capsys.readouterr().out
    )


def test_the_negative_of_a_switchs_alias_clashing_with_another_flag_is_refused():
    @dataclasses.dataclass
    class Other:
        worker: bool = option(default=False)

    with pytest.raises(ConfigError) as raised:
        make_spec([("no", Other), ("worker", WorkerOptions)])
    assert str(raised.value) == (
        "option no.worker and option worker.enabled both map to flag --no-worker; "
        "rename one of them"
    )


def test_a_switchs_alias_is_its_positive_flag():
    @dataclasses.dataclass
    class Bad:
        on: bool = option(default=True, alias="--no-on")

    with pytest.raises(ConfigError) as raised:
        make_spec([("bad", Bad)])
    assert str(raised.value) == (
        "option bad.on is a switch and has the alias '--no-on'; a switch's alias is its "
        "positive flag, such as '--on', and gets its --no- flag from it"
    )
