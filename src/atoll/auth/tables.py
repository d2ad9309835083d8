"""The token service's tables (SQLAlchemy), its schema and its unit of work."""

from __future__ import annotations

import sqlalchemy as sa

from atoll.auth.model import Client, SigningKey
from atoll.persistence.repository import Repository  # noqa: TC001 - read at run time
from atoll.persistence.schema import Schema
from atoll.persistence.unit_of_work import UnitOfWork

__all__ = ["AuthUnitOfWork", "clients", "metadata", "schema", "signing_keys"]

metadata = sa.MetaData()
clients = sa.Table(
    "auth_clients",
    metadata,
    sa.Column("id", sa.String(200), primary_key=True),
    sa.Column("secret_hash", sa.String(200), nullable=False),
    sa.Column("scopes", sa.Text, nullable=False),
    sa.Column("audiences", sa.Text, nullable=False),
    sa.Column("created", sa.Float, nullable=False),
)
signing_keys = sa.Table(
    "auth_signing_keys",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("algorithm", sa.String(16), nullable=False),
    sa.Column("private_key", sa.Text, nullable=False),
    sa.Column("created", sa.Float, nullable=False),
    sa.Column("activates_at", sa.Float, nullable=False),
    sa.Column("retires_at", sa.Float, nullable=True),
)

schema = Schema(metadata)
schema.map(Client, clients)
schema.map(SigningKey, signing_keys)


class AuthUnitOfWork(UnitOfWork):
    """The token service's unit of work: its clients and its signing keys."""

    clients: Repository[Client]
    keys: Repository[SigningKey]
