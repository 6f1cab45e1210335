"""The asset checks of `imported_references`: one result per partition (import record).

Each check reads the record id from its partition key, calls one check of
`services.record_checks` and reports what it found, with its counts as numbers and its
sample rows as a table. The three that say an import lost or doubled something fail
with ERROR severity; the failed-line share only warns (WARN).
"""

import uuid
import warnings
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetChecksDefinition,
    AssetCheckSeverity,
    AssetCheckSpec,
    Failure,
    MetadataValue,
    PreviewWarning,
    TableColumn,
    TableRecord,
    TableSchema,
    multi_asset_check,
)

from import_pipeline.domain.errors import DomainError
from import_pipeline.orchestration.assets import IMPORTED_REFERENCES_KEY
from import_pipeline.orchestration.partitions import (
    import_records_partitions,
    record_id_from_partition_key,
)
from import_pipeline.orchestration.resources import DatabaseResource
from import_pipeline.services import record_checks
from import_pipeline.services.record_checks import CheckOutcome
from import_pipeline.services.unit_of_work import UnitOfWorkFactory
from import_pipeline.settings import SettingsError, get_settings

# Dagster 1.13 calls partitioned asset checks a preview and warns for each check defined;
# our checks follow the asset's partitions, which is what they are for.
warnings.filterwarnings(
    "ignore", message="Specifying a partitions_def on an AssetCheckSpec", category=PreviewWarning
)


def _columns(**columns: tuple[str, str]) -> TableSchema:
    """A table schema from `name=(type, description)` pairs, in order."""
    return TableSchema(
        columns=[
            TableColumn(name, kind, description=description)
            for name, (kind, description) in columns.items()
        ]
    )


_BATCH = ("string", "The batch's id.")
_LINE = ("int", "The line's number in its source (none: the whole batch).")
_RESULT_LINES = _columns(
    batch=_BATCH,
    line=_LINE,
    status=("string", "The result's status."),
    details=("string", "The result's failure details."),
)
_SAMPLES = {
    "results_complete": _columns(
        problem=("string", "What is wrong."),
        batch=_BATCH,
        line=_LINE,
        details=("string", "What was found."),
    ),
    "results_settled": _RESULT_LINES,
    "identifiers_unique": _columns(
        identifier=("string", "The identifier, in canonical form."),
        references=("string", "The references holding it."),
    ),
    "failed_share_below_threshold": _RESULT_LINES,
}


def _record_id(context: AssetCheckExecutionContext) -> uuid.UUID:
    """The record the check's partition names; a key that names none fails the check."""
    try:
        return record_id_from_partition_key(
            context.partition_key if context.has_partition_key else None
        )
    except DomainError as error:
        raise Failure(description=str(error), allow_retries=False) from None


def _result(
    name: str, outcome: CheckOutcome, severity: AssetCheckSeverity, record_id: uuid.UUID
) -> AssetCheckResult:
    """The outcome as Dagster shows it: numbers as numbers, sample rows as a table."""
    metadata: dict[str, Any] = {"record_id": str(record_id)}
    for key, value in outcome.metadata.items():
        metadata[key] = (
            MetadataValue.table(records=[TableRecord(row) for row in value], schema=_SAMPLES[name])
            if isinstance(value, list)
            else value
        )
    return AssetCheckResult(
        asset_key=IMPORTED_REFERENCES_KEY,
        check_name=name,
        passed=outcome.passed,
        severity=severity,
        description=outcome.description,
        metadata=metadata,
    )


def _outcome(
    check: Callable[[UnitOfWorkFactory, uuid.UUID], CheckOutcome],
    database: DatabaseResource,
    record_id: uuid.UUID,
) -> CheckOutcome:
    """Run one service check on the partition's record."""
    try:
        return check(database.units, record_id)
    except DomainError as error:  # an unknown record; a bad setting of the database URL
        raise Failure(description=str(error), allow_retries=False) from None


def _failed_share_threshold() -> float:
    """IMPORT_PIPELINE_FAILED_SHARE_WARNING; a bad value fails the check (the deployment's)."""
    try:
        return get_settings().failed_share_warning
    except SettingsError as error:
        raise Failure(description=str(error), allow_retries=False) from None


# What each check says when it passes; the three that say an import lost or doubled
# something are errors, the failed-line share (the data's fault, not the import's) warns.
_DESCRIPTIONS = {
    "results_complete": "Every non-blank source line of the record has exactly one result.",
    "results_settled": "No result of the record is left created, started or retrying.",
    "identifiers_unique": "No identifier of the record's references belongs to two references.",
    "failed_share_below_threshold": "The share of the record's lines failed or partially "
    "failed is at most IMPORT_PIPELINE_FAILED_SHARE_WARNING (default 0.05); over it, warns.",
}
_SEVERITY = {
    "results_complete": AssetCheckSeverity.ERROR,
    "results_settled": AssetCheckSeverity.ERROR,
    "identifiers_unique": AssetCheckSeverity.ERROR,
    "failed_share_below_threshold": AssetCheckSeverity.WARN,
}


@multi_asset_check(
    name="imported_references_checks",
    specs=[
        AssetCheckSpec(
            name,
            asset=IMPORTED_REFERENCES_KEY,
            description=description,
            partitions_def=import_records_partitions,
        )
        for name, description in _DESCRIPTIONS.items()
    ],
)
def imported_references_checks(
    context: AssetCheckExecutionContext, database: DatabaseResource
) -> Iterator[AssetCheckResult]:
    """The four checks of the partition's record, in one step (one process, not four).

    A check step costs seconds of process start-up under the multiprocess executor,
    far more than the queries, so the checks share one step and each still reports
    its own result, in this order. Their queries run at once, each on its own
    connection (the database has cores to spare at the end of an import): the step
    takes as long as its slowest query, not the sum of them.
    """
    record_id = _record_id(context)

    def failed_share(units: UnitOfWorkFactory, record_id: uuid.UUID) -> CheckOutcome:
        # Read last: a bad setting fails the step after the other checks have reported.
        threshold = _failed_share_threshold()
        return record_checks.failed_share_below_threshold(units, record_id, threshold)

    checks: dict[str, Callable[[UnitOfWorkFactory, uuid.UUID], CheckOutcome]] = {
        "results_complete": record_checks.results_complete,
        "results_settled": record_checks.results_settled,
        "identifiers_unique": record_checks.identifiers_unique,
        "failed_share_below_threshold": failed_share,
    }
    with ThreadPoolExecutor(len(checks), thread_name_prefix="record-check") as pool:
        running = {
            name: pool.submit(_outcome, check, database, record_id)
            for name, check in checks.items()
        }
        for name, outcome in running.items():
            found = outcome.result()
            context.log.info(f"{name}: {found.description}")
            yield _result(name, found, _SEVERITY[name], record_id)


import_checks: list[AssetChecksDefinition] = [imported_references_checks]
"""The checks to pass to `Definitions(asset_checks=...)` beside `imported_references`."""

__all__ = ["import_checks"]
