import dataclasses
import enum
from pathlib import Path
from typing import Annotated, Literal

import msgspec
import pytest

from atoll.errors import ConfigError
from atoll.kernel.options import (
    MASK,
    Option,
    Secret,
    Section,
    env_text,
    inspect_section,
    masked_url,
    option,
)


class Level(enum.Enum):
    DEBUG = "debug"
    INFO = "info"


Port = Annotated[int, msgspec.Meta(ge=1, le=65535)]


@dataclasses.dataclass(frozen=True)
class PoolOptions:
    size: int = option(5, help="Connections kept open")


@dataclasses.dataclass(frozen=True)
class DatabaseOptions:
    url: str = option("sqlite:///app.db", help="Database URL")
    password: Secret = option(Secret("hunter2"), help="Database password")
    replicas: list[str] = option(default_factory=list, help="Read replica URLs")
    pool: PoolOptions = option(default_factory=lambda: PoolOptions(size=8))


@dataclasses.dataclass(frozen=True)
class Required:
    name: str = option(help="Service name")


def make_option(annotation, default=None):
    return Option(("db", "value"), annotation, "", default)


# --- option() ---------------------------------------------------------------


def test_option_returns_a_field_carrying_its_help_text():
    (url, *_) = dataclasses.fields(DatabaseOptions)
    assert url.default == "sqlite:///app.db"
    assert url.metadata["help"] == "Database URL"


def test_option_default_factory_makes_a_fresh_default_per_instance():
    first, second = DatabaseOptions(), DatabaseOptions()
    assert first.replicas == []
    assert first.replicas is not second.replicas


def test_option_without_a_default_makes_a_required_field():
    with pytest.raises(TypeError, match="missing 1 required positional argument: 'name'"):
        Required()  # type: ignore[call-arg]
    assert inspect_section("app", Required).members[0].required


def test_plain_field_is_an_option_with_empty_help():
    @dataclasses.dataclass
    class Plain:
        retries: int = 3

    (retries,) = inspect_section("app", Plain).members
    assert retries == Option(("app", "retries"), int, "")
    assert isinstance(retries, Option)
    assert retries.default is not None
    assert retries.default() == 3


def test_field_metadata_help_serves_as_option_help():
    @dataclasses.dataclass
    class Plain:
        retries: int = dataclasses.field(default=3, metadata={"help": "How often to retry"})

    assert inspect_section("app", Plain).members[0].help == "How often to retry"


# --- Secret -----------------------------------------------------------------


def test_secret_reveal_returns_the_wrapped_text():
    assert Secret("hunter2").reveal() == "hunter2"


def test_secret_repr_and_str_are_masked():
    assert repr(Secret("hunter2")) == "Secret('********')"
    assert str(Secret("hunter2")) == "********" == MASK


def test_secrets_with_the_same_text_are_equal_and_hash_alike():
    assert Secret("a") == Secret("a")
    assert hash(Secret("a")) == hash(Secret("a"))
    assert Secret("a") != Secret("b")
    assert len({Secret("a"), Secret("a"), Secret("b")}) == 2


def test_secret_is_not_equal_to_its_plain_text():
    assert Secret("a") != "a"


def test_secret_compares_non_ascii_text():
    assert Secret("pässwörd") == Secret("pässwörd")


def test_empty_secret_is_falsy_and_non_empty_truthy():
    assert not Secret("")
    assert Secret("x")


def test_options_dataclass_repr_masks_its_secret():
    shown = repr(DatabaseOptions(password=Secret("hunter2")))
    assert "password=Secret('********')" in shown
    assert "hunter2" not in shown


# --- inspect_section --------------------------------------------------------


def test_inspect_section_reads_options_and_subsections_in_order():
    section = inspect_section("db", DatabaseOptions)
    assert [member.path for member in section.members] == [
        ("db", "url"),
        ("db", "password"),
        ("db", "replicas"),
        ("db", "pool"),
    ]
    assert isinstance(section.members[3], Section)
    assert section.members[3].cls is PoolOptions
    assert [opt.key for opt in section.options()] == [
        "db.url",
        "db.password",
        "db.replicas",
        "db.pool.size",
    ]
    assert [sub.key for sub in section.sections()] == ["db", "db.pool"]


def test_subsection_default_instance_gives_its_options_defaults():
    size = next(
        opt for opt in inspect_section("db", DatabaseOptions).options() if opt.path[-1] == "size"
    )
    assert size.default is not None
    assert size.default() == 8


def test_subsection_without_a_default_uses_its_class_defaults():
    @dataclasses.dataclass
    class Outer:
        pool: PoolOptions

    (size,) = inspect_section("db", Outer).options()
    assert size.default is not None
    assert size.default() == 5


def test_field_outside_init_is_not_an_option():
    @dataclasses.dataclass
    class WithDerived:
        name: str = "a"
        upper: str = dataclasses.field(init=False, default="")

    assert [opt.key for opt in inspect_section("app", WithDerived).options()] == ["app.name"]


def test_inspect_section_refuses_a_non_dataclass():
    with pytest.raises(ConfigError) as raised:
        inspect_section("db", dict)
    assert str(raised.value) == "section 'db' must be a dataclass type, got <class 'dict'>"


def test_inspect_section_refuses_a_dataclass_instance():
    with pytest.raises(ConfigError, match="section 'db' must be a dataclass type, got PoolOptions"):
        inspect_section("db", PoolOptions())


@pytest.mark.parametrize(
    ("annotation", "shown"),
    [
        (dict[str, int], "dict[str, int]"),
        (int | str, "int | str"),
        (list[list[int]], "list[list[int]]"),
        (Literal[1.5], "Literal[1.5]"),
        (list, "list"),
        (PoolOptions | None, f"{PoolOptions.__module__}.PoolOptions | None"),
        (bytes, "bytes"),
    ],
)
def test_inspect_section_refuses_an_unsupported_type(annotation, shown):
    fields = [("value", annotation, dataclasses.field(default=None))]
    cls = dataclasses.make_dataclass("Odd", fields)
    with pytest.raises(ConfigError) as raised:
        inspect_section("app", cls)
    assert str(raised.value) == (
        f"option app.value has type {shown}, which configuration cannot read; use str, int, "
        "float, bool, pathlib.Path, Secret, an Enum, a Literal, X | None, list[X] or a nested "
        "dataclass"
    )


@pytest.mark.parametrize(
    ("annotation", "complaint"),
    [
        (Annotated[Secret, msgspec.Meta(min_length=8)], "Can only set `min_length` on a str"),
        (Annotated[Path, msgspec.Meta(pattern="^/")], "Can only set `pattern` on a str"),
        (Annotated[str, msgspec.Meta(gt=1)], "Can only set `gt` on a numeric type"),
        (Annotated[Secret, msgspec.Meta(min_length=8)] | None, "`min_length`"),
        (list[Annotated[Path, msgspec.Meta(max_length=9)]], "`max_length`"),
    ],
)
def test_inspect_section_refuses_constraints_that_cannot_apply_to_their_type(annotation, complaint):
    fields = [("value", annotation, dataclasses.field(default=None))]
    cls = dataclasses.make_dataclass("Odd", fields)
    with pytest.raises(ConfigError) as raised:
        inspect_section("app", cls)
    message = str(raised.value)
    assert message.startswith("option app.value has type ")
    assert complaint in message
    assert message.endswith(
        "constrain an int or float with gt, ge, lt, le or multiple_of, a str or list with "
        "min_length or max_length, a str with pattern, and nothing else (not a Secret, a "
        "Path, a bool, an Enum or a Literal)"
    )
    assert isinstance(raised.value.__cause__, TypeError)


@pytest.mark.parametrize(
    "annotation",
    [
        Annotated[Secret, msgspec.Meta(description="the admin password")],
        Annotated[Path, "where the files are"],
        Annotated[list[str], msgspec.Meta(min_length=1)],
        Annotated[str, msgspec.Meta(min_length=2, pattern="^a")] | None,
    ],
)
def test_inspect_section_accepts_metadata_that_applies_to_its_type(annotation):
    fields = [("value", annotation, dataclasses.field(default=None))]
    section = inspect_section("app", dataclasses.make_dataclass("Fine", fields))
    assert [opt.annotation for opt in section.options()] == [annotation]


def test_inspect_section_reports_type_hints_that_do_not_resolve():
    @dataclasses.dataclass
    class Dangling:
        value: "Missing" = 1  # type: ignore[name-defined]  # noqa: F821 -- the error under test

    with pytest.raises(ConfigError) as raised:
        inspect_section("app", Dangling)
    assert str(raised.value) == (
        "section app: the type hints of "
        "test_inspect_section_reports_type_hints_that_do_not_resolve.<locals>.Dangling do not "
        "resolve (name 'Missing' is not defined); import the names they use at module level"
    )


# --- Option: names ----------------------------------------------------------


def test_option_names_follow_its_path():
    opt = Option(("db", "pool", "max_size"), int)
    assert opt.key == "db.pool.max_size"
    assert opt.flag == "--db-pool-max-size"
    assert opt.negative_flag == "--no-db-pool-max-size"
    assert opt.env_var("runs") == "RUNS_DB_POOL_MAX_SIZE"


@pytest.mark.parametrize(
    ("annotation", "secret"),
    [(Secret, True), (Secret | None, True), (list[Secret], True), (str, False)],
)
def test_option_is_secret_when_its_type_holds_a_secret(annotation, secret):
    assert make_option(annotation).secret is secret


@pytest.mark.parametrize(
    ("annotation", "switch"),
    [(bool, True), (Annotated[bool, "x"], True), (bool | None, False), (int, False)],
)
def test_only_a_plain_bool_option_is_a_switch(annotation, switch):
    assert make_option(annotation).switch is switch


@pytest.mark.parametrize(
    ("annotation", "type_name", "metavar"),
    [
        (str, "str", "STR"),
        (int, "int", "INT"),
        (float, "float", "FLOAT"),
        (bool, "bool", "BOOL"),
        (Path, "path", "PATH"),
        (Secret, "secret", "SECRET"),
        (Level, "{debug,info}", "{debug,info}"),
        (Literal["a", "b"], "{a,b}", "{a,b}"),
        (int | None, "int | None", "INT"),
        (list[str], "list[str]", "STR,..."),
        (Port, "int (>= 1, <= 65535)", "INT"),
        (
            Annotated[str, msgspec.Meta(min_length=2, pattern="^a")],
            "str (length >= 2, matching ^a)",
            "STR",
        ),
    ],
)
def test_option_type_name_and_metavar_describe_its_type(annotation, type_name, metavar):
    opt = make_option(annotation)
    assert opt.type_name == type_name
    assert opt.metavar == metavar


# --- Option: conversion -----------------------------------------------------


@pytest.mark.parametrize(
    ("annotation", "text", "expected"),
    [
        (str, "postgresql://h/db", "postgresql://h/db"),
        (int, "8000", 8000),
        (float, "2.5", 2.5),
        (bool, "true", True),
        (bool, "False", False),
        (bool, "1", True),
        (bool, "0", False),
        (Path, "data/app.db", Path("data/app.db")),
        (Secret, "hunter2", Secret("hunter2")),
        (Level, "debug", Level.DEBUG),
        (Literal["a", "b"], "b", "b"),
        (Literal[1, 2], "2", 2),
        (int | None, "", None),
        (int | None, "7", 7),
        (list[str], "a, b,,c", ["a", "b", "c"]),
        (list[int], "[1, 2]", [1, 2]),
        (list[int], "", []),
        (list[str] | None, "", None),
        (list[str] | None, "a", ["a"]),
        (Port, "443", 443),
    ],
)
def test_text_converts_to_the_option_type(annotation, text, expected):
    opt = make_option(annotation)
    assert opt.convert(opt.parse_text(text)) == expected


@pytest.mark.parametrize(
    ("annotation", "value", "expected"),
    [
        (int, 8000, 8000),
        (float, 3, 3.0),
        (bool, True, True),
        (list[str], ["a"], ["a"]),
        (Path, Path("x"), Path("x")),
        (Secret, Secret("s"), Secret("s")),
        (Level, Level.INFO, Level.INFO),
    ],
)
def test_typed_values_convert_unchanged(annotation, value, expected):
    assert make_option(annotation).convert(value) == expected


@pytest.mark.parametrize(
    ("annotation", "value", "reason"),
    [
        (int, "abc", "Expected `int`, got `str`"),
        (bool, "yes", "Expected `bool`, got `str`"),
        (Port, 0, "Expected `int` >= 1"),
        (Port, 70000, "Expected `int` <= 65535"),
        (Level, "warn", "Invalid enum value 'warn'"),
        (list[int], ["1", "x"], "Expected `int`, got `str` - at `$[1]`"),
        (Path, 5, "Expected `str`, got `int`"),
        (Secret, 5, "Expected `str`, got `int`"),
    ],
)
def test_conversion_failure_says_what_was_expected(annotation, value, reason):
    with pytest.raises(msgspec.ValidationError) as raised:
        make_option(annotation).convert(value)
    assert str(raised.value) == reason


def test_text_starting_with_a_bracket_must_be_a_json_array():
    with pytest.raises(msgspec.DecodeError) as raised:
        make_option(list[int]).parse_text("[1,")
    assert str(raised.value) == (
        "Expected a JSON array, as the text starts with `[` (Input data was truncated)"
    )


# --- Option: sample ---------------------------------------------------------


def test_sample_is_the_default_when_it_is_valid():
    assert make_option(Path, lambda: Path("data")).sample() == "data"


@pytest.mark.parametrize(
    ("annotation", "sample"),
    [
        (str, "text"),
        (int, 1),
        (float, 1.0),
        (bool, True),
        (Path, "path/to/file"),
        (Secret, "change-me"),
        (Level, "debug"),
        (Literal["b", "a"], "b"),
        (list[int], [1]),
        (int | None, 1),
        (Annotated[int, msgspec.Meta(ge=1024)], 1024),
    ],
)
def test_sample_is_made_from_the_type_without_a_default(annotation, sample):
    assert make_option(annotation).sample() == sample


def test_sample_skips_an_invalid_default():
    assert make_option(Port, lambda: 0).sample() == 1


@pytest.mark.parametrize("default", [None, []])
def test_sample_skips_a_default_that_shows_no_value(default):
    assert make_option(list[str] | None, lambda: default).sample() == ["text"]


def test_sample_never_shows_a_secret_default():
    assert make_option(Secret, lambda: Secret("hunter2")).sample() == "change-me"


def test_sample_is_none_when_no_candidate_is_valid():
    assert make_option(Annotated[int, msgspec.Meta(le=0)]).sample() is None


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("amqp://guest:guest@127.0.0.1:5672/", "amqp://guest:********@127.0.0.1:5672/"),
        ("kafka://u:pa/ss@h/", "kafka://u:********@h/"),
        ("redis://:p@ss@h:6379/0", "redis://:********@h:6379/0"),
        ("nats://a:b@h1:4222,c:d@h2:4222", "nats://a:********@h1:4222,c:********@h2:4222"),
        ("nats://tok3n@h:4222", "nats://********@h:4222"),
        ("http://h:8000/rpc", "http://h:8000/rpc"),
        ("http://ada@h/rpc", "http://ada@h/rpc"),
        ("http://h/a:b@c", "http://h/a:b@c"),
        ("memory://", "memory://"),
        ("not a url", "not a url"),
    ],
)
def test_a_url_shows_no_password_nor_nats_token(url, shown):
    assert masked_url(url) == shown


def test_env_text_spells_a_value_as_parse_text_reads_it_back():
    assert env_text(["a", "b"]) == "a,b"
    assert env_text(("a", "b")) == "a,b"
    assert env_text(["a,b", "c"]) == '["a,b","c"]'  # a JSON array keeps the commas
    assert env_text(None) == ""
    assert env_text(False) == "false"
    assert env_text(5) == "5"
    assert env_text({"a": 1}) == '{"a":1}'
    options = inspect_section("db", DatabaseOptions).options()
    replicas = next(opt for opt in options if opt.path[-1] == "replicas")
    for value in (["a", "b"], ["a,b", "c"]):
        assert replicas.parse_text(env_text(value)) == value
