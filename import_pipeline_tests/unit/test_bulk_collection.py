"""The collector's pace: bulk work's inside the block, the caller's again after it."""

import gc

import pytest

from import_pipeline.services.bulk_collection import BULK_THRESHOLDS, bulk_collection


@pytest.fixture
def own_pace():
    before = gc.get_threshold()
    gc.set_threshold(321, 4, 5)
    yield (321, 4, 5)
    gc.set_threshold(*before)


def test_the_pace_is_bulk_works_inside_and_the_callers_after(own_pace):
    with bulk_collection():
        assert gc.get_threshold() == BULK_THRESHOLDS
        assert gc.isenabled()  # slower, never off: cycles are still collected
    assert gc.get_threshold() == own_pace


def test_the_callers_pace_comes_back_after_an_error(own_pace):
    with pytest.raises(RuntimeError), bulk_collection():
        raise RuntimeError("a failed batch")
    assert gc.get_threshold() == own_pace


def test_as_a_decorator_each_call_runs_at_the_bulk_pace(own_pace):
    @bulk_collection()
    def pace_inside():
        return gc.get_threshold()

    assert [pace_inside(), pace_inside()] == [BULK_THRESHOLDS, BULK_THRESHOLDS]
    assert gc.get_threshold() == own_pace
