"""user passwords

Revision ID: 1643a9383a2f
Revises: a7c8c948565a
Create Date: 2026-12-04 07:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "1643a9383a2f"
down_revision: str | tuple[str, ...] | None = "a7c8c948565a"
branch_labels: str | tuple[str, ...] | None = None
depends_on: str | tuple[str, ...] | None = None


def upgrade() -> None:
    """Apply this revision: a runner registered before keeps no password, and cannot log in."""
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("password_hash", sa.String(length=200), nullable=True))


def downgrade() -> None:
    """Undo this revision."""
    with op.batch_alter_table("users") as batch:
        batch.drop_column("password_hash")
