"""HTTP pieces both inference servers share: error mapping, auth, health, metrics.

Routes stay thin: they read the upload with :func:`read_upload`, hand bytes to the
engine layer and let :func:`install_error_handlers` turn domain errors into status codes
(the table lives in :mod:`inference.errors`). Clients never see a traceback.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import time
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from fastapi import APIRouter, FastAPI, HTTPException, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest
from pydantic import BaseModel, SecretStr
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.body_limit import RequestBodyLimitMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from inference.errors import ERROR_TABLE, InferenceError, MediaTooLarge, http_status_for

log = logging.getLogger(__name__)

T = TypeVar("T")

REQUESTS = Counter("http_requests_total", "HTTP requests", ["service", "route", "status"])
LATENCY = Histogram(
    "http_request_duration_seconds",
    "HTTP request latency",
    ["service", "route"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300),
)
MODEL_READY = Gauge("inference_model_ready", "1 when /readyz answers ready (model loaded)")


class ErrorDetail(BaseModel):
    message: str
    type: str


class ErrorBody(BaseModel):
    """Same shape as the OpenAI API's errors, so its clients read our messages."""

    error: ErrorDetail


# For each route's `responses=`: documents every status the error table can produce.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody, "description": kind.__doc__ or kind.__name__}
    for kind, (status, _) in ERROR_TABLE.items()
}


def error_response(status: int, message: str, kind: str) -> JSONResponse:
    body = ErrorBody(error=ErrorDetail(message=message, type=kind))
    return JSONResponse(status_code=status, content=body.model_dump())


def install_error_handlers(app: FastAPI, service: str) -> None:
    """Domain errors to their status; framework errors (401, 404, form validation) in the
    same body shape; anything else to a bare 500. Adds request metrics."""

    @app.exception_handler(InferenceError)
    async def _domain(_: Request, exc: InferenceError) -> JSONResponse:
        return error_response(http_status_for(exc), exc.message, exc.code)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        kind = {401: "unauthorized", 413: "media_too_large"}.get(exc.status_code, "http_error")
        return error_response(exc.status_code, str(exc.detail), kind)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        fields = ", ".join(".".join(str(p) for p in e.get("loc", ())) for e in exc.errors())
        return error_response(422, f"invalid request fields: {fields}", "invalid_request")

    @app.exception_handler(ClientGone)
    async def _gone(request: Request, _: ClientGone) -> Response:
        log.info("client went away; its work was cancelled", extra={"path": request.url.path})
        return Response(status_code=499)  # nginx's "client closed request"; nobody reads it

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.error("unhandled error", exc_info=exc, extra={"path": request.url.path})
        return error_response(500, "internal error", "internal_error")

    app.add_middleware(_Observe, service=service)


class _Observe:
    """Request count and latency per route and status. A plain ASGI middleware (not
    ``@app.middleware``), so handlers still see their client's disconnect."""

    def __init__(self, app: ASGIApp, service: str) -> None:
        self.app = app
        self.service = service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # an exception escaping the route still counts, as the 500 it becomes

        async def noting_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, noting_status)
        finally:
            path = getattr(scope.get("route"), "path", "unmatched")
            LATENCY.labels(self.service, path).observe(time.perf_counter() - started)
            REQUESTS.labels(self.service, path, str(status)).inc()


# Room for the multipart framing and form fields around the file part itself, whose exact
# size :func:`read_upload` checks.
_FORM_OVERHEAD = 64 * 1024


def limit_body(app: FastAPI, max_bytes: int) -> None:
    """Refuse a request body over ``max_bytes`` (plus form framing) with 413 while it
    streams in, or at once from its ``Content-Length``: before Starlette spools the file
    part to a temporary file, which has no size limit of its own."""
    limit = max_bytes + _FORM_OVERHEAD
    app.add_middleware(RequestBodyLimitMiddleware, max_body_size=limit)
    app.add_middleware(_DeclaredLengthLimit, limit=limit, max_bytes=max_bytes)


class _DeclaredLengthLimit:
    """Answers a too-large ``Content-Length`` in the shared error body, unread (Starlette's
    middleware would answer it in plain text)."""

    def __init__(self, app: ASGIApp, limit: int, max_bytes: int) -> None:
        self.app = app
        self.limit = limit
        self.message = f"the upload is larger than {max_bytes} bytes"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            declared = Headers(scope=scope).get("content-length", "")
            if declared.isdigit() and int(declared) > self.limit:
                response = error_response(413, self.message, MediaTooLarge.code)
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


class ClientGone(Exception):
    """The client closed its connection before the answer was ready."""


async def until_disconnect(
    request: Request, work: Coroutine[Any, Any, T], poll_s: float = 0.5
) -> T:
    """Await ``work``, cancelling it if the client goes away first. Uvicorn does not cancel
    a handler whose client has gone, so without this a timed-out caller's audio windows
    or line crops would still be decoded; cancelled, they leave the batcher's queue unrun.
    """
    task = asyncio.ensure_future(work)
    try:
        while True:
            done, _ = await asyncio.wait({task}, timeout=poll_s)
            if done:
                return task.result()
            if await request.is_disconnected():
                raise ClientGone
    finally:
        task.cancel()  # nothing when it has finished


def bearer_guard(token: SecretStr | None) -> Callable[[Request], None]:
    """A dependency that checks ``Authorization: Bearer <token>`` when a token is set."""

    expected = token.get_secret_value().encode() if token is not None else b""

    def check(request: Request) -> None:
        if token is None:
            return
        header = request.headers.get("authorization", "")
        scheme, _, given = header.partition(" ")
        # Bytes, not str: compare_digest refuses non-ASCII str (a header may carry any).
        given_bytes = given.encode("utf-8", "surrogateescape")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given_bytes, expected):
            raise HTTPException(status_code=401, detail="missing or invalid bearer token")

    return check


def health_router(is_ready: Callable[[], bool]) -> APIRouter:
    """``/healthz`` (process alive), ``/readyz`` (model loaded) and ``/metrics``."""
    router = APIRouter(tags=["health"])
    MODEL_READY.set_function(lambda: float(is_ready()))  # alerts see what /readyz sees

    @router.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @router.get("/readyz", responses={503: {"model": ErrorBody}})
    async def readyz() -> Response:
        if is_ready():
            return JSONResponse({"status": "ready"})
        return error_response(503, "the model is not loaded yet", "model_not_ready")

    @router.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return router


async def read_upload(upload: UploadFile, max_bytes: int) -> bytes:
    """Read an upload but stop as soon as it passes ``max_bytes``."""
    chunks: list[bytes] = []
    size = 0
    while chunk := await upload.read(1024 * 1024):
        size += len(chunk)
        if size > max_bytes:
            raise MediaTooLarge(f"the upload is larger than {max_bytes} bytes")
        chunks.append(chunk)
    return b"".join(chunks)
