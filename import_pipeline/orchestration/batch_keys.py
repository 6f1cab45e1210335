"""Step names for batches that people can read: `process_import_batch[a_jsonl_1_50000]`.

Dagster's mapping keys may hold only letters, digits and underscores, so a batch's
label (file name and line range) is reduced to those; two batches that would get the
same key (same file name and range, from different folders) both get their id's
last eight hex digits appended (the random part of a UUID v7).
"""

import re
from collections import Counter
from collections.abc import Sequence

from import_pipeline.domain.models import ImportBatch

_NOT_ALLOWED = re.compile(r"[^A-Za-z0-9]+")
_MAX_LABEL = 60


def _readable(batch: ImportBatch) -> str:
    key = _NOT_ALLOWED.sub("_", batch.label).strip("_")[:_MAX_LABEL].rstrip("_")
    return key or "batch"


def batch_mapping_keys(batches: Sequence[ImportBatch]) -> list[str]:
    """One distinct mapping key per batch, in order, made from each batch's label."""
    keys = [_readable(batch) for batch in batches]
    taken = Counter(keys)
    return [
        f"{key}_{batch.id.hex[-8:]}" if taken[key] > 1 else key
        for key, batch in zip(keys, batches, strict=True)
    ]
