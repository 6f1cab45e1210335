"""Who finalises a record: the run that processes it, or the importer (HTTP API)

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("import_record") as table:
        table.add_column(
            sa.Column("finalised_by", sa.String(16), nullable=False, server_default="run")
        )


def downgrade() -> None:
    with op.batch_alter_table("import_record") as table:
        table.drop_column("finalised_by")
