"""Where a batch's line range starts in its local source, so that it is read from there

Found when the record is planned (the same pass that counts the source's lines). A
batch of a late range of a large file then seeks to its first line instead of reading
every line before it; a batch planned before this revision has none (NULL) and reads
from the start as before.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A plain ADD COLUMN (see 0009): on SQLite a rebuilt import_batch would lose its
    # results to ON DELETE CASCADE.
    op.add_column("import_batch", sa.Column("source_offset", sa.BigInteger, nullable=True))


def downgrade() -> None:
    op.drop_column("import_batch", "source_offset")  # in place on SQLite >= 3.35 too
