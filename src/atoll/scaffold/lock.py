"""The pins of a new project's lock file, read from the distributions installed here.

::

    pinned = installed_pins(["atoll[sql,nats]", "pytest"], skip={"atoll"})
    pinned.lines    # ["aiosqlite==0.21.0", "alembic==1.16.5", ...]
    pinned.missing  # requirements not installed here, written unpinned

Each requirement is followed through the ``Requires-Dist`` of its installed distribution, with
the extras asked for. A requirement that holds under a condition only (``extra == "socks"``,
``sys_platform != "win32"``) is followed when it names an extra asked for, or, for any other
condition, when its distribution is installed here: what this environment needed is what the
project pins. No index is asked and no marker is evaluated beyond that, so that a user's
environment needs nothing beyond atoll to make a project.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from importlib import metadata
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Collection, Iterable

__all__ = ["Pins", "Requirement", "installed_pins", "normalized"]

_REQUIREMENT = re.compile(
    r"^\s*(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[(?P<extras>[^\]]*)\])?[^;]*(?:;(?P<marker>.*))?$"
)
_EXTRA = re.compile(r"""\bextra\s*==\s*["']([^"']+)["']""")


def normalized(name: str) -> str:
    """A distribution's name as the index compares it (PEP 503): ``Aio_Pika`` is ``aio-pika``."""
    return re.sub(r"[-_.]+", "-", name).lower()


@dataclass(frozen=True)
class Requirement:
    """A requirement's name, the extras it asks for, and the extras its condition names."""

    name: str
    extras: frozenset[str] = frozenset()
    conditional: bool = False
    """Whether it holds under a condition only (``; ...`` after it)."""
    when_extras: frozenset[str] = frozenset()
    """The extras of the requiring distribution its condition names, if any."""

    @classmethod
    def parse(cls, text: str) -> Requirement:
        """Read ``name[extra,...] >= version ; marker``.

        Raises:
            ValueError: ``text`` names no distribution.
        """
        match = _REQUIREMENT.match(text)
        if match is None:
            raise ValueError(f"{text!r} is not a requirement such as 'httpx>=0.27'")
        extras = match.group("extras") or ""
        marker = match.group("marker")
        return cls(
            normalized(match.group("name")),
            frozenset(normalized(extra.strip()) for extra in extras.split(",") if extra.strip()),
            conditional=marker is not None,
            when_extras=frozenset(normalized(e) for e in _EXTRA.findall(marker or "")),
        )


@dataclass
class Pins:
    """``name==version`` lines, sorted, and the requirements not installed here."""

    lines: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)


def installed_pins(requirements: Iterable[str], *, skip: Collection[str] = ()) -> Pins:
    """The installed versions of ``requirements`` and of everything they need, as pins.

    Args:
        requirements: what the project asks for, such as ``atoll[sql]`` and ``pytest``.
        skip: distributions followed but not pinned (``atoll``, installed its own way).
    """
    skipped = {normalized(name) for name in skip}
    versions: dict[str, tuple[str, str]] = {}  # normalized name: (name as published, version)
    missing: set[str] = set()
    seen: set[tuple[str, frozenset[str]]] = set()
    waiting = [Requirement.parse(text) for text in requirements]
    while waiting:
        wanted = waiting.pop()
        if (wanted.name, wanted.extras) in seen:
            continue
        seen.add((wanted.name, wanted.extras))
        try:
            distribution = metadata.distribution(wanted.name)
        except metadata.PackageNotFoundError:
            missing.add(wanted.name)
            continue
        if wanted.name not in skipped:
            versions[wanted.name] = (distribution.metadata["Name"], distribution.version)
        for text in distribution.requires or []:
            needed = Requirement.parse(text)  # atoll[all] asks for atoll[sql,...] too
            if _holds(needed, wanted.extras):
                waiting.append(needed)
    lines = [f"{name}=={version}" for name, version in sorted(versions.values(), key=_key)]
    return Pins(lines, sorted(missing))


def _holds(requirement: Requirement, extras: frozenset[str]) -> bool:
    """Whether to follow ``requirement`` of a distribution asked for with ``extras``."""
    if requirement.when_extras:
        return bool(requirement.when_extras & extras)
    if not requirement.conditional:
        return True
    try:
        metadata.distribution(requirement.name)
    except metadata.PackageNotFoundError:
        return False
    return True


def _key(pin: tuple[str, str]) -> str:
    return normalized(pin[0])
