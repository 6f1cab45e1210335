"""The project's one settings object, read from the environment once when asked for.

- `IMPORT_PIPELINE_DATA_DIR`: local data directory of the embedded default (`./data`);
- `IMPORT_PIPELINE_DATABASE_URL`: SQLAlchemy URL of the import and reference tables
  (default: a SQLite file in the data directory);
- `IMPORT_PIPELINE_BATCH_SIZE`: source lines per batch when a source is split (50000);
- `IMPORT_PIPELINE_CHUNK_SIZE`: lines per database transaction inside a batch (2000);
- `IMPORT_PIPELINE_CONCURRENCY`: batches processed at once (the CPU count).
"""

import os
from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Configuration of import-pipeline, from `IMPORT_PIPELINE_*` environment variables."""

    model_config = SettingsConfigDict(env_prefix="IMPORT_PIPELINE_", extra="ignore")

    data_dir: Path = Field(default=Path("data"), description="Local data directory.")
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL; None means the embedded SQLite file."
    )
    batch_size: int = Field(default=50_000, ge=1, description="Source lines per batch.")
    chunk_size: int = Field(default=2_000, ge=1, description="Lines per transaction.")
    concurrency: int = Field(
        default_factory=lambda: os.cpu_count() or 1,
        ge=1,
        description="Batches processed at once (each in its own step process).",
    )

    @property
    def resolved_database_url(self) -> str:
        """The configured URL, or the embedded SQLite file under the data directory."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'import_pipeline.sqlite').resolve()}"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read on first use (never at import time)."""
    return Settings()
