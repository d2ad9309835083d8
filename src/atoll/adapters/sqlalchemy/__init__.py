"""The SQL adapter, on SQLAlchemy 2: the only package of atoll that imports SQLAlchemy or Alembic.

- :mod:`~atoll.adapters.sqlalchemy.database`: :class:`SqlDatabase`, the database port on
  PostgreSQL (asyncpg) and SQLite (aiosqlite), and its transactions;
- :mod:`~atoll.adapters.sqlalchemy.mapping`: aggregates mapped to tables, imperatively, with
  their versions;
- :mod:`~atoll.adapters.sqlalchemy.outbox`: the outbox and inbox tables and how a relay claims
  what is unsent;
- :mod:`~atoll.adapters.sqlalchemy.api_tokens`: the API token table and its store;
- :mod:`~atoll.adapters.sqlalchemy.leases`: the lease table and its store;
- :mod:`~atoll.adapters.sqlalchemy.migrations`: migrations with Alembic (``atoll db``),
  imported only when migrations are used.
"""

from atoll.adapters.sqlalchemy.database import SqlDatabase, SqlTransaction
from atoll.adapters.sqlalchemy.outbox import add_outbox_tables

__all__ = ["SqlDatabase", "SqlTransaction", "add_outbox_tables"]
