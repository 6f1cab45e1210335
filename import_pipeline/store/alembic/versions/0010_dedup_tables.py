"""Probable duplicates: blocking keys of references, and one decision per reference

`dedup_blocking_key` holds the keys (`dedup.blocking.index_keys`) under which a
reference created by an import is found by later ones; its primary key starts with the
key, so a candidate search is an index range per key, on SQLite as on PostgreSQL.
`dedup_evidence` keeps each indexed reference's normalised evidence.
`dedup_decision` holds each reference's deduplication decision in the DESTINY SDK's
vocabulary, with score, evidence, who decided (a person's decision is never replaced)
and the import record that created the reference (indexed with the reference id, so
the step reads a record's references in reference order).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "dedup_blocking_key",
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("reference_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["reference_id"],
            ["reference.id"],
            name=op.f("fk_dedup_blocking_key_reference_id_reference"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("key", "reference_id", name=op.f("pk_dedup_blocking_key")),
    )
    op.create_table(
        "dedup_evidence",
        sa.Column("reference_id", sa.Uuid(), nullable=False),
        sa.Column(
            "evidence",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["reference_id"],
            ["reference.id"],
            name=op.f("fk_dedup_evidence_reference_id_reference"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("reference_id", name=op.f("pk_dedup_evidence")),
    )
    op.create_table(
        "dedup_decision",
        sa.Column("reference_id", sa.Uuid(), nullable=False),
        sa.Column("determination", sa.String(length=16), nullable=False),
        sa.Column("canonical_reference_id", sa.Uuid(), nullable=True),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column(
            "evidence",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("decided_by", sa.String(length=16), nullable=False),
        sa.Column("record_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["reference_id"],
            ["reference.id"],
            name=op.f("fk_dedup_decision_reference_id_reference"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("reference_id", name=op.f("pk_dedup_decision")),
    )
    op.create_index(
        "ix_dedup_decision_record_reference",
        "dedup_decision",
        ["record_id", "reference_id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_dedup_decision_record_reference", table_name="dedup_decision")
    op.drop_table("dedup_decision")
    op.drop_table("dedup_evidence")
    op.drop_table("dedup_blocking_key")
