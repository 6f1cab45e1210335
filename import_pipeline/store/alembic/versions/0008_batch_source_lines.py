"""How many non-blank lines a batch's source range holds, counted when it was read through

Written when a batch settles after its range was read to the end (not when the source
failed part-way), so that a check can hold the batch's results to its lines: every
non-blank line has exactly one result. Batches settled before this revision have none
(NULL); the check then counts a local source's range itself.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("import_batch") as table:
        table.add_column(sa.Column("source_lines", sa.Integer, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("import_batch") as table:
        table.drop_column("source_lines")
