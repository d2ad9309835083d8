"""run notes and versions

Revision ID: 62a8970249b3
Revises: d032df4937b1
Create Date: 2026-12-04 14:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "62a8970249b3"
down_revision: str | tuple[str, ...] | None = "d032df4937b1"
branch_labels: str | tuple[str, ...] | None = None
depends_on: str | tuple[str, ...] | None = None


def upgrade() -> None:
    """Apply this revision: a run recorded before has no notes, and no change yet."""
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("notes", sa.Text(), server_default="", nullable=False))
        batch.add_column(sa.Column("version", sa.Integer(), server_default="0", nullable=False))


def downgrade() -> None:
    """Undo this revision."""
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("version")
        batch.drop_column("notes")
