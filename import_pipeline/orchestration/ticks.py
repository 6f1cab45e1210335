"""What every sensor and schedule tick shares: a deployment's fault is a skip, not a raise.

A tick that raises shows only a stack trace in the UI, and it raises again at every
tick; a `SkipReason` names the problem (a bad `IMPORT_PIPELINE_*` setting, a database
that cannot be used) where the operator looks: Automation -> the sensor or schedule.
"""

import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

import sqlalchemy.exc
from dagster import SkipReason

from import_pipeline.settings import SettingsError
from import_pipeline.store.errors import driver_message

_Params = ParamSpec("_Params")
_Result = TypeVar("_Result")


def skip_on_bad_settings(
    evaluate: Callable[_Params, _Result],
) -> Callable[_Params, _Result | SkipReason]:
    """`evaluate`, answering a bad `IMPORT_PIPELINE_*` setting with a `SkipReason`.

    The reason is the setting's one-line message (variable, value, expected form), the
    same line the CLI prints. Put it under `@sensor` / `@schedule`: the signature is
    kept, so Dagster still sees the context and resource parameters.
    """

    @functools.wraps(evaluate)
    def guarded(*args: _Params.args, **kwargs: _Params.kwargs) -> _Result | SkipReason:
        try:
            return evaluate(*args, **kwargs)
        except SettingsError as error:
            return SkipReason(str(error))

    return guarded


def database_unusable(error: sqlalchemy.exc.DBAPIError) -> SkipReason:
    """The skip of a tick whose database cannot be used, with the driver's first line."""
    return SkipReason(
        f"the import database cannot be used ({driver_message(error)}); "
        "has `import-pipeline db upgrade` been run?"
    )
