"""Whether the importer has finalised a record before its last batch was done

The DESTINY v1 finalise route (`PATCH /v1/imports/records/{id}/finalise/`) follows the
seed system: an importer may finalise right after registering its batches. The record
then takes no more batches and is completed by the run that settles its last batch.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A plain ADD COLUMN, not `batch_alter_table`: on SQLite the batch mode would rebuild
    # import_record for this column, and dropping the old table deletes the records'
    # batches (ON DELETE CASCADE); SQLite adds a NOT NULL column with a default in place.
    op.add_column(
        "import_record",
        sa.Column("finalise_requested", sa.Boolean, nullable=False, server_default=sa.false()),
    )


def downgrade() -> None:
    op.drop_column("import_record", "finalise_requested")  # in place on SQLite >= 3.35 too
