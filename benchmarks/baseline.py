"""The machine's limit: raw binary COPY of a source file's rows, no validation, no de-duplication.

Rows go into tables of the same shape as the product's (same columns, foreign keys and
indexes, but no uniqueness, since duplicates are not removed), with one result row per
line, from two worker processes each taking every other chunk of lines.
"""

import hashlib
import time
import uuid
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime
from itertools import islice
from pathlib import Path

import orjson
import psycopg
from psycopg.types.json import Jsonb

from import_pipeline.store.engine import create_db_engine
from import_pipeline.store.migrations import upgrade_schema

CHUNK = 10_000

_NO_UNIQUENESS = """
ALTER TABLE external_identifier DROP CONSTRAINT pk_external_identifier;
CREATE INDEX ix_baseline_identifier_key ON external_identifier (identifier_key);
ALTER TABLE enhancement DROP CONSTRAINT uq_enhancement_reference_content;
CREATE INDEX ix_baseline_enhancement ON enhancement (reference_id, content_hash);
ALTER TABLE import_result DROP CONSTRAINT uq_import_result_batch_line;
CREATE INDEX ix_baseline_result ON import_result (import_batch_id, line_number);
"""


def prepare(url: str) -> uuid.UUID:
    """Create the tables without uniqueness and one record and batch; return the batch id."""
    engine = create_db_engine(url)
    upgrade_schema(engine)
    engine.dispose()
    batch_id = uuid.uuid4()
    record_id = uuid.uuid4()
    now = datetime.now(UTC)
    with psycopg.connect(_libpq(url)) as connection:
        connection.execute(_NO_UNIQUENESS)
        connection.execute(
            "INSERT INTO import_record VALUES (%s, 'baseline', 'baseline', '1', NULL, %s, NULL, "
            "-1, 'started', NULL, %s, %s)",
            [record_id, now, now, now],
        )
        connection.execute(
            "INSERT INTO import_batch VALUES (%s, %s, 'baseline', NULL, NULL, 'started', NULL, %s, %s)",
            [batch_id, record_id, now, now],
        )
    return batch_id


def _libpq(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


def _load_chunk(url: str, batch_id: uuid.UUID, first_line: int, lines: list[bytes]) -> int:
    now = datetime.now(UTC)
    references, identifiers, enhancements, results = [], [], [], []
    for offset, text in enumerate(lines):
        number = first_line + offset
        try:
            data = orjson.loads(text)
            ids = data["identifiers"]
        except (orjson.JSONDecodeError, KeyError, TypeError):
            results.append((uuid.uuid4(), batch_id, number, "failed", None, None, "bad", now, now))
            continue
        ref = uuid.uuid4()
        references.append((ref, data.get("visibility", "public"), now))
        for ident in ids:
            value = str(ident.get("identifier"))
            identifiers.append(
                (
                    f"{ident.get('identifier_type')}:{value}",
                    ref,
                    str(ident.get("identifier_type")),
                    None,
                    value,
                )
            )
        for item in data.get("enhancements", []):
            content = orjson.dumps(item["content"])
            enhancements.append(
                (
                    uuid.uuid4(),
                    ref,
                    item["source"],
                    item.get("visibility", "public"),
                    None,
                    item["content"]["enhancement_type"],
                    Jsonb(content.decode(), dumps=str),
                    hashlib.sha256(content).hexdigest(),
                )
            )
        results.append((uuid.uuid4(), batch_id, number, "completed", ref, True, None, now, now))
    with psycopg.connect(_libpq(url)) as connection, connection.cursor() as cursor:
        for table, types, rows in (
            ("reference", ["uuid", "varchar", "timestamptz"], references),
            ("external_identifier", ["text", "uuid", "varchar", "text", "text"], identifiers),
            (
                "enhancement",
                ["uuid", "uuid", "text", "varchar", "text", "varchar", "jsonb", "varchar"],
                enhancements,
            ),
            (
                "import_result",
                [
                    "uuid",
                    "uuid",
                    "int4",
                    "varchar",
                    "uuid",
                    "bool",
                    "text",
                    "timestamptz",
                    "timestamptz",
                ],
                results,
            ),
        ):
            with cursor.copy(f"COPY {table} FROM STDIN (FORMAT BINARY)") as copy:
                copy.set_types(types)
                for row in rows:
                    copy.write_row(row)
    return len(lines)


def _chunks(path: Path):
    with path.open("rb") as handle:
        numbered = ((n, line) for n, line in enumerate(handle, start=1) if line.strip())
        while chunk := list(islice(numbered, CHUNK)):
            yield chunk[0][0], [line for _, line in chunk]


def run_baseline(url: str, path: Path, workers: int = 2) -> tuple[int, float]:
    """Load `path` by raw COPY into the database at `url`; return (lines, seconds)."""
    batch_id = prepare(url)
    started = time.perf_counter()
    total = 0
    with ProcessPoolExecutor(workers) as pool:
        pending = []
        for first, lines in _chunks(path):
            pending.append(pool.submit(_load_chunk, url, batch_id, first, lines))
            if len(pending) >= workers * 2:
                total += pending.pop(0).result()
        total += sum(future.result() for future in pending)
    return total, time.perf_counter() - started
