"""One writer per record: the lease a run holds on a record while it writes it.

A run claims the record's lease before it plans or writes (the plan step and each batch
step), renews it while it writes (a heartbeat every `HEARTBEAT_SECONDS`, or a third of
the lease period if that is shorter) and releases it
when it finalises. Another run may take the lease only when it is free, when its holder
is known to have finished (the orchestrator says so), or when the holder has not renewed
it for `lease_seconds` (a process killed outright). A run that finds its lease taken
over stops writing. The lease lives in the store, so it holds across processes, hosts
and Dagster instances, on PostgreSQL and SQLite alike.
"""

import datetime
import time
import uuid
from collections.abc import Callable

from import_pipeline.domain.errors import DomainError, UnknownRecordError
from import_pipeline.domain.models import utc_now
from import_pipeline.services.unit_of_work import UnitOfWorkFactory

HEARTBEAT_SECONDS = 5.0
# How often a run waiting for a busy record looks again.
WAIT_POLL_SECONDS = 1.0

# Says whether the run with this id is known to have finished (succeeded, failed, ended).
RunFinished = Callable[[str], bool]


class RecordBusyError(DomainError):
    """Another run holds the record's writer lease; the message names it."""


def claim_record(
    units: UnitOfWorkFactory,
    record_id: uuid.UUID,
    run_id: str,
    *,
    lease_seconds: float,
    holder_finished: RunFinished = lambda _run_id: False,
) -> None:
    """Take (or renew) the record's lease for `run_id`; raise `RecordBusyError` if held."""
    now = utc_now()
    with units() as uow:
        imports = uow.imports
        lease = imports.writer_lease(record_id)
        if lease is None:
            raise UnknownRecordError(f"no import record with id {record_id}")
        holder, seen_at = lease
        stale = seen_at is None or seen_at < now - datetime.timedelta(seconds=lease_seconds)
        if holder not in {None, run_id} and not stale and not holder_finished(holder):
            age = (now - seen_at).total_seconds() if seen_at else 0.0
            raise RecordBusyError(
                f"import record {record_id} is being written by run {holder} "
                f"(last seen {age:.0f} s ago); only one run writes a record at a time"
            )
        imports.set_writer_lease(record_id, run_id, now)
        uow.commit()


def wait_and_claim(
    units: UnitOfWorkFactory,
    record_id: uuid.UUID,
    run_id: str,
    *,
    lease_seconds: float,
    holder_finished: RunFinished = lambda _run_id: False,
    on_wait: Callable[[str], None] = lambda _message: None,
) -> None:
    """Claim the record, waiting while another run holds it, at most one lease period.

    A holder that was killed outright stops renewing, so its lease goes stale within
    `lease_seconds`; a live holder keeps it, and this raises `RecordBusyError`.
    """
    deadline = time.monotonic() + lease_seconds + heartbeat_seconds(lease_seconds)
    while True:
        try:
            claim_record(
                units,
                record_id,
                run_id,
                lease_seconds=lease_seconds,
                holder_finished=holder_finished,
            )
            return
        except RecordBusyError as busy:
            if time.monotonic() >= deadline:
                raise
            on_wait(f"{busy}; waiting")
            time.sleep(WAIT_POLL_SECONDS)


def heartbeat_seconds(lease_seconds: float) -> float:
    """How often a holder renews a lease of `lease_seconds`: well within the period."""
    return min(HEARTBEAT_SECONDS, lease_seconds / 3)


class LeaseKeeper:
    """Renews a run's lease while it writes, when a heartbeat is due."""

    def __init__(
        self,
        units: UnitOfWorkFactory,
        record_id: uuid.UUID,
        run_id: str,
        *,
        lease_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """Keep `run_id`'s lease on the record, which it has claimed already."""
        self.units = units
        self.record_id = record_id
        self.run_id = run_id
        self.interval = heartbeat_seconds(lease_seconds)
        self.clock = clock
        self._last = clock()

    def renew(self) -> None:
        """Renew the lease if a heartbeat is due; raise `RecordBusyError` if it was lost."""
        now = self.clock()
        if now - self._last < self.interval:
            return
        self._last = now
        with self.units() as uow:
            renewed = uow.imports.renew_writer_lease(self.record_id, self.run_id, utc_now())
            uow.commit()
        if not renewed:
            raise RecordBusyError(
                f"import record {self.record_id}: run {self.run_id} lost its writer lease "
                "to another run; it stops writing"
            )


def release_record(units: UnitOfWorkFactory, record_id: uuid.UUID, run_id: str) -> None:
    """Give up `run_id`'s lease on the record (no-op if another run holds it)."""
    with units() as uow:
        uow.imports.release_writer_lease(record_id, run_id)
        uow.commit()
