"""failed logins

Revision ID: 60504f8a2e9f
Revises: aaa0702fce1b
Create Date: 2026-12-04 14:32:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "60504f8a2e9f"
down_revision: str | tuple[str, ...] | None = "aaa0702fce1b"
branch_labels: str | tuple[str, ...] | None = None
depends_on: str | tuple[str, ...] | None = None


def upgrade() -> None:
    """Apply this revision: the failed logins with each email, which lock its logins out."""
    op.create_table(
        "failed_logins",
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("last_failed", sa.Float(), nullable=False),
        sa.Column("locked_until", sa.Float(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("email"),
    )


def downgrade() -> None:
    """Undo this revision."""
    op.drop_table("failed_logins")
