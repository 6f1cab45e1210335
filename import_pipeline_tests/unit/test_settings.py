"""Settings with bounds on both sides: read from the environment, and refused in one line."""

import pytest

from import_pipeline.settings import SettingsError, load_settings

VARIABLE = "IMPORT_PIPELINE_FAILED_SHARE_WARNING"


def test_the_failed_share_warning_defaults_to_five_percent(monkeypatch):
    monkeypatch.delenv(VARIABLE, raising=False)
    assert load_settings().failed_share_warning == 0.05


@pytest.mark.parametrize(("value", "share"), [("0", 0.0), ("0.2", 0.2), ("1", 1.0)])
def test_the_failed_share_warning_comes_from_the_environment(monkeypatch, value, share):
    monkeypatch.setenv(VARIABLE, value)
    assert load_settings().failed_share_warning == share


@pytest.mark.parametrize("value", ["1.5", "-0.1", "five percent"])
def test_a_bad_failed_share_warning_names_its_variable_and_both_bounds(monkeypatch, value):
    monkeypatch.setenv(VARIABLE, value)
    with pytest.raises(SettingsError) as raised:
        load_settings()
    assert str(raised.value) == (
        f"{VARIABLE}={value!r} is not valid: expected a number >= 0 and <= 1; share of a "
        "record's lines failed or partially failed above which its asset check warns"
    )
