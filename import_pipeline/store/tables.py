"""Table definitions of the import and reference tables (SQLAlchemy Core).

The import tables belong to the imports domain, the reference tables to the references
domain; `import_result.reference_id` deliberately has no foreign key, so that the two
domains meet only through ids. The schema is created by the alembic migrations in
`import_pipeline/store/migrations`, never by `metadata.create_all`.
"""

import datetime

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
    }
)


class UtcDateTime(sa.TypeDecorator[datetime.datetime]):
    """A timestamp stored in UTC and always read back timezone-aware.

    PostgreSQL keeps the zone (timestamptz); SQLite stores text without one, so values
    are converted to UTC before they are written and marked UTC when they are read.
    Naive values are taken as UTC.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(
        self, value: datetime.datetime | None, dialect: sa.Dialect
    ) -> datetime.datetime | None:
        """UTC, whatever zone the value was given in."""
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=datetime.UTC)
        return value.astimezone(datetime.UTC)

    def process_result_value(
        self, value: datetime.datetime | None, dialect: sa.Dialect
    ) -> datetime.datetime | None:
        """Timezone-aware: a naive value read from SQLite is UTC."""
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=datetime.UTC)
        return value


_TIMESTAMP = UtcDateTime()
JSON_DOCUMENT = sa.JSON().with_variant(JSONB(), "postgresql")
# The same, with Python None stored as SQL NULL (not the JSON document `null`).
_NULLABLE_JSON_DOCUMENT = sa.JSON(none_as_null=True).with_variant(
    JSONB(none_as_null=True), "postgresql"
)

import_record = sa.Table(
    "import_record",
    metadata,
    sa.Column("id", sa.Uuid, primary_key=True),
    sa.Column("source_name", sa.Text, nullable=False),
    sa.Column("processor_name", sa.Text, nullable=False),
    sa.Column("processor_version", sa.Text, nullable=False),
    sa.Column("search_string", sa.Text),
    sa.Column("searched_at", _TIMESTAMP, nullable=False),
    sa.Column("notes", sa.Text),
    sa.Column("expected_reference_count", sa.Integer, nullable=False),
    sa.Column("status", sa.String(32), nullable=False),
    sa.Column("failure_details", sa.Text),
    sa.Column("finalised_by", sa.String(16), nullable=False, server_default="run"),
    # The importer finalised it before its last batch was done (migration 0009).
    sa.Column("finalise_requested", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("run_by", sa.String(16), nullable=False, server_default="daemon"),
    sa.Column("writer_run_id", sa.String(64)),
    sa.Column("writer_seen_at", _TIMESTAMP),
    sa.Column("created_at", _TIMESTAMP, nullable=False),
    sa.Column("updated_at", _TIMESTAMP, nullable=False),
)

import_batch = sa.Table(
    "import_batch",
    metadata,
    sa.Column("id", sa.Uuid, primary_key=True),
    sa.Column(
        "import_record_id",
        sa.Uuid,
        sa.ForeignKey("import_record.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    sa.Column("storage_url", sa.Text, nullable=False),
    sa.Column("line_start", sa.Integer),
    sa.Column("line_end", sa.Integer),
    sa.Column("status", sa.String(32), nullable=False),
    sa.Column("failure_details", sa.Text),
    # A `SourceFingerprint` (size, mtime, edge hash; or HTTP validators); NULL until the
    # batch is planned or first fetched, and for batches planned before migration 0006.
    sa.Column("source_fingerprint", _NULLABLE_JSON_DOCUMENT),
    # Non-blank lines in the batch's range, counted when it settled after reading the
    # range through; NULL before that, when the source failed, and for batches settled
    # before migration 0008.
    sa.Column("source_lines", sa.Integer),
    # Where the range's first line starts in the local source's decompressed bytes,
    # found when it was planned; NULL for whole sources and before migration 0011.
    sa.Column("source_offset", sa.BigInteger),
    sa.Column("created_at", _TIMESTAMP, nullable=False),
    sa.Column("updated_at", _TIMESTAMP, nullable=False),
)

import_result = sa.Table(
    "import_result",
    metadata,
    sa.Column("id", sa.Uuid, primary_key=True),
    sa.Column(
        "import_batch_id",
        sa.Uuid,
        sa.ForeignKey("import_batch.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("line_number", sa.Integer, nullable=False),
    sa.Column("status", sa.String(32), nullable=False),
    sa.Column("reference_id", sa.Uuid),
    sa.Column("reference_created", sa.Boolean),
    sa.Column("failure_details", sa.Text),
    sa.Column("created_at", _TIMESTAMP, nullable=False),
    sa.Column("updated_at", _TIMESTAMP, nullable=False),
    sa.UniqueConstraint("import_batch_id", "line_number", name="uq_import_result_batch_line"),
)

reference = sa.Table(
    "reference",
    metadata,
    sa.Column("id", sa.Uuid, primary_key=True),
    sa.Column("visibility", sa.String(16), nullable=False),
    sa.Column("created_at", _TIMESTAMP, nullable=False),
)

external_identifier = sa.Table(
    "external_identifier",
    metadata,
    # The canonical, type-qualified identifier: one reference per key (spec section 3).
    sa.Column("identifier_key", sa.Text, primary_key=True),
    sa.Column(
        "reference_id",
        sa.Uuid,
        sa.ForeignKey("reference.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    sa.Column("identifier_type", sa.String(32), nullable=False),
    sa.Column("other_identifier_name", sa.Text),
    sa.Column("identifier", sa.Text, nullable=False),
)

enhancement = sa.Table(
    "enhancement",
    metadata,
    sa.Column("id", sa.Uuid, primary_key=True),
    sa.Column(
        "reference_id",
        sa.Uuid,
        sa.ForeignKey("reference.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("source", sa.Text, nullable=False),
    sa.Column("visibility", sa.String(16), nullable=False),
    sa.Column("processor_version", sa.Text),
    sa.Column("enhancement_type", sa.String(32), nullable=False),
    sa.Column("content", JSON_DOCUMENT, nullable=False),
    # Hash of (source, type, content): the same enhancement is stored once per reference.
    sa.Column("content_hash", sa.String(64), nullable=False),
    sa.UniqueConstraint("reference_id", "content_hash", name="uq_enhancement_reference_content"),
)

# Probable duplicates (`import_pipeline.dedup`): the blocking keys a new reference is
# found under, and one deduplication decision per reference (the SDK's vocabulary).
dedup_blocking_key = sa.Table(
    "dedup_blocking_key",
    metadata,
    # `dedup.blocking.index_keys`: "doi:...", "title:...", "year-author:...", ...; the
    # primary key (key first) is the index candidate searches read.
    sa.Column("key", sa.Text, primary_key=True),
    sa.Column(
        "reference_id",
        sa.Uuid,
        sa.ForeignKey("reference.id", ondelete="CASCADE"),
        primary_key=True,
    ),
)

# Each indexed reference's evidence (`dedup.normalise.evidence_to_json`), normalised
# once when the step indexes it, so that candidates are read without normalising again.
dedup_evidence = sa.Table(
    "dedup_evidence",
    metadata,
    sa.Column(
        "reference_id",
        sa.Uuid,
        sa.ForeignKey("reference.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("evidence", JSON_DOCUMENT, nullable=False),
)

dedup_decision = sa.Table(
    "dedup_decision",
    metadata,
    sa.Column(
        "reference_id",
        sa.Uuid,
        sa.ForeignKey("reference.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    # pending, canonical, duplicate or unresolved (`dedup.vocabulary`)
    sa.Column("determination", sa.String(16), nullable=False),
    sa.Column("canonical_reference_id", sa.Uuid),
    sa.Column("score", sa.Float, nullable=False),
    sa.Column("evidence", JSON_DOCUMENT, nullable=False),
    sa.Column("decided_by", sa.String(16), nullable=False),  # automatic or person
    # The import record that created the reference (no foreign key: the domains meet
    # through ids, as `import_result.reference_id` does).
    sa.Column("record_id", sa.Uuid),
    sa.Column("created_at", _TIMESTAMP, nullable=False),
    sa.Column("updated_at", _TIMESTAMP, nullable=False),
    sa.Index("ix_dedup_decision_record_reference", "record_id", "reference_id"),
)
