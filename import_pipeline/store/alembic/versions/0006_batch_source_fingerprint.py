"""What identified a batch's source content when it was planned or first fetched

A local file's size, modification time and a hash of its first and last 64 KiB; an
HTTP(S) source's ETag / Last-Modified and Content-Length. A run that finds the source
changed fails the batch instead of mixing old and new content (spec section 5).
Batches planned before this revision have none (NULL) and still import: they get one
the first time they are read.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("import_batch") as table:
        table.add_column(
            sa.Column(
                "source_fingerprint",
                sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
                nullable=True,
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("import_batch") as table:
        table.drop_column("source_fingerprint")
