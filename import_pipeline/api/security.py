"""Bearer-token authentication and the request body size limit."""

import hmac
from collections.abc import Sequence
from typing import Annotated

from fastapi import Depends, HTTPException, status
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.types import ASGIApp, Message, Receive, Scope, Send

_bearer = HTTPBearer(auto_error=False, description="A token from IMPORT_PIPELINE_API_TOKENS.")


class BearerAuth:
    """A route dependency accepting any of `tokens` (compared in constant time).

    With no tokens, every request is let through: `import-pipeline serve` allows that
    on a loopback address only.
    """

    def __init__(self, tokens: Sequence[str]) -> None:
        """Accept these tokens."""
        self._tokens = [token.encode() for token in tokens]

    async def __call__(
        self, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
    ) -> None:
        """Raise 401 unless the request carries an accepted bearer token."""
        if not self._tokens:
            return
        presented = credentials.credentials.encode() if credentials else b""
        accepted = False
        for token in self._tokens:  # no early exit: the time taken does not tell which
            accepted |= hmac.compare_digest(presented, token)
        if not accepted:
            raise HTTPException(
                status_code=status.HTTP_401_UNAUTHORIZED,
                detail="a valid bearer token is required (Authorization: Bearer <token>)",
                headers={"WWW-Authenticate": "Bearer"},
            )


class BodySizeLimit:
    """ASGI middleware answering 413 to a request body over `max_bytes`.

    A declared Content-Length over the limit is refused before the body is read; any
    other body is read first (never more than `max_bytes` plus one message) and then
    handed to the app.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        """Wrap `app`."""
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on, or answer 413."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers", [])).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(scope, receive, send)
            return
        chunks: list[bytes] = []
        seen = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return
            chunks.append(message.get("body", b""))
            seen += len(chunks[-1])
            if seen > self.max_bytes:
                await self._refuse(scope, receive, send)
                return
            if not message.get("more_body", False):
                break
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": b"".join(chunks), "more_body": False}

        await self.app(scope, replay, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = JSONResponse(
            {"detail": f"request body is over the limit of {self.max_bytes} bytes"},
            status_code=status.HTTP_413_CONTENT_TOO_LARGE,
        )
        await response(scope, receive, send)
