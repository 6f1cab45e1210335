"""Error answers in the shapes the OpenAPI document declares.

A 422 always has FastAPI's validation shape, `{"detail": [{"loc", "msg", "type"}]}`,
whether pydantic or a route found the problem; every other error is
`{"detail": "<one sentence>"}`.
"""

from collections.abc import Sequence

from fastapi.exceptions import RequestValidationError


def invalid_parameter(location: Sequence[str], message: str) -> RequestValidationError:
    """A 422 naming the parameter at `location` (e.g. `("query", "cursor")`)."""
    return RequestValidationError([{"loc": tuple(location), "msg": message, "type": "value_error"}])
