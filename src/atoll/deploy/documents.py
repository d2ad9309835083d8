"""Writing the deployment's documents: YAML, the same bytes for the same input.

PyYAML writes them; keys keep the order they were built in, so a file generated twice from
the same system is the same file, fit to commit and to compare.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import yaml  # type: ignore[import-untyped]  # PyYAML ships no type hints

from atoll.deploy.plan import DEFAULT_PASSWORD_PLACEHOLDER

if TYPE_CHECKING:
    from collections.abc import Iterable

    from atoll.deploy.plan import FleetPlan, ServicePlan

__all__ = ["dump", "dump_all", "migrate_options_file", "options_file"]


class _Dumper(yaml.SafeDumper):  # type: ignore[misc]  # PyYAML is untyped
    """Block style; a text of several lines as a literal block, the way a person writes it."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> Any:  # noqa: ARG002, FBT001, FBT002 - PyYAML's signature
        """Indent a list under its key, as Kubernetes' and compose's examples do."""
        return super().increase_indent(flow, indentless=False)

    def ignore_aliases(self, data: object) -> bool:  # noqa: ARG002 - PyYAML's hook
        """Write each value where it is: no ``&anchor``, which few people read fluently."""
        return True


def _text(dumper: yaml.SafeDumper, value: str) -> Any:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _text)


def dump(document: object) -> str:
    """One YAML document."""
    text: str = yaml.dump(
        document, Dumper=_Dumper, sort_keys=False, default_flow_style=False, width=100
    )
    return text


def dump_all(documents: Iterable[object]) -> str:
    """Several YAML documents in one text, each begun by ``---``."""
    return "".join(f"---\n{dump(document)}" for document in documents)


def options_file(
    fleet: FleetPlan,
    service: ServicePlan,
    postgres_host: str,
    password: str = DEFAULT_PASSWORD_PLACEHOLDER,
) -> str:
    """The text of ``service``'s secrets file, read as its options file.

    The URLs that hold a password are set, with ``password`` in them; a secret option the
    service requires is set to a placeholder; every other secret option is listed commented
    out: set those the service uses.
    """
    tables: dict[str, list[str]] = {}
    for key in service.url_keys:
        table, _, name = key.rpartition(".")
        url = _url(fleet, service.name, key, postgres_host, password)
        tables.setdefault(table, []).append(f'{name} = "{url}"')
    for opt in service.secrets:
        value = f'"{DEFAULT_PASSWORD_PLACEHOLDER}"' if opt.required else '""'
        line = f"{opt.path[-1]} = {value}"
        tables.setdefault(".".join(opt.path[:-1]), []).append(line if opt.required else f"# {line}")
    lines = [
        f"# The secrets of {service.name}, read as its options file ({service.config_env}).",
        "# A secret left commented out stays unset: set those the service uses.",
    ]
    for table, entries in tables.items():
        heading = f"[{table}]"
        if all(entry.startswith("#") for entry in entries):
            heading = f"# {heading}"
        lines += ["", heading, *entries]
    return "\n".join(lines) + "\n"


def migrate_options_file(
    fleet: FleetPlan,
    service: ServicePlan,
    postgres_host: str,
    password: str = DEFAULT_PASSWORD_PLACEHOLDER,
) -> str:
    """The text of the options file of ``service``'s migration job, read by ``atoll db``.

    ``atoll db upgrade SYSTEM --service NAME`` reads the system's options: the database's
    URL is ``[NAME_db] url``.
    """
    section = f"{service.name.replace('-', '_')}_db"
    url = _url(fleet, service.name, "db.url", postgres_host, password)
    return (
        f"# The options of the migration job of {service.name} ({fleet.migrate_config_env}).\n"
        "# Replace the placeholder: the same URL as in the service's own file.\n"
        f'\n[{section}]\nurl = "{url}"\n'
    )


def _url(fleet: FleetPlan, service: str, key: str, postgres_host: str, password: str) -> str:
    if key == "db.url":
        return (
            f"postgresql+asyncpg://atoll:{password}@{postgres_host}:5432/{fleet.database(service)}"
        )
    return fleet.broker_url().replace(DEFAULT_PASSWORD_PLACEHOLDER, password)
