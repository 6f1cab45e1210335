"""Who starts a record's runs: the daemon's sensors, or the command that registered it

A record registered by `import-pipeline import` is run by that command; the
`registered_batches_sensor` must never import it behind the user's back, even when the
command died before its run started. Existing records keep the sensors' behaviour.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("import_record") as table:
        table.add_column(
            sa.Column("run_by", sa.String(16), nullable=False, server_default="daemon")
        )


def downgrade() -> None:
    with op.batch_alter_table("import_record") as table:
        table.drop_column("run_by")
