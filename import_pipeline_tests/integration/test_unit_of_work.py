"""The unit-of-work contract, held by the SQL implementation (both stores) and the fake."""

import pytest

from import_pipeline.domain.models import ImportRecord
from import_pipeline.store.unit_of_work import InactiveUnitOfWorkError, sql_units
from import_pipeline_tests.fakes import MemoryDatabase


@pytest.fixture(params=["sql", "memory"])
def units(request, engine):
    """Units of work on the test's database (SQLite or PostgreSQL), or on the fake."""
    return sql_units(engine) if request.param == "sql" else MemoryDatabase().units()


def new_record():
    return ImportRecord(source_name="tests", processor_name="tests", processor_version="1")


def stored(units, record):
    with units() as uow:
        return uow.imports.get_record(record.id)


def test_only_what_is_committed_is_kept(units):
    kept, dropped, after_error = new_record(), new_record(), new_record()
    with units() as uow:
        uow.imports.add_record(dropped)  # never committed
    with pytest.raises(ZeroDivisionError), units() as uow:
        uow.imports.add_record(kept)
        uow.commit()
        uow.imports.add_record(after_error)
        _ = 1 / 0
    assert stored(units, dropped) is None
    assert stored(units, kept) == kept
    assert stored(units, after_error) is None


def test_the_store_is_reached_only_while_the_unit_is_active(units):
    unit = units()
    with pytest.raises((InactiveUnitOfWorkError, RuntimeError), match="not active"):
        _ = unit.imports
    with unit:
        assert unit.imports.get_record(new_record().id) is None
    with pytest.raises((InactiveUnitOfWorkError, RuntimeError), match="not active"):
        unit.commit()
