"""The HTTP API's application: routes, authentication, error bodies, body size limit.

`create_app` builds an app from what it is given (no environment read, nothing
connected); `app_from_settings` builds it from `IMPORT_PIPELINE_*` settings for
`import-pipeline serve`. Every error answers `{"detail": ...}`, never a stack trace.
The project's errors get the status `import_pipeline.error_map` gives them (404 unknown
record or batch, 403 storage URL refused, 409 closed record or unfinished batches, 422
a refused input, in FastAPI's validation shape naming the field, never its value; 503
the database unusable); besides, 413 a body over the limit, 401 no valid bearer token.
Anything the map does not know is a bug: 500 with a safe body, the details in the log.
"""

import logging
from collections.abc import Sequence
from typing import cast

import sqlalchemy as sa
import sqlalchemy.exc
from fastapi import Depends, FastAPI, Request, status
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from import_pipeline.api import v1
from import_pipeline.api.routes import router
from import_pipeline.api.schemas import ErrorBody
from import_pipeline.api.security import BearerAuth, BodySizeLimit
from import_pipeline.domain.errors import ImportPipelineError
from import_pipeline.error_map import outcome_of
from import_pipeline.services.storage_policy import StoragePolicy
from import_pipeline.settings import Settings
from import_pipeline.store.engine import create_db_engine
from import_pipeline.store.unit_of_work import sql_units

logger = logging.getLogger(__name__)


def _project_error(request: Request, error: Exception) -> JSONResponse:
    outcome = outcome_of(error)
    if outcome is None or outcome.http_status == status.HTTP_500_INTERNAL_SERVER_ERROR:
        return _unexpected_error(request, error)
    code = outcome.http_status
    if code == status.HTTP_503_SERVICE_UNAVAILABLE:
        return _database_error(request, error)
    if code == status.HTTP_422_UNPROCESSABLE_CONTENT:  # FastAPI's validation shape
        return JSONResponse(
            {"detail": [{"loc": [], "msg": str(error), "type": "value_error"}]},
            status_code=status.HTTP_422_UNPROCESSABLE_CONTENT,
        )
    return JSONResponse({"detail": str(error)}, status_code=code)


def _validation_error(request: Request, error: Exception) -> JSONResponse:
    """FastAPI's 422 shape without the refused values (`input`): one may hold a password."""
    problems = [
        {key: value for key, value in problem.items() if key != "input"}
        for problem in cast(RequestValidationError, error).errors()  # registered for it alone
    ]
    return JSONResponse(
        {"detail": jsonable_encoder(problems)},
        status_code=status.HTTP_422_UNPROCESSABLE_CONTENT,
    )


def _database_error(request: Request, error: Exception) -> JSONResponse:
    logger.error("database error on %s %s: %s", request.method, request.url.path, error)
    return JSONResponse(
        {
            "detail": "the import database cannot be used; is it running, and has "
            "`import-pipeline db upgrade` been run?"
        },
        status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
    )


def _unexpected_error(request: Request, error: Exception) -> JSONResponse:
    logger.exception("unexpected error on %s %s", request.method, request.url.path)
    return JSONResponse(
        {"detail": "internal error; the server log has the details"},
        status_code=status.HTTP_500_INTERNAL_SERVER_ERROR,
    )


def create_app(
    engine: sa.Engine,
    *,
    tokens: Sequence[str],
    storage_policy: StoragePolicy,
    max_body_bytes: int,
) -> FastAPI:
    """The API on `engine`: bearer `tokens` (none: no authentication), storage policy, limit.

    It serves our `/imports` routes and the DESTINY repository's `/v1` ones (`api.v1`).
    `/openapi.json`, `/docs` and `/health` need no token: they show no data.
    """
    app = FastAPI(
        title="import-pipeline",
        summary="Register DESTINY reference imports and batches; read their results.",
        version="1",
        openapi_tags=[
            {"name": "imports", "description": "import-pipeline's own routes."},
            v1.OPENAPI_TAG,
        ],
    )
    app.state.engine = engine
    app.state.units = sql_units(engine)
    app.state.storage_policy = storage_policy
    for api_router in (router, v1.router):  # the same authentication and error answers
        app.include_router(
            api_router,
            dependencies=[Depends(BearerAuth(tokens))],
            responses={
                401: {"model": ErrorBody, "description": "No valid bearer token."},
                413: {"model": ErrorBody, "description": "The request body is over the limit."},
                503: {"model": ErrorBody, "description": "The import database cannot be used."},
            },
        )
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(ImportPipelineError, _project_error)
    app.add_exception_handler(sqlalchemy.exc.OperationalError, _database_error)
    app.add_exception_handler(sqlalchemy.exc.ProgrammingError, _database_error)
    app.add_exception_handler(Exception, _unexpected_error)
    app.add_middleware(BodySizeLimit, max_bytes=max_body_bytes)

    @app.get("/health", tags=["health"], summary="Liveness")
    def health() -> dict[str, str]:
        """`{"status": "ok"}` while the server runs."""
        return {"status": "ok"}

    return app


def app_from_settings(settings: Settings) -> FastAPI:
    """The API configured by `IMPORT_PIPELINE_*` settings."""
    return create_app(
        create_db_engine(settings.resolved_database_url),
        tokens=settings.api_token_list,
        storage_policy=StoragePolicy.from_entries(settings.storage_allowlist_entries),
        max_body_bytes=settings.api_max_body_bytes,
    )
