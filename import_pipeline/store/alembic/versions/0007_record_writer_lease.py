"""The writer lease of a record: which run writes it, and when that run last said so

Only one run writes a record at a time (spec section 5): a run claims the lease before
it writes and renews it while it does; another run takes it only when it is free, its
holder finished, or the holder stopped renewing it (services.writer_lease).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("import_record") as table:
        table.add_column(sa.Column("writer_run_id", sa.String(64)))
        table.add_column(sa.Column("writer_seen_at", sa.DateTime(timezone=True)))


def downgrade() -> None:
    with op.batch_alter_table("import_record") as table:
        table.drop_column("writer_seen_at")
        table.drop_column("writer_run_id")
