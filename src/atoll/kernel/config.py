"""Resolve an application's configuration from defaults, a TOML file, the environment and flags.

Options are declared once, as dataclasses (see :mod:`atoll.kernel.options`); a
:class:`ConfigSpec` composes them, one per section, and :meth:`ConfigSpec.load` resolves them.
Each option takes its value from the highest source that gives one::

    default  <  TOML file (--config PATH or PREFIX_CONFIG)  <  PREFIX_SECTION_KEY  <  --section-key

The default is the one its dataclass declares, or the one the application sets in its place
(``defaults``: a composition root's own, shown by ``--help`` as the default).

:meth:`~ConfigSpec.load` reports problems in three stages, each at once: the command line
(unknown flags), the file (missing or not TOML), then every unknown key and bad value together,
one per line. Every problem is a :class:`~atoll.errors.ConfigError`.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import difflib
import os
import re
import shlex
import sys
import tomllib
import typing
from pathlib import Path
from typing import Any, Literal, NoReturn, TypeVar, final, overload

import msgspec

from atoll.errors import ConfigError
from atoll.kernel.options import (
    MASK,
    Option,
    Secret,
    Section,
    env_text,
    inspect_section,
    option,
)

if typing.TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping, Sequence

__all__ = ["Config", "ConfigSpec", "Origin", "Secret", "option"]

_T = TypeVar("_T")

OriginKind = Literal["default", "file", "env", "flag"]

_ORIGIN_LABELS: dict[OriginKind, str] = {
    "default": "default",
    "file": "config file",
    "env": "environment variable",
    "flag": "flag",
}
_NAME = re.compile(r"[a-z][a-z0-9_]*")
_PREFIX = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
_BUILT_IN_FLAGS = ("--config", "--print-config", "--version", "--help")
_EPILOG = (
    "Each option takes the value of the highest of: its default, the config file, "
    "its environment variable, its flag."
)


@dataclasses.dataclass(frozen=True)
class Origin:
    """Where an option's value came from.

    Attributes:
        kind: ``"default"``, ``"file"``, ``"env"`` or ``"flag"``.
        detail: the file's path, the variable's name or the flag; empty for a default.
    """

    kind: OriginKind
    detail: str = ""

    def __str__(self) -> str:
        return f"{_ORIGIN_LABELS[self.kind]} {self.detail}".rstrip()


@final
class Config:
    """An application's resolved configuration: one options dataclass per section.

    Made by :meth:`ConfigSpec.load`.

    Attributes:
        show_config: whether ``--print-config`` was given; the entry point then prints
            :meth:`describe` and exits.
    """

    def __init__(
        self,
        sections: Mapping[str, object],
        options: Sequence[Option],
        origins: Mapping[str, Origin],
        *,
        show_config: bool = False,
    ) -> None:
        self._sections = dict(sections)
        self._options = tuple(options)
        self._origins = dict(origins)
        self.show_config = show_config

    @overload
    def section(self, name: str) -> Any: ...

    @overload
    def section(self, name: type[_T]) -> _T: ...

    def section(self, name: str | type[_T]) -> object:
        """Return a section's options dataclass, by section name or by its dataclass.

        Raises:
            ConfigError: no section has that name, or that dataclass (or two have it).
        """
        if isinstance(name, str):
            if name not in self._sections:
                raise ConfigError(f"no section {name!r}{_hint(name, self._sections)}")
            return self._sections[name]
        found = [key for key, value in self._sections.items() if type(value) is name]
        if len(found) != 1:
            raise ConfigError(
                f"{len(found)} sections hold {name.__qualname__} ({', '.join(found) or 'none'}); "
                "ask for the section by name"
            )
        return self._sections[found[0]]

    def origin(self, key: str) -> Origin:
        """Return where the option ``key`` (``"db.url"``) took its value from.

        Raises:
            ConfigError: no option has that key.
        """
        if key not in self._origins:
            raise ConfigError(f"no option {key!r}{_hint(key, self._origins)}")
        return self._origins[key]

    def describe(self) -> str:
        """Return the effective configuration: ``key = value  (origin)`` per line, secrets masked.

        Values are shown as JSON, the form an environment variable takes for a list.
        """
        return "\n".join(
            f"{opt.key} = {_display(self._value(opt))}  ({self._origins[opt.key]})"
            for opt in self._options
        )

    def secrets(self) -> tuple[str, ...]:
        """Return the text of every secret set, each once: what log lines mask.

        The values of the options whose type holds a :class:`Secret` (``Secret``,
        ``Secret | None``, ``list[Secret]``), revealed, in declaration order; an unset or empty
        one is left out.
        """
        found: dict[str, None] = {}
        for opt in self._options:
            if opt.secret:
                found.update(dict.fromkeys(_revealed(self._value(opt))))
        return tuple(found)

    def _value(self, opt: Option) -> object:
        value = self._sections[opt.path[0]]
        for name in opt.path[1:]:
            value = getattr(value, name)
        return value


@final
class ConfigSpec:
    """The options an application reads: dataclasses, each under a section name.

    Args:
        sections: ``(name, dataclass)`` pairs; the name prefixes flags, environment variables
            and TOML tables.
        prog: the program's name, for ``--help`` and ``--version``.
        env_prefix: the environment variables' prefix, ``RUNS`` for ``RUNS_DB_URL``.
        description: a paragraph for ``--help``.
        version: printed by ``--version``; without it there is no ``--version`` flag.

    Attributes:
        sections: each section read back as a :class:`~atoll.kernel.options.Section`.
        options: every :class:`~atoll.kernel.options.Option`, in declaration order.

    Raises:
        ConfigError: a section is declared twice or is not a dataclass, an option's type is
            not supported, two options map to one flag or environment variable, or
            ``defaults`` names no option.
    """

    def __init__(
        self,
        sections: Iterable[tuple[str, type[Any]]],
        *,
        prog: str,
        env_prefix: str,
        description: str = "",
        version: str | None = None,
        defaults: Mapping[str, object] | None = None,
    ) -> None:
        if not _PREFIX.fullmatch(env_prefix):
            raise ConfigError(
                f"env_prefix {env_prefix!r} must be letters, digits and underscores, "
                "starting with a letter, such as 'RUNS'"
            )
        self.prog = prog
        self.env_prefix = env_prefix.upper()
        self.description = description
        self.version = version
        self.sections = _with_defaults(_inspect_sections(sections), defaults or {})
        self.options = tuple(opt for section in self.sections for opt in section.options())
        _refuse_clashes(self.options, self.env_prefix)

    @property
    def config_env(self) -> str:
        """The environment variable naming the config file: ``RUNS_CONFIG``."""
        return f"{self.env_prefix}_CONFIG"

    def load(
        self, argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None
    ) -> Config:
        """Resolve every option from its sources, validate it and build the sections.

        ``--help`` and ``--version`` print and exit with status 0 (``SystemExit``).

        Args:
            argv: the command-line arguments; ``sys.argv[1:]`` when omitted.
            environ: the environment; ``os.environ`` when omitted.

        Raises:
            ConfigError: listing every problem found, one per line.
        """
        argv = sys.argv[1:] if argv is None else argv
        environ = os.environ if environ is None else environ
        flags = self._parse_command_line(argv)
        file_values, problems = self._read_file(flags, environ)
        values: dict[str, object] = {}
        origins: dict[str, Origin] = {}
        for opt in self.options:
            picked = _pick(opt, flags, environ, file_values, self.env_prefix)
            if picked is None:
                problems.append(self._unset(opt))
                continue
            origins[opt.key] = picked[1]
            try:
                values[opt.key] = _convert(opt, *picked)
            except msgspec.DecodeError as error:
                problems.append(self._invalid(opt, *picked, error))
        sections = {section.key: _build(section, values, problems) for section in self.sections}
        if problems:
            raise ConfigError(_summary(problems))
        return Config(sections, self.options, origins, show_config=bool(flags["print_config"]))

    def _parse_command_line(self, argv: Sequence[str]) -> dict[str, Any]:
        namespace, extras = self._parser().parse_known_args(list(argv))
        unknown = [arg.split("=", 1)[0] for arg in extras if arg.startswith("-")]
        if unknown:
            known = self._flag_names()
            hints = [
                f"unknown flag {flag}{_hint(flag, known, fallback='--help')}" for flag in unknown
            ]
            raise ConfigError(_summary(hints))
        if extras:
            raise ConfigError(
                f"unexpected argument {extras[0]!r}: options are flags (--section-key VALUE); "
                "run with --help to list them"
            )
        return vars(namespace)

    def _flag_names(self) -> list[str]:
        built_in = ["--help", "--config", "--print-config"]
        built_in += [] if self.version is None else ["--version"]
        return [*built_in, *(flag for opt in self.options for flag in _flags(opt))]

    def _parser(self) -> argparse.ArgumentParser:
        parser = _ArgumentParser(
            prog=self.prog,
            usage="%(prog)s [options]",
            description=self.description,
            epilog=_EPILOG,
            allow_abbrev=False,
        )
        parser.add_argument(
            "--config",
            metavar="PATH",
            help=f"read options from this TOML file [env: {self.config_env}]",
        )
        parser.add_argument(
            "--print-config",
            action="store_true",
            help="print the effective configuration, with where each value came from, and exit",
        )
        if self.version is not None:
            parser.add_argument(
                "--version", action="version", version=_escape(f"{self.prog} {self.version}")
            )
        for section in self.sections:
            for group_section in section.sections():
                group = parser.add_argument_group(f"[{group_section.key}] options")
                for member in group_section.members:
                    if isinstance(member, Option):
                        _add_flag(group, member, self.env_prefix)
        return parser

    def _read_file(
        self, flags: Mapping[str, Any], environ: Mapping[str, str]
    ) -> tuple[dict[str, tuple[object, Origin]], list[str]]:
        if flags["config"] is not None:
            path, source = Path(flags["config"]), Origin("flag", "--config")
        elif environ.get(self.config_env):
            path, source = Path(environ[self.config_env]), Origin("env", self.config_env)
        else:
            return {}, []
        document = _read_toml(path, source)
        values: dict[str, object] = {}
        problems: list[str] = []
        sections = {section.key: section for section in self.sections}
        for name, table in document.items():
            if name in sections:
                _read_table(sections[name], table, values, problems, path)
            else:
                hint = _hint(name, sections, form="[{}]")
                problems.append(f"config file {path}: unknown section [{name}]{hint}")
        return {key: (value, Origin("file", str(path))) for key, value in values.items()}, problems

    def _unset(self, opt: Option) -> str:
        return (
            f"{opt.key} is required but not set; set flag {opt.flag}, environment variable "
            f"{opt.env_var(self.env_prefix)}, or {opt.path[-1]} in [{_table(opt)}] of the "
            "config file"
        )

    def _invalid(self, opt: Option, value: object, origin: Origin, error: Exception) -> str:
        shown = _display(MASK if opt.secret else value)
        message = f"{opt.key} = {shown} ({origin}) is invalid: {error}"
        sample = opt.sample()
        if sample is None:
            return message
        if origin.kind == "env":
            example = f"{opt.env_var(self.env_prefix)}={shlex.quote(env_text(sample))}"
        elif origin.kind == "file":
            example = f"{opt.path[-1]} = {_display(sample)} in [{_table(opt)}]"
        elif opt.switch:
            example = opt.flag
        else:
            flag = origin.detail if origin.kind == "flag" else opt.flag  # an alias, if given
            example = f"{flag} {shlex.quote(env_text(sample))}"
        return f"{message}; for example {example}"


class _ArgumentParser(argparse.ArgumentParser):
    """An argument parser that raises ConfigError instead of printing usage and exiting."""

    def error(self, message: str) -> NoReturn:
        raise ConfigError(f"command line: {message}; run with --help to list the options")


def _with_defaults(
    sections: tuple[Section, ...], defaults: Mapping[str, object]
) -> tuple[Section, ...]:
    """``sections``, each option named in ``defaults`` (by its dotted key) defaulting to it.

    Raises:
        ConfigError: a key of ``defaults`` names no option.
    """
    known = {opt.key for section in sections for opt in section.options()}
    unknown = [key for key in defaults if key not in known]
    if unknown:
        problems = [
            f"defaults name no option {key!r}{_hint(key, known, fallback='--help')}"
            for key in unknown
        ]
        raise ConfigError(_summary(problems))
    if not defaults:
        return sections
    return tuple(_defaulted(section, defaults) for section in sections)


def _defaulted(section: Section, defaults: Mapping[str, object]) -> Section:
    members: list[Option | Section] = []
    for member in section.members:
        if isinstance(member, Section):
            members.append(_defaulted(member, defaults))
        elif member.key in defaults:
            members.append(dataclasses.replace(member, default=_copies(defaults[member.key])))
        else:
            members.append(member)
    return dataclasses.replace(section, members=tuple(members))


def _copies(value: object) -> Callable[[], object]:
    """A default that gives a copy of ``value`` each time: a list default is never shared."""
    return lambda: copy.deepcopy(value)


def _inspect_sections(sections: Iterable[tuple[str, type[Any]]]) -> tuple[Section, ...]:
    inspected: dict[str, Section] = {}
    for name, cls in sections:
        if not _NAME.fullmatch(name):
            raise ConfigError(
                f"section name {name!r} must be lower-case letters, digits and underscores, "
                "starting with a letter: it becomes a TOML table, a flag and a variable name"
            )
        if name in inspected:
            raise ConfigError(
                f"section {name!r} is declared twice ({inspected[name].cls.__qualname__} and "
                f"{getattr(cls, '__qualname__', cls)}); give each a distinct name"
            )
        inspected[name] = inspect_section(name, cls)
    return tuple(inspected.values())


def _refuse_clashes(options: Sequence[Option], prefix: str) -> None:
    # Two keys can spell one name (db_pool.size and db.pool_size are both --db-pool-size),
    # and whichever argparse or os.environ saw last would silently win.
    owners = dict.fromkeys(_BUILT_IN_FLAGS, "the built-in flag")
    clashes: dict[tuple[str, str], str] = {}
    for opt in options:
        names = [*(("flag", flag) for flag in _flags(opt)), ("variable", opt.env_var(prefix))]
        for kind, name in names:
            owner = owners.setdefault(name, f"option {opt.key}")
            if owner != f"option {opt.key}":
                clashes.setdefault((owner, opt.key), f"{kind} {name}")
    problems = [
        f"{owner} and option {key} both map to {name}; rename "
        + ("the option" if owner == "the built-in flag" else "one of them")
        for (owner, key), name in clashes.items()
    ]
    if problems:
        raise ConfigError(_summary(problems))


def _flags(opt: Option) -> tuple[str, ...]:
    if opt.switch:
        switches = (opt.flag, opt.negative_flag)
        return (*switches, opt.alias, opt.negative_alias) if opt.alias else switches
    return (opt.flag, opt.alias) if opt.alias else (opt.flag,)


_SPELLINGS = "atoll.spellings"
"""The namespace entry that maps an option's key to the flag it was given by, if an alias."""


class _SwitchSpelled(argparse.BooleanOptionalAction):
    """Set a switch, and remember which of its flags gave it (``--no-server``)."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: str | Sequence[Any] | None,
        option_string: str | None = None,
    ) -> None:
        super().__call__(parser, namespace, values, option_string)
        spellings = vars(namespace).setdefault(_SPELLINGS, {})
        spellings[self.dest] = option_string


class _StoreSpelled(argparse.Action):
    """Store a flag's value, and remember which of its spellings gave it."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,  # noqa: ARG002 - argparse's signature
        namespace: argparse.Namespace,
        values: object,
        option_string: str | None = None,
    ) -> None:
        setattr(namespace, self.dest, values)
        spellings = vars(namespace).setdefault(_SPELLINGS, {})
        spellings[self.dest] = option_string


def _add_flag(group: argparse._ArgumentGroup, opt: Option, prefix: str) -> None:
    facts = [
        opt.type_name,
        "required" if opt.default is None else f"default: {_display(opt.default())}",
        f"env: {opt.env_var(prefix)}",
    ]
    help_text = _escape(f"{opt.help} [{'; '.join(facts)}]".lstrip())
    # SUPPRESS leaves flags that were not given out of the namespace, so they override nothing.
    if opt.switch:
        group.add_argument(
            *((opt.flag, opt.alias) if opt.alias else (opt.flag,)),
            action=_SwitchSpelled,
            dest=opt.key,
            default=argparse.SUPPRESS,
            help=help_text,
        )
    else:
        group.add_argument(
            *_flags(opt),
            action=_StoreSpelled,
            metavar=opt.metavar,
            dest=opt.key,
            default=argparse.SUPPRESS,
            help=help_text,
        )


def _read_toml(path: Path, source: Origin) -> dict[str, Any]:
    where = f"(the path comes from {source})"
    try:
        with path.open("rb") as stream:
            return tomllib.load(stream)
    except FileNotFoundError as error:
        raise ConfigError(f"config file {path} does not exist {where}") from error
    except OSError as error:
        raise ConfigError(f"config file {path} cannot be read {where}: {error.strerror}") from error
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise ConfigError(f"config file {path} is not valid TOML {where}: {error}") from error


def _read_table(
    section: Section, table: object, values: dict[str, object], problems: list[str], path: Path
) -> None:
    if not isinstance(table, dict):
        problems.append(
            f"config file {path}: {section.key} must be a table ([{section.key}]), "
            f"got {_display(table)}"
        )
        return
    members = {member.path[-1]: member for member in section.members}
    for name, value in table.items():
        member = members.get(name)
        if member is None:
            hint = _hint(name, members)
            problems.append(f"config file {path}: unknown key {name} in [{section.key}]{hint}")
        elif isinstance(member, Section):
            _read_table(member, value, values, problems, path)
        else:
            values[member.key] = value


def _pick(
    opt: Option,
    flags: Mapping[str, Any],
    environ: Mapping[str, str],
    file_values: Mapping[str, tuple[object, Origin]],
    prefix: str,
) -> tuple[object, Origin] | None:
    """Return the value of the highest source that gives one, and that source."""
    if opt.key in flags:
        value = flags[opt.key]
        spelled = flags.get(_SPELLINGS, {}).get(opt.key)
        if value is False:
            return value, Origin("flag", spelled or opt.negative_flag)
        return value, Origin("flag", spelled or opt.flag)
    env_var = opt.env_var(prefix)
    if env_var in environ:
        return environ[env_var], Origin("env", env_var)
    if opt.key in file_values:
        return file_values[opt.key]
    if opt.default is not None:
        return opt.default(), Origin("default")
    return None


def _convert(opt: Option, value: object, origin: Origin) -> object:
    if isinstance(value, str) and origin.kind in {"env", "flag"}:
        value = opt.parse_text(value)
    return opt.convert(value)


def _build(section: Section, values: Mapping[str, object], problems: list[str]) -> object:
    """Make the section's dataclass from converted values; ``None`` if any is missing."""
    arguments: dict[str, object] = {}
    for member in section.members:
        if isinstance(member, Section):
            built = _build(member, values, problems)
            if built is not None:
                arguments[member.path[-1]] = built
        elif member.key in values:
            arguments[member.path[-1]] = values[member.key]
    if len(arguments) < len(section.members):
        return None  # a member is unset or invalid, and already reported
    try:
        return section.cls(**arguments)
    except ValueError as error:
        problems.append(
            f"section [{section.key}] is invalid: {error} (raised by {section.cls.__qualname__})"
        )
        return None


def _hint(word: str, candidates: Iterable[str], *, fallback: str = "", form: str = "{}") -> str:
    """Return ``; did you mean X?``, else a list of the candidates, else ``fallback``."""
    candidates = list(candidates)
    matches = difflib.get_close_matches(word, candidates, n=1)
    if matches:
        return f"; did you mean {form.format(matches[0])}?"
    if fallback:
        return f"; run with {fallback} to list the options"
    return "; expected one of: " + ", ".join(form.format(name) for name in candidates)


_URL_PASSWORD = re.compile(r"([a-zA-Z][a-zA-Z0-9+.-]*://[^:/@\s\"]*:)[^@/\s\"]*@")


def _summary(problems: Sequence[str]) -> str:
    if len(problems) == 1:
        return problems[0]
    return f"{len(problems)} configuration problems:\n" + "\n".join(f"  {p}" for p in problems)


def _table(opt: Option) -> str:
    return ".".join(opt.path[:-1])


def _display(value: object) -> str:
    """Show a value as JSON, the form env vars take for lists; ``Secret`` shows as its mask.

    A password in a URL (``postgresql://ada:pw@db/runs``, ``http://u:p@host``) is masked too:
    URLs are the one place plain options carry credentials.
    """
    return _URL_PASSWORD.sub(rf"\1{MASK}@", msgspec.json.encode(value, enc_hook=str).decode())


def _revealed(value: object) -> list[str]:
    """The texts of the non-empty secrets in an option's value: one, none, or a list's."""
    if isinstance(value, Secret):
        return [value.reveal()] if value else []
    if isinstance(value, list):
        return [text for item in value for text in _revealed(item)]
    return []


def _escape(text: str) -> str:
    # argparse %-formats help and version strings.
    return text.replace("%", "%%")
