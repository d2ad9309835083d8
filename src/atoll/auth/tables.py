"""The token service's tables (SQLAlchemy), its schema and its unit of work."""

from __future__ import annotations

import sqlalchemy as sa

from atoll.auth.model import Client, MessageKey, RefreshToken, SigningKey
from atoll.persistence.repository import Repository  # noqa: TC001 - read at run time
from atoll.persistence.schema import Schema
from atoll.persistence.unit_of_work import UnitOfWork

__all__ = [
    "AuthUnitOfWork",
    "clients",
    "message_keys",
    "metadata",
    "refresh_tokens",
    "schema",
    "signing_keys",
]

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
refresh_tokens = sa.Table(
    "auth_refresh_tokens",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("family", sa.String(64), nullable=False, index=True),
    sa.Column("client_id", sa.String(200), nullable=False),
    sa.Column("subject", sa.String(200), nullable=False),
    sa.Column("audiences", sa.Text, nullable=False),
    sa.Column("scopes", sa.Text, nullable=False),
    sa.Column("created", sa.Float, nullable=False),
    sa.Column("expires", sa.Float, nullable=False),
    sa.Column("session_ends", sa.Float, nullable=False),
    sa.Column("used", sa.Boolean, nullable=False),
    sa.Column("revoked", sa.Boolean, nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
)
message_keys = sa.Table(
    "auth_message_keys",
    metadata,
    sa.Column("kid", sa.String(64), primary_key=True),
    sa.Column("client_id", sa.String(200), nullable=False, index=True),
    sa.Column("jwk", sa.Text, nullable=False),
    sa.Column("registered", sa.Float, nullable=False),
    sa.Column("expires", sa.Float, nullable=False),
)

schema = Schema(metadata)
schema.map(Client, clients)
schema.map(SigningKey, signing_keys)
schema.map(RefreshToken, refresh_tokens, version="version")
schema.map(MessageKey, message_keys, id="kid")


class AuthUnitOfWork(UnitOfWork):
    """The token service's unit of work: clients, signing keys, refresh tokens, message keys."""

    clients: Repository[Client]
    keys: Repository[SigningKey]
    refresh_tokens: Repository[RefreshToken]
    message_keys: Repository[MessageKey]
