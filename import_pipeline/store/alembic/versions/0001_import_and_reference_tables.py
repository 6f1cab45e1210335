"""import and reference tables

Revision ID: 0001
Revises: (none)
Create Date: 2026-11-26 11:57:08.515452
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table(
        "import_record",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("source_name", sa.Text(), nullable=False),
        sa.Column("processor_name", sa.Text(), nullable=False),
        sa.Column("processor_version", sa.Text(), nullable=False),
        sa.Column("search_string", sa.Text(), nullable=True),
        sa.Column("searched_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column("expected_reference_count", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("failure_details", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_import_record")),
    )
    op.create_table(
        "reference",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("visibility", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reference")),
    )
    op.create_table(
        "enhancement",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("reference_id", sa.Uuid(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("visibility", sa.String(length=16), nullable=False),
        sa.Column("processor_version", sa.Text(), nullable=True),
        sa.Column("enhancement_type", sa.String(length=32), nullable=False),
        sa.Column(
            "content",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["reference_id"],
            ["reference.id"],
            name=op.f("fk_enhancement_reference_id_reference"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_enhancement")),
        sa.UniqueConstraint(
            "reference_id", "content_hash", name="uq_enhancement_reference_content"
        ),
    )
    op.create_table(
        "external_identifier",
        sa.Column("identifier_key", sa.Text(), nullable=False),
        sa.Column("reference_id", sa.Uuid(), nullable=False),
        sa.Column("identifier_type", sa.String(length=32), nullable=False),
        sa.Column("other_identifier_name", sa.Text(), nullable=True),
        sa.Column("identifier", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["reference_id"],
            ["reference.id"],
            name=op.f("fk_external_identifier_reference_id_reference"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("identifier_key", name=op.f("pk_external_identifier")),
    )
    with op.batch_alter_table("external_identifier", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_external_identifier_reference_id"), ["reference_id"], unique=False
        )

    op.create_table(
        "import_batch",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("import_record_id", sa.Uuid(), nullable=False),
        sa.Column("storage_url", sa.Text(), nullable=False),
        sa.Column("line_start", sa.Integer(), nullable=True),
        sa.Column("line_end", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("failure_details", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["import_record_id"],
            ["import_record.id"],
            name=op.f("fk_import_batch_import_record_id_import_record"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_import_batch")),
    )
    with op.batch_alter_table("import_batch", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_import_batch_import_record_id"), ["import_record_id"], unique=False
        )

    op.create_table(
        "import_result",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("import_batch_id", sa.Uuid(), nullable=False),
        sa.Column("line_number", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("reference_id", sa.Uuid(), nullable=True),
        sa.Column("reference_created", sa.Boolean(), nullable=True),
        sa.Column("failure_details", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["import_batch_id"],
            ["import_batch.id"],
            name=op.f("fk_import_result_import_batch_id_import_batch"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_import_result")),
        sa.UniqueConstraint("import_batch_id", "line_number", name="uq_import_result_batch_line"),
    )


def downgrade() -> None:

    op.drop_table("import_result")
    with op.batch_alter_table("import_batch", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_import_batch_import_record_id"))

    op.drop_table("import_batch")
    with op.batch_alter_table("external_identifier", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_external_identifier_reference_id"))

    op.drop_table("external_identifier")
    op.drop_table("enhancement")
    op.drop_table("reference")
    op.drop_table("import_record")
