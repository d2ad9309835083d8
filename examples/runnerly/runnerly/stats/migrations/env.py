"""Alembic's environment for this service's migrations: ``atoll db`` runs it.

atoll hands it, in ``config.attributes``, the database URL, the schema's metadata (with atoll's
outbox and inbox tables) and the service's version table, so this file reads no alembic.ini
and no environment. Keyword arguments to ``run_migrations`` go to alembic's
``context.configure``: ``run_migrations(compare_server_default=True)``.
"""

from atoll.adapters.sqlalchemy.migrations import run_migrations

run_migrations()
