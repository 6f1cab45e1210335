"""The project's one settings object, read from the environment once when asked for.

- `IMPORT_PIPELINE_DATA_DIR`: local data directory of the embedded default (`./data`);
- `IMPORT_PIPELINE_DATABASE_URL`: SQLAlchemy URL of the import and reference tables
  (default: a SQLite file in the data directory);
- `IMPORT_PIPELINE_BATCH_SIZE`: source lines per batch when a source is split (50000);
- `IMPORT_PIPELINE_CHUNK_SIZE`: lines per database transaction inside a batch (2000);
- `IMPORT_PIPELINE_WRITERS`: chunks of a batch written at once (the CPU count);
- `IMPORT_PIPELINE_BATCH_WORKERS`: worker processes sharing a large batch (CPU count);
- `IMPORT_PIPELINE_CONCURRENCY`: batches processed at once in step processes (1);
- `IMPORT_PIPELINE_EXECUTOR`: where a run's steps execute, `in_process` (default; step
  processes when the concurrency is above 1), `multiprocess`, `celery` (workers) or
  `k8s` (a Kubernetes Job per step);
- `IMPORT_PIPELINE_CELERY_BROKER`, `IMPORT_PIPELINE_CELERY_BACKEND`,
  `IMPORT_PIPELINE_CELERY_QUEUE`: the celery executor's and `import-pipeline worker`'s
  broker (local RabbitMQ), result backend (`rpc://`) and queue (`import_pipeline`);
- `IMPORT_PIPELINE_CELERY_LOST_STEP_SECONDS`: how long a celery step may be neither
  queued nor running on a worker before its run fails, naming it (120 s);
- `IMPORT_PIPELINE_RETRIES`, `IMPORT_PIPELINE_RETRY_DELAY_SECONDS`: retries of a batch after
  a transient fault (8) and the first retry's delay, doubled each time up to 60 s (1 s);
- `IMPORT_PIPELINE_WRITER_LEASE_SECONDS`: how long a record stays claimed by a run that
  stopped renewing its lease (killed outright) before another run may write it (30);
- `IMPORT_PIPELINE_FAILED_SHARE_WARNING`: the share of a record's lines failed or partially
  failed above which its `failed_share_below_threshold` asset check warns (0.05);
- `IMPORT_PIPELINE_LANDING_DIR`, `IMPORT_PIPELINE_LANDING_SETTLE_SECONDS`: the new-source
  sensor's directory (`<data dir>/landing`) and how long a file must be unchanged (5 s);
- `IMPORT_PIPELINE_SCHEDULED_SOURCE`, `IMPORT_PIPELINE_SCHEDULED_SOURCE_NAME`: the
  scheduled import's dated source and source name (it skips while no source is set);
- `IMPORT_PIPELINE_HTTP_MAX_BYTES`: the largest HTTP(S) source accepted (10 GiB);
- `IMPORT_PIPELINE_HTTP_DEADLINE_SECONDS`: the most time an HTTP(S) source's fetch may
  spend waiting for the server, over all its resumes (21600 = 6 h; the import's own
  writing time does not count);
- `IMPORT_PIPELINE_HTTP_MIN_BYTES_PER_SECOND`, `IMPORT_PIPELINE_HTTP_RATE_WINDOW_SECONDS`:
  the slowest an HTTP(S) server may send, averaged over each window of that much time
  spent waiting for it (16384 bytes/s over 60 s; 0 bytes/s: no minimum);
- `IMPORT_PIPELINE_API_TOKENS`: comma-separated bearer tokens of the HTTP API (none: the
  API may only be served on a loopback address, without authentication);
- `IMPORT_PIPELINE_STORAGE_ALLOWLIST`: comma-separated `host` or `host:port` entries the
  API accepts storage URLs from (empty: any public https host);
- `IMPORT_PIPELINE_API_MAX_BODY_BYTES`: the largest HTTP API request body (64 KiB).

A variable set to the empty string counts as unset. A value that does not parse or is
out of range raises `SettingsError`, whose message is one line naming the variable, the
value and the expected form.
"""

import os
import typing
from enum import StrEnum
from functools import lru_cache
from pathlib import Path

from annotated_types import Ge, Gt, Le
from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from import_pipeline.domain.errors import DomainError
from import_pipeline.http_fetch import (
    DEFAULT_HTTP_DEADLINE_SECONDS,
    DEFAULT_HTTP_MIN_BYTES_PER_SECOND,
    DEFAULT_HTTP_RATE_WINDOW_SECONDS,
    HttpLimits,
)

ENV_PREFIX = "IMPORT_PIPELINE_"


class SettingsError(DomainError):
    """An `IMPORT_PIPELINE_*` variable whose value does not parse or is out of range."""


class ExecutorKind(StrEnum):
    """Where the steps of an import run execute."""

    IN_PROCESS = "in_process"
    """In the run's own process (step processes when the concurrency is above 1)."""
    MULTIPROCESS = "multiprocess"
    """In step processes on the run's machine, up to the concurrency at once."""
    CELERY = "celery"
    """On celery workers serving the deployment's queue, on any machine."""
    K8S = "k8s"
    """Each step in a Kubernetes Job of its own (dagster-k8s's `k8s_job_executor`)."""


class Settings(BaseSettings):
    """Configuration of import-pipeline, from `IMPORT_PIPELINE_*` environment variables."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", env_ignore_empty=True)

    data_dir: Path = Field(default=Path("data"), description="Local data directory.")
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL; None means the embedded SQLite file."
    )
    batch_size: int = Field(default=50_000, ge=1, description="Source lines per batch.")
    chunk_size: int = Field(default=2_000, ge=1, description="Lines per transaction.")
    writers: int = Field(
        default_factory=lambda: os.cpu_count() or 1,
        ge=1,
        description="Chunks of a batch written at once (threads, one connection each).",
    )
    deduplicate: bool = Field(
        default=False,
        description="Decide probable duplicates in each import's run, after its batches "
        "(off: `import-pipeline dedupe RECORD_ID` decides a record when asked)",
    )
    writer_lease_seconds: float = Field(
        default=30.0,
        gt=0,
        description="Seconds a record stays claimed by a run that stopped renewing its lease",
    )
    failed_share_warning: float = Field(
        default=0.05,
        ge=0,
        le=1,
        description="Share of a record's lines failed or partially failed above which its "
        "asset check warns",
    )
    landing_dir: Path | None = Field(
        default=None, description="Directory the new-source sensor watches (default: data/landing)."
    )
    landing_settle_seconds: float = Field(
        default=5.0, ge=0, description="A landed file must be unchanged this long to be imported."
    )
    scheduled_source: str | None = Field(
        default=None,
        description="Source of the scheduled import, a path or URL with strftime fields "
        "filled from the tick's date, e.g. /exports/refs-%Y-%m-%d.jsonl.gz.",
    )
    scheduled_source_name: str = Field(
        default="scheduled", description="source_name of scheduled import records."
    )
    http_max_bytes: int = Field(
        default=10 * 1024**3, ge=1, description="Largest HTTP(S) source body accepted (bytes)."
    )
    http_deadline_seconds: float = Field(
        default=DEFAULT_HTTP_DEADLINE_SECONDS,
        gt=0,
        description="Most seconds an HTTP(S) fetch may spend waiting for the server.",
    )
    http_min_bytes_per_second: float = Field(
        default=DEFAULT_HTTP_MIN_BYTES_PER_SECOND,
        ge=0,
        description="Slowest transfer rate accepted from an HTTP(S) server (bytes/s; 0: any).",
    )
    http_rate_window_seconds: float = Field(
        default=DEFAULT_HTTP_RATE_WINDOW_SECONDS,
        gt=0,
        description="Seconds of waiting for an HTTP(S) server over which its rate is averaged.",
    )
    batch_workers: int = Field(
        default_factory=lambda: os.cpu_count() or 1,
        ge=1,
        description="Worker processes sharing one large batch (10,000+ lines each).",
    )
    concurrency: int = Field(
        default=1,
        ge=1,
        description="Batches processed at once, each in a step process (1: in-process).",
    )
    executor: ExecutorKind = Field(
        default=ExecutorKind.IN_PROCESS,
        description="Where a run's steps execute: in_process, multiprocess, celery or k8s.",
    )
    celery_broker: str = Field(
        default="amqp://guest:guest@127.0.0.1:5672//",
        repr=False,
        description="Broker URL of the celery executor and workers.",
    )
    celery_backend: str = Field(
        default="rpc://",
        repr=False,
        description="Result backend URL of the celery executor and workers.",
    )
    celery_queue: str = Field(
        default="import_pipeline",
        pattern=r"^[A-Za-z0-9_.-]+$",
        description="Celery queue of this deployment's steps (letters, digits, _ . -).",
    )
    celery_lost_step_seconds: float = Field(
        default=120.0,
        gt=0,
        description="Seconds a celery step may be neither queued nor running on a worker "
        "before its run fails",
    )
    retries: int = Field(
        default=8,
        ge=0,
        description="Retries of a batch after a transient fault (deadlock, lost connection, "
        "dead worker)",
    )
    retry_delay_seconds: float = Field(
        default=1.0,
        ge=0,
        description="The first retry's delay in seconds, doubled for each next one (at most 60)",
    )

    api_tokens: str = Field(
        default="",
        repr=False,
        description="Comma-separated bearer tokens accepted by the HTTP API.",
    )
    storage_allowlist: str = Field(
        default="",
        description="Comma-separated `host` or `host:port` entries storage URLs may name.",
    )
    api_max_body_bytes: int = Field(
        default=64 * 1024, ge=1, description="Largest HTTP API request body (bytes)."
    )

    @property
    def http_limits(self) -> HttpLimits:
        """The deadline and minimum rate of an HTTP(S) source's fetch."""
        return HttpLimits(
            deadline_seconds=self.http_deadline_seconds,
            min_bytes_per_second=self.http_min_bytes_per_second,
            rate_window_seconds=self.http_rate_window_seconds,
        )

    @property
    def api_token_list(self) -> list[str]:
        """The API's bearer tokens, blanks dropped."""
        return [token.strip() for token in self.api_tokens.split(",") if token.strip()]

    @property
    def storage_allowlist_entries(self) -> list[str]:
        """The storage allow-list's entries, blanks dropped."""
        return [entry.strip() for entry in self.storage_allowlist.split(",") if entry.strip()]

    @property
    def resolved_landing_dir(self) -> Path:
        """The landing directory: configured, or `<data dir>/landing`."""
        return (self.landing_dir or self.data_dir / "landing").resolve()

    @property
    def resolved_database_url(self) -> str:
        """The configured URL, or the embedded SQLite file under the data directory."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'import_pipeline.sqlite').resolve()}"


_FORMS = {int: "an integer", float: "a number", str: "text", Path: "a path"}


def _expected_form(field_name: str) -> str:
    """How a setting's value must look, e.g. "an integer >= 1 (lines per transaction)"."""
    field = Settings.model_fields[field_name]
    kinds = (field.annotation, *typing.get_args(field.annotation))  # `int | None` too
    form = next((_FORMS[kind] for kind in kinds if kind in _FORMS), "a value")
    if isinstance(field.annotation, type) and issubclass(field.annotation, StrEnum):
        form = "one of " + ", ".join(member.value for member in field.annotation)
    bounds = []
    for constraint in field.metadata:
        if isinstance(constraint, Ge):
            bounds.append(f">= {constraint.ge}")
        if isinstance(constraint, Gt):
            bounds.append(f"> {constraint.gt}")
        if isinstance(constraint, Le):
            bounds.append(f"<= {constraint.le}")
    if bounds:
        form += " " + " and ".join(bounds)
    description = (field.description or "").rstrip(".")
    return f"{form}; {description[:1].lower()}{description[1:]}" if description else form


def describe_settings_error(error: ValidationError) -> str:
    """One line for the first bad variable: its name, its value and the expected form."""
    first = error.errors()[0]
    field_name = str(first["loc"][0]) if first["loc"] else ""
    if field_name not in Settings.model_fields:
        return f"invalid settings: {first['msg']}"
    variable = ENV_PREFIX + field_name.upper()
    value = os.environ.get(variable, first.get("input"))
    return f"{variable}={value!r} is not valid: expected {_expected_form(field_name)}"


def load_settings() -> Settings:
    """Read the settings from the environment; raise `SettingsError` for a bad value."""
    try:
        return Settings()
    except ValidationError as error:
        raise SettingsError(describe_settings_error(error)) from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read on first use (never at import time).

    Raises `SettingsError` (and caches nothing) when a variable's value is bad.
    """
    return load_settings()
