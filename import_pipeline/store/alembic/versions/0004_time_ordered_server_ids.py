"""Time-ordered server-side ids (UUID v7) for enhancements and results on PostgreSQL

`gen_random_uuid()` ids land on random pages of the primary-key index: once the index
outgrows shared_buffers every insert reads and dirties a random page (and writes it
whole to the WAL after each checkpoint). UUID v7 ids start with the time in
milliseconds, so new rows go to the right-hand end of the index. PostgreSQL 15 has no
built-in v7 function (18 has `uuidv7()`); this one overlays the time on a random UUID
and sets the version bits. The DESTINY SDK accepts v4 and v7 ids. SQLite keeps its
client-side ids.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TABLES = ("enhancement", "import_result")
_FUNCTION = """
CREATE OR REPLACE FUNCTION import_pipeline_uuid_v7() RETURNS uuid AS $$
  SELECT encode(
    set_bit(set_bit(
      overlay(
        uuid_send(gen_random_uuid())
        PLACING substring(
          int8send(floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint) FROM 3
        )
        FROM 1 FOR 6
      ),
      52, 1), 53, 1),
    'hex')::uuid
$$ LANGUAGE sql VOLATILE PARALLEL SAFE
"""


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(_FUNCTION)
    for table in _TABLES:
        op.execute(f"ALTER TABLE {table} ALTER COLUMN id SET DEFAULT import_pipeline_uuid_v7()")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in _TABLES:
        op.execute(f"ALTER TABLE {table} ALTER COLUMN id SET DEFAULT gen_random_uuid()")
    op.execute("DROP FUNCTION import_pipeline_uuid_v7()")
