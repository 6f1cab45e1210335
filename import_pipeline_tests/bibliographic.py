"""DESTINY lines with bibliographic enhancements, for the probable-duplicate tests.

`paper(...)` writes one `ReferenceFileInput` line as the exports do: identifiers, and a
bibliographic enhancement with title, authors, year, venue and pages.
"""

import json
from pathlib import Path
from typing import Any


def paper(
    title: str,
    *,
    authors: tuple[str, ...] = ("Q. J. Zhai", "X. Y. Yue"),
    year: int = 2010,
    doi: str | None = None,
    pmid: int | None = None,
    other: str | None = None,
    volume: str = "7",
    first_page: str = "73",
    last_page: str = "76",
    source: str = "tests",
) -> dict[str, Any]:
    """One line's JSON object."""
    identifiers: list[dict[str, Any]] = []
    if doi:
        identifiers.append({"identifier_type": "doi", "identifier": doi})
    if pmid:
        identifiers.append({"identifier_type": "pm_id", "identifier": pmid})
    if other or not identifiers:
        identifiers.append(
            {
                "identifier_type": "other",
                "other_identifier_name": "test_id",
                "identifier": other or title,
            }
        )
    authorship = [
        {"display_name": name, "position": "first" if n == 0 else "middle"}
        for n, name in enumerate(authors)
    ]
    return {
        "visibility": "public",
        "identifiers": identifiers,
        "enhancements": [
            {
                "source": source,
                "visibility": "public",
                "content": {
                    "enhancement_type": "bibliographic",
                    "title": title,
                    "authorship": authorship,
                    "publication_year": year,
                    "pagination": {
                        "volume": volume,
                        "first_page": first_page,
                        "last_page": last_page,
                    },
                    "publication_venue": {"display_name": "Stroke", "venue_type": "journal"},
                },
            }
        ],
    }


def write_papers(path: Path, papers: list[dict[str, Any]]) -> Path:
    """Write `papers` as a JSON Lines file at `path`."""
    path.write_text("".join(json.dumps(item) + "\n" for item in papers))
    return path


def import_papers(
    units: Any, path: Path, papers: list[dict[str, Any]], *, lines_per_batch: int = 1000
) -> Any:
    """Import `papers` as one record through the services (no Dagster); its id.

    The batches are processed one after the other: with one line a batch, the
    references are created (and their ids ordered) in line order.
    """
    from import_pipeline.domain.models import ImportRecord  # noqa: PLC0415
    from import_pipeline.services.batches import process_batch  # noqa: PLC0415
    from import_pipeline.services.finalise import finalise_record  # noqa: PLC0415
    from import_pipeline.services.planning import start_and_plan  # noqa: PLC0415
    from import_pipeline.services.registration import register_import  # noqa: PLC0415

    record = ImportRecord(source_name="tests", processor_name="tests", processor_version="1")
    register_import(units, record, [str(write_papers(path, papers))])
    for batch_id in start_and_plan(units, record.id, lines_per_batch):
        process_batch(units, batch_id, chunk_size=3)
    finalise_record(units, record.id)
    return record.id
