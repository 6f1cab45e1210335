"""Run the alembic migrations that create and upgrade the schema (`import-pipeline db upgrade`)."""

from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config

MIGRATIONS_DIR = Path(__file__).parent / "alembic"


def alembic_config(engine: sa.Engine) -> Config:
    """An alembic configuration that migrates the database of `engine`."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["engine"] = engine
    return config


def upgrade_schema(engine: sa.Engine, revision: str = "head") -> None:
    """Create or upgrade the import and reference tables to `revision`."""
    command.upgrade(alembic_config(engine), revision)
