"""The texts of the deployment's files a person fills in: the secrets files, as TOML.

A service reads its secrets file as its options file (``PREFIX_CONFIG``), and a migration
job reads its own as the system's; the YAML documents around them are written by
:mod:`atoll.adapters.yaml`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from atoll.deploy.plan import DEFAULT_PASSWORD_PLACEHOLDER
from atoll.persistence.options import database_section

if TYPE_CHECKING:
    from atoll.deploy.plan import FleetPlan, ServicePlan

__all__ = ["migrate_options_file", "options_file"]


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
    section = database_section(service.name)
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
