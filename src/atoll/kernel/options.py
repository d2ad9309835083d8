"""Declaring options: :func:`option`, :class:`Secret`, and reading the declarations back.

An application declares its options as plain dataclasses, one per section; :func:`option`
adds help text to a field. :func:`inspect_section` reads such a dataclass back as a tree of
:class:`Section` and :class:`Option`, which :mod:`atoll.kernel.config` resolves from defaults,
a TOML file, the environment and flags. Every value, whatever its source, goes through
:meth:`Option.convert`: one set of conversion rules, msgspec's.
"""

from __future__ import annotations

import dataclasses
import enum
import pathlib
import re
import types
import typing
from typing import Annotated, Any, Literal, TypeVar, final, overload

from atoll.errors import ConfigError

if typing.TYPE_CHECKING:
    from collections.abc import Callable, Iterator

__all__ = [
    "MASK",
    "Option",
    "Secret",
    "Section",
    "env_text",
    "inspect_section",
    "masked_url",
    "option",
]

_T = TypeVar("_T")

MASK = "********"
"""What a secret shows instead of its value."""


def masked_url(url: str) -> str:
    """``url`` with every password in it shown as :data:`MASK`.

    ``amqp://guest:********@host/``; each host of a list (``nats://a:********@h1,b:********@h2``);
    a NATS token (``nats://********@host``). A password may hold ``/`` or ``@``: what comes
    before a host's last ``@`` is its user information, unless its user name holds a ``/``
    (then the ``@`` is in the path).
    """
    scheme, separator, rest = url.partition("://")
    if not separator:
        return url
    token = scheme.lower() in {"nats", "tls"}
    shown = []
    for part in rest.split(","):
        user_info, at, host = part.rpartition("@")
        user, colon, _ = user_info.partition(":")
        if not at or "/" in user:
            shown.append(part)
        elif colon:
            shown.append(f"{user}:{MASK}@{host}")
        else:
            shown.append(f"{MASK}@{host}" if token else part)
    return f"{scheme}://{','.join(shown)}"


def env_text(value: object) -> str:
    """``value`` as an environment variable or a flag spells it: ``true``, ``5``, ``a,b``.

    What :meth:`Option.parse_text` reads back: a list comma-separated, or a JSON array when
    an item holds a comma; ``None`` as the empty text, which an ``X | None`` option reads as
    ``None``; a value of another kind (a mapping) as JSON.
    """
    if value is None or isinstance(value, str):
        return value or ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    import msgspec  # noqa: PLC0415 - loaded when options are read, not declared

    if isinstance(value, list | tuple):
        items = [env_text(item) for item in value]
        if any("," in item for item in items):  # a JSON array, which keeps the commas
            return msgspec.json.encode(items).decode()
        return ",".join(items)
    return msgspec.json.encode(value, enc_hook=str).decode()


HELP_KEY = "help"
"""The field metadata key holding an option's help text (the key other dataclass tools use)."""
ALIAS_KEY = "atoll.alias"
"""The field metadata key holding an option's second flag."""
_ALIAS = re.compile(r"--[a-z][a-z0-9]*(-[a-z0-9]+)*")

_SCALARS: dict[object, str] = {
    str: "str",
    int: "int",
    float: "float",
    bool: "bool",
    pathlib.Path: "path",
}
_CONSTRAINTS = (
    ("gt", ">"),
    ("ge", ">="),
    ("lt", "<"),
    ("le", "<="),
    ("multiple_of", "multiple of"),
    ("min_length", "length >="),
    ("max_length", "length <="),
    ("pattern", "matching"),
)
_SUPPORTED = (
    "str, int, float, bool, pathlib.Path, Secret, an Enum, a Literal, X | None, list[X] "
    "or a nested dataclass"
)


@overload
def option(default: _T, *, help: str = "", alias: str = "") -> _T: ...


@overload
def option(*, default_factory: Callable[[], _T], help: str = "", alias: str = "") -> _T: ...


# A required option has no value to type its field by; dataclasses.field() says Any too.
@overload
def option(*, help: str = "", alias: str = "") -> Any: ...


def option(
    default: object = dataclasses.MISSING,
    *,
    help: str = "",  # noqa: A002 -- argparse's name for it, which users know
    default_factory: Callable[[], object] | None = None,
    alias: str = "",
) -> Any:
    """Declare a configuration option: a dataclass field with help text.

    Args:
        default: the value used when no source sets the option. Omit it (and
            ``default_factory``) to make the option required.
        help: one line shown by ``--help``.
        default_factory: called to make the default, for mutable values such as lists.
        alias: a second, shorter flag for the option, whole (``"--broker"`` beside
            ``--broker-url``); the environment variable and the file key stay one each. A
            switch's alias gets its negative flag too (``"--server"`` gives ``--no-server``).

    Returns:
        A :func:`dataclasses.field`; assign it to an annotated attribute of a dataclass.
    """
    metadata = {HELP_KEY: help, ALIAS_KEY: alias} if alias else {HELP_KEY: help}
    if default_factory is not None:
        return dataclasses.field(default_factory=default_factory, metadata=metadata)
    if default is not dataclasses.MISSING:
        return dataclasses.field(default=default, metadata=metadata)
    return dataclasses.field(metadata=metadata)


@final
class Secret:
    """A string that is never shown: masked by repr, str, ``--help``, errors and describe().

    Args:
        value: the secret text; :meth:`reveal` gives it back.
    """

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """Return the secret text, for the one call that needs it (a driver, a signer)."""
        return self._value

    def __repr__(self) -> str:
        return f"Secret({MASK!r})"

    def __str__(self) -> str:
        return MASK

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        # Constant time, so a comparison does not tell by its duration how much matched.
        import hmac  # noqa: PLC0415 - comparing secrets is rare; importing hmac is not free

        return hmac.compare_digest(self._value.encode(), other._value.encode())

    def __hash__(self) -> int:
        return hash(self._value)

    def __bool__(self) -> bool:
        return bool(self._value)


@dataclasses.dataclass(frozen=True)
class Option:
    """One option, read back from a dataclass field.

    Attributes:
        path: the section and field names, outermost first: ``("db", "pool", "size")``.
        annotation: the field's type, with any ``Annotated`` constraints.
        help: the text given to :func:`option`; empty for a plain field.
        default: makes the default value; ``None`` when the option is required.
        alias: a second flag, whole (``--broker``); empty for none.
    """

    path: tuple[str, ...]
    annotation: Any
    help: str = ""
    default: Callable[[], object] | None = dataclasses.field(
        default=None, repr=False, compare=False
    )
    alias: str = ""

    @property
    def key(self) -> str:
        """The dotted name, as in errors and describe(): ``db.pool.size``."""
        return ".".join(self.path)

    @property
    def flag(self) -> str:
        """The command-line flag: ``--db-pool-size``."""
        return "--" + "-".join(self.path).replace("_", "-")

    @property
    def negative_flag(self) -> str:
        """The flag that sets a bool option to false: ``--no-server-debug``."""
        return "--no-" + self.flag[2:]

    @property
    def negative_alias(self) -> str:
        """The alias that sets a bool option to false: ``--no-server``; empty for none."""
        return "--no-" + self.alias[2:] if self.alias else ""

    def env_var(self, prefix: str) -> str:
        """Return the environment variable under ``prefix``: ``RUNS_DB_POOL_SIZE``."""
        return "_".join((prefix, *self.path)).upper()

    @property
    def required(self) -> bool:
        """Whether the option has no default, so some source must set it."""
        return self.default is None

    @property
    def secret(self) -> bool:
        """Whether the value holds a :class:`Secret` and must be masked."""
        return _mentions_secret(self.annotation)

    @property
    def switch(self) -> bool:
        """Whether the option is a plain bool, set by ``--x`` and ``--no-x``."""
        return _unwrap(self.annotation)[0] is bool

    @property
    def type_name(self) -> str:
        """The type as ``--help`` shows it: ``int (>= 1, <= 65535)``, ``{debug,info}``."""
        return _type_name(self.annotation)

    @property
    def metavar(self) -> str:
        """The placeholder ``--help`` shows after the flag: ``INT``, ``STR,...``."""
        return _metavar(self.annotation)

    def parse_text(self, text: str) -> object:
        """Read the text of an environment variable or flag into what :meth:`convert` takes.

        A list is comma-separated, or a JSON array when the text starts with ``[``; the empty
        text means ``None`` for an ``X | None`` option.

        Raises:
            msgspec.DecodeError: the text starts with ``[`` but is not a JSON array.
        """
        base = _unwrap(self.annotation)[0]
        arm = _optional_arm(base)
        if arm is not None:
            if not text:
                return None
            base = _unwrap(arm)[0]
        if typing.get_origin(base) is list:
            return _split_list(text)
        return text

    def convert(self, value: object) -> object:
        """Convert a value from any source to the option's type, by msgspec's lax rules.

        Raises:
            msgspec.ValidationError: the value does not fit the type; the message says why.
        """
        import msgspec  # noqa: PLC0415 - loaded when options are read, not declared

        return msgspec.convert(value, self.annotation, strict=False, dec_hook=_decode_custom)

    def sample(self) -> object | None:
        """Return a valid value in plain form (str, int, list...), for examples in errors.

        The default serves when it is valid and not secret; otherwise one is made from the
        type. Returns ``None`` when neither is valid (a constraint the sample misses).
        """
        import msgspec  # noqa: PLC0415 - loaded when options are read, not declared

        candidates = [_sample_of(self.annotation)]
        if self.default is not None and not self.secret:
            candidates.insert(0, self.default())
        for candidate in candidates:
            plain: object = msgspec.to_builtins(candidate, enc_hook=str)
            try:
                self.convert(plain)
            except msgspec.ValidationError:
                continue
            if plain not in (None, []):  # neither shows how to spell a value
                return plain
        return None


@dataclasses.dataclass(frozen=True)
class Section:
    """A dataclass of options, top-level or nested in another, read back.

    Attributes:
        path: the section names, outermost first: ``("db", "pool")``.
        cls: the dataclass.
        members: its options and subsections, in declaration order.
    """

    path: tuple[str, ...]
    cls: type[Any]
    members: tuple[Option | Section, ...]

    @property
    def key(self) -> str:
        """The dotted name, as in TOML tables: ``db.pool``."""
        return ".".join(self.path)

    def options(self) -> Iterator[Option]:
        """Yield every option, subsections' included, in declaration order."""
        for member in self.members:
            if isinstance(member, Section):
                yield from member.options()
            else:
                yield member

    def sections(self) -> Iterator[Section]:
        """Yield this section, then every subsection, depth first."""
        yield self
        for member in self.members:
            if isinstance(member, Section):
                yield from member.sections()


def _check_alias(opt: Option) -> None:
    if not _ALIAS.fullmatch(str(opt.alias)):
        raise ConfigError(
            f"option {opt.key} has the alias {opt.alias!r}; an alias is a whole flag in "
            "lower case, such as '--broker'"
        )
    if opt.switch and opt.alias.startswith("--no-"):
        raise ConfigError(
            f"option {opt.key} is a switch and has the alias {opt.alias!r}; a switch's alias "
            f"is its positive flag, such as {'--' + opt.alias.removeprefix('--no-')!r}, and "
            "gets its --no- flag from it"
        )


def inspect_section(name: str, cls: object) -> Section:
    """Read a dataclass of options back as a :class:`Section`.

    Args:
        name: the section name.
        cls: the dataclass; fields whose type is a dataclass become subsections.

    Raises:
        ConfigError: ``cls`` is not a dataclass, its type hints do not resolve, or a field
            has a type configuration cannot read.
    """
    if not (isinstance(cls, type) and dataclasses.is_dataclass(cls)):
        raise ConfigError(f"section {name!r} must be a dataclass type, got {cls!r}")
    return _inspect((name,), cls, None)


def _inspect(
    path: tuple[str, ...], cls: type[Any], outer_default: Callable[[], object] | None
) -> Section:
    hints = _type_hints(".".join(path), cls)
    members: list[Option | Section] = []
    for field in dataclasses.fields(cls):
        if not field.init:
            continue  # not a constructor argument, so nothing a source could set
        member_path = (*path, field.name)
        default = _field_default(field, outer_default)
        hint = hints[field.name]
        if isinstance(hint, type) and dataclasses.is_dataclass(hint):
            members.append(_inspect(member_path, hint, default))
            continue
        if not _supported(hint):
            raise ConfigError(
                f"option {'.'.join(member_path)} has type {_show_annotation(hint)}, which "
                f"configuration cannot read; use {_SUPPORTED}"
            )
        _check_constraints(".".join(member_path), hint)
        alias = field.metadata.get(ALIAS_KEY, "")
        opt = Option(member_path, hint, field.metadata.get(HELP_KEY, ""), default, alias)
        if alias:
            _check_alias(opt)
        members.append(opt)
    return Section(path, cls, tuple(members))


def _check_constraints(key: str, hint: object) -> None:
    """Refuse constraints msgspec cannot apply to their type, which would fail every load."""
    import msgspec.inspect  # noqa: PLC0415 - loaded when options are read, not declared

    try:
        msgspec.inspect.type_info(hint)
    except TypeError as error:
        raise ConfigError(
            f"option {key} has type {_show_annotation(hint)}, whose constraints cannot apply "
            f"to it ({error}); constrain an int or float with gt, ge, lt, le or multiple_of, "
            "a str or list with min_length or max_length, a str with pattern, and nothing "
            "else (not a Secret, a Path, a bool, an Enum or a Literal)"
        ) from error


def _type_hints(key: str, cls: type[Any]) -> dict[str, Any]:
    try:
        return typing.get_type_hints(cls, include_extras=True)
    except NameError as error:
        raise ConfigError(
            f"section {key}: the type hints of {cls.__qualname__} do not resolve ({error}); "
            "import the names they use at module level"
        ) from error


def _field_default(
    field: dataclasses.Field[Any], outer_default: Callable[[], object] | None
) -> Callable[[], object] | None:
    # A subsection field's own default (an instance) overrides its class's field defaults.
    if outer_default is not None:
        return lambda: getattr(outer_default(), field.name)
    if field.default_factory is not dataclasses.MISSING:
        return field.default_factory
    if field.default is not dataclasses.MISSING:
        value = field.default
        return lambda: value
    return None


def _unwrap(annotation: Any) -> tuple[Any, tuple[object, ...]]:
    """Split ``Annotated[T, meta...]`` into ``T`` and its metadata."""
    if typing.get_origin(annotation) is Annotated:
        return annotation.__origin__, annotation.__metadata__
    return annotation, ()


def _optional_arm(annotation: object) -> Any | None:
    """Return ``X`` for ``X | None``, else ``None``."""
    if typing.get_origin(annotation) not in (typing.Union, types.UnionType):
        return None
    arms = [arm for arm in typing.get_args(annotation) if arm is not type(None)]
    return arms[0] if len(arms) == 1 else None


def _is_enum(annotation: object) -> typing.TypeGuard[type[enum.Enum]]:
    return isinstance(annotation, type) and issubclass(annotation, enum.Enum)


def _supported(annotation: object, *, in_list: bool = False) -> bool:
    base = _unwrap(annotation)[0]
    arm = _optional_arm(base)
    if arm is not None:
        return _supported(arm, in_list=in_list)
    origin = typing.get_origin(base)
    if origin is Literal:
        return all(type(value) in (str, int) for value in typing.get_args(base))
    if origin is list:
        return not in_list and _supported(typing.get_args(base)[0], in_list=True)
    return base in _SCALARS or base is Secret or _is_enum(base)


def _mentions_secret(annotation: object) -> bool:
    return annotation is Secret or any(_mentions_secret(a) for a in typing.get_args(annotation))


def _choices(base: object) -> list[object] | None:
    if typing.get_origin(base) is Literal:
        return list(typing.get_args(base))
    if _is_enum(base):
        return [member.value for member in base]
    return None


def _type_name(annotation: object) -> str:
    base, metadata = _unwrap(annotation)
    arm = _optional_arm(base)
    choices = _choices(base)
    if arm is not None:
        name = f"{_type_name(arm)} | None"
    elif typing.get_origin(base) is list:
        name = f"list[{_type_name(typing.get_args(base)[0])}]"
    elif choices is not None:
        name = "{" + ",".join(str(choice) for choice in choices) + "}"
    else:
        name = "secret" if base is Secret else _SCALARS[base]
    limits = [
        f"{symbol} {getattr(meta, attribute)}"
        for meta in metadata
        for attribute, symbol in _CONSTRAINTS
        if getattr(meta, attribute, None) is not None
    ]
    return f"{name} ({', '.join(limits)})" if limits else name


def _metavar(annotation: object) -> str:
    base = _unwrap(annotation)[0]
    arm = _optional_arm(base)
    if arm is not None:
        return _metavar(arm)
    if typing.get_origin(base) is list:
        return _metavar(typing.get_args(base)[0]) + ",..."
    # Brackets in a metavar upset argparse's usage wrapping, so choices keep their braces only.
    return _type_name(base).upper() if _choices(base) is None else _type_name(base)


def _sample_of(annotation: object) -> object:
    base, metadata = _unwrap(annotation)
    arm = _optional_arm(base)
    choices = _choices(base)
    if arm is not None:
        return _sample_of(arm)
    if typing.get_origin(base) is list:
        return [_sample_of(typing.get_args(base)[0])]
    if choices is not None:
        return choices[0]
    if base in (int, float):
        bounds = [getattr(meta, "ge", None) for meta in metadata]
        bounds = [bound for bound in bounds if bound is not None]
        return base(bounds[0] if bounds else 1)
    samples: dict[object, object] = {
        str: "text",
        bool: True,
        pathlib.Path: "path/to/file",
        Secret: "change-me",
    }
    return samples[base]


def _split_list(text: str) -> object:
    if text.lstrip().startswith("["):
        import msgspec  # noqa: PLC0415 - loaded when options are read, not declared

        try:
            return msgspec.json.decode(text)
        except msgspec.DecodeError as error:
            raise msgspec.DecodeError(
                f"Expected a JSON array, as the text starts with `[` ({error})"
            ) from error
    return [item.strip() for item in text.split(",") if item.strip()]


def _decode_custom(kind: type[Any], value: object) -> object:
    """Build the types msgspec does not know (``Secret``, ``Path``) from strings."""
    if isinstance(value, kind):
        return value
    if isinstance(value, str):
        return kind(value)
    raise TypeError(f"Expected `str`, got `{type(value).__name__}`")


def _show_annotation(annotation: object) -> str:
    if isinstance(annotation, type) and not typing.get_args(annotation):
        return annotation.__qualname__
    return repr(annotation).replace("typing.", "")
