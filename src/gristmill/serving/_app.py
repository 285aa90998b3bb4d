"""The REST service: a FastAPI app serving one registered model, logging every prediction."""

# No ``from __future__ import annotations`` here: FastAPI reads the endpoint annotations, which
# name classes imported lazily inside create_app.

import contextlib
import gc
import html
import logging
import secrets
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pydantic

from gristmill._extras import require
from gristmill.exceptions import ServingError
from gristmill.serving._batcher import PredictionBatcher
from gristmill.serving._holder import ModelHolder
from gristmill.serving._log import RequestLog
from gristmill.serving._validate import FieldError, check_feedback, record_schema

__all__ = ["create_app", "default_log_path"]

logger = logging.getLogger("gristmill.serving")

_FEATURE = "gristmill serve"


def default_log_path(model_name: str, task: str | None = None) -> Path:
    """Where the request log of ``model_name`` (of its ``task``) lives unless told otherwise."""
    stem = model_name if task is None else f"{model_name}.{task}"
    return Path(".gristmill") / "serving" / f"{stem}.sqlite"


class _BodyTooLarge(Exception):
    pass


class _Unauthorized(Exception):
    pass


class _NotJson(Exception):
    """The request declares a body other than JSON (``Content-Type``)."""


class _UnknownRequestId(Exception):
    pass


def _is_json(content_type: str) -> bool:
    """Whether a ``Content-Type`` value names JSON: ``application/json`` or ``application/*+json``.

    Parameters (``; charset=utf-8``) and case do not matter.
    """
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (media.startswith("application/")
                                           and media.endswith("+json"))


def _bearer_token(authorization: str | None) -> str:
    """The token of an ``Authorization: Bearer <token>`` header value ("" when there is none)."""
    scheme, _, credentials = (authorization or "").partition(" ")
    return credentials.strip() if scheme.lower() == "bearer" else ""


class ModelInfo(pydantic.BaseModel):
    name: str
    version: str
    alias: str | None


class PredictResponse(pydantic.BaseModel):
    request_id: str
    model: ModelInfo
    predictions: list[str]
    probabilities: list[dict[str, float]]


class FeedbackResponse(pydantic.BaseModel):
    request_id: str
    accepted: int


class HealthResponse(pydantic.BaseModel):
    status: str
    model_version: str


class MetadataResponse(pydantic.BaseModel):
    model: ModelInfo
    run_id: str | None
    task: str | None
    classes: list[str]
    payload_columns: list[str]
    column_types: dict[str, str]
    follows_alias: bool
    poll_interval: float
    last_alias_check: float
    last_alias_error: str | None


class ErrorResponse(pydantic.BaseModel):
    detail: Any


def create_app(
    model: str | ModelHolder,
    *,
    tracking_uri: str | None = None,
    log_path: str | Path | None = None,
    token: str | None = None,
    max_body_bytes: int = 8 * 1024 * 1024,
    max_records: int = 10_000,
    poll_interval: float = 5.0,
    max_batch_rows: int = 1024,
    task: str | None = None,
) -> Any:
    """Build the FastAPI app that serves a registered model.

    Endpoints: ``POST /predict`` (``{"records": [...]}`` in; predictions, class probabilities,
    model version and request id out), ``POST /feedback`` (``{"request_id", "labels"}``: a class
    name per record stores or replaces its label, null forgets it), ``GET /health`` and
    ``GET /metadata``. ``GET /openapi.json`` is the OpenAPI document and ``GET /docs`` a page
    listing the endpoints and record fields, self-contained (no scripts or styles fetched from
    elsewhere: it works offline). Errors are JSON without stack traces: 401 (bearer token
    missing or wrong, when ``token`` is set), 404 (unknown request id), 413 (body larger than
    ``max_body_bytes``), 415 (a ``Content-Type`` other than JSON: a browser page posts form or
    plain-text bodies to any address without asking first; a body without one is read as JSON),
    422 (a field is missing, unknown or of the wrong type; ``detail`` names it), 500.

    Prediction requests that arrive while the model is busy are answered together in one model
    call (:class:`~gristmill.serving.PredictionBatcher`), and the request log is written
    by a background thread, so the event loop only parses and answers HTTP.

    Parameters
    ----------
    model : str or ModelHolder
        ``NAME@ALIAS`` (the service follows the alias), ``NAME/VERSION``, or a holder.
    tracking_uri : str, optional
        MLflow tracking and registry URI.
    log_path : path-like, optional
        SQLite request log; defaults to ``.gristmill/serving/<NAME>.sqlite``.
    token : str, optional
        When given, every endpoint but ``/health`` needs ``Authorization: Bearer <token>``.
    max_body_bytes : int, default 8 MiB
        Larger request bodies are refused with 413.
    max_records : int, default 10000
        Most records per prediction request.
    poll_interval : float, default 5.0
        Seconds between checks of the alias; 0 turns the watcher off. Ignored when ``model`` is
        a holder.
    max_batch_rows : int, default 1024
        Most rows of concurrent requests merged into one model call.
    task : str, optional
        The task to serve of a model that predicts several; the service then answers as a
        one-task model of that task's classes (a service per task).

    Returns
    -------
    fastapi.FastAPI

    Raises
    ------
    ServingError
        When the model cannot be resolved or loaded, a limit or ``poll_interval`` is out of
        range, or ``token`` is empty or has surrounding spaces.
    MissingExtraError
        When the ``serve`` extra is not installed.
    """
    fastapi = require("fastapi", extra="serve", feature=_FEATURE)
    responses = require("fastapi.responses", extra="serve", feature=_FEATURE)
    security = require("fastapi.security", extra="serve", feature=_FEATURE)
    concurrency = require("starlette.concurrency", extra="serve", feature=_FEATURE)
    orjson = require("orjson", extra="serve", feature=_FEATURE)
    if max_body_bytes <= 0 or max_records <= 0:
        raise ServingError(
            f"max_body_bytes and max_records must be positive; got {max_body_bytes} and "
            f"{max_records}"
        )
    if token is not None and (not token or token != token.strip()):
        # An empty token would let every request through; one with surrounding spaces, none
        # (the header's token is read without them).
        raise ServingError("the token must be a non-empty string without surrounding spaces; "
                           "leave it out to serve without one")
    holder = model if isinstance(model, ModelHolder) else ModelHolder(
        model, tracking_uri=tracking_uri, poll_interval=poll_interval, task=task
    )
    first = holder.current
    log = RequestLog(log_path if log_path is not None else default_log_path(first.name,
                                                                            first.task))
    batcher = PredictionBatcher(holder, log, max_records=max_records,
                                max_batch_rows=max_batch_rows)
    JSONResponse = responses.JSONResponse
    bearer = security.HTTPBearer(auto_error=False)
    Request = fastapi.Request

    @contextlib.asynccontextmanager
    async def lifespan(_: Any) -> AsyncIterator[None]:
        holder.start()
        # The loaded model, MLflow and the libraries are several hundred thousand objects that
        # live as long as the service; a full garbage collection walking them all stalls every
        # request in flight for a large part of a second. Freezing them exempts them from
        # collection while the service runs.
        gc.collect()
        gc.freeze()
        try:
            yield
        finally:
            gc.unfreeze()
            holder.stop()
            batcher.close()
            log.close()

    # FastAPI's own /docs and /redoc pages load their scripts from a CDN: blank offline.
    app = fastapi.FastAPI(
        title=f"gristmill: {first.name}" + (f" ({first.task})" if first.task else ""),
        version=first.version,
        lifespan=lifespan,
        description="Predictions from a gristmill model registered in MLflow.",
        docs_url=None,
        redoc_url=None,
    )
    app.state.holder = holder
    app.state.request_log = log
    app.state.batcher = batcher

    def check_token(given: str) -> None:
        if token is not None and not secrets.compare_digest(given.encode(), token.encode()):
            raise _Unauthorized()

    def token_of(credentials: Any) -> str:
        return credentials.credentials if credentials is not None else ""

    def check_header_token(request: Any) -> None:
        check_token(_bearer_token(request.headers.get("authorization")))

    async def read_json(request: Any) -> Any:
        content_type = request.headers.get("content-type")
        if content_type is not None and not _is_json(content_type):
            raise _NotJson(content_type)
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > max_body_bytes:
            raise _BodyTooLarge()
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > max_body_bytes:
                raise _BodyTooLarge()
            chunks.append(chunk)
        try:
            return orjson.loads(b"".join(chunks))
        except orjson.JSONDecodeError as exc:  # its text says what is wrong, and where
            msg = f"the body is not valid UTF-8 JSON: {exc}"
            # Python's json.dumps writes NaN and Infinity unless told not to.
            if str(exc.doc)[exc.pos:].startswith(("NaN", "Infinity")):
                msg += "; NaN and Infinity are no JSON numbers: send null for a missing value"
            raise FieldError([{"loc": ["body"], "msg": msg, "type": "json_invalid"}]) from None

    @app.exception_handler(_Unauthorized)
    async def unauthorized(_: Any, __: Exception) -> Any:
        return JSONResponse({"detail": "missing or invalid bearer token"}, status_code=401,
                            headers={"WWW-Authenticate": "Bearer"})

    @app.exception_handler(_UnknownRequestId)
    async def unknown_request(_: Any, exc: Exception) -> Any:
        return JSONResponse({"detail": str(exc)}, status_code=404)

    @app.exception_handler(_BodyTooLarge)
    async def too_large(_: Any, __: Exception) -> Any:
        return JSONResponse({"detail": f"request body larger than {max_body_bytes} bytes"},
                            status_code=413)

    @app.exception_handler(_NotJson)
    async def not_json(_: Any, exc: Exception) -> Any:
        return JSONResponse({"detail": "the body must be JSON sent as Content-Type: "
                                       f"application/json; got {str(exc)[:200]!r}"},
                            status_code=415)

    @app.exception_handler(FieldError)
    async def bad_field(_: Any, exc: Exception) -> Any:
        assert isinstance(exc, FieldError)
        return JSONResponse({"detail": exc.errors}, status_code=422)

    @app.exception_handler(Exception)
    async def internal(_: Any, exc: Exception) -> Any:
        # Log the traceback on the server; the client gets no internals.
        logger.error("internal error", exc_info=exc)
        return JSONResponse({"detail": "internal server error"}, status_code=500)

    error = {"model": ErrorResponse}
    auth_errors = {401: {**error, "description": "Missing or invalid bearer token"}}
    body_errors = {
        413: {**error, "description": "Request body too large"},
        415: {**error, "description": "Content-Type is not application/json"},
        422: {**error, "description": "A field is missing, unknown or of the wrong type"},
    }
    records_schema: dict[str, Any] = {"type": "array", "minItems": 1, "maxItems": max_records}
    labels_schema: dict[str, Any] = {"type": "array", "minItems": 1}
    predict_body = {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {
                "type": "object",
                "properties": {"records": records_schema},
                "required": ["records"],
                "additionalProperties": False,
            }}},
        }
    }
    feedback_body = {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {
                "type": "object",
                "properties": {
                    "request_id": {"type": "string", "minLength": 1},
                    "labels": labels_schema,
                },
                "required": ["request_id", "labels"],
                "additionalProperties": False,
            }}},
        }
    }

    default_openapi = app.openapi
    described: Any = None  # the served version the document was last built for

    def openapi() -> dict[str, Any]:
        """The OpenAPI document of the version served now: the alias may have moved to one with
        other payload columns or classes since the document was last built."""
        nonlocal described
        served = holder.current
        if described is not served:
            records_schema["items"] = record_schema(served.payload_columns, served.column_types,
                                                    served.optional_columns)
            labels_schema["items"] = {"anyOf": [{"type": "string", "enum": served.classes},
                                                {"type": "null"}]}
            app.version = served.version
            app.openapi_schema = None
            described = served
        schema: dict[str, Any] = default_openapi()
        return schema

    app.openapi = openapi

    def model_info(served: Any) -> dict[str, Any]:
        return {"name": served.name, "version": served.version, "alias": served.alias}

    @app.get("/health", response_model=HealthResponse)
    async def health() -> dict[str, Any]:
        """Liveness: the service is up and has a model loaded (no token needed)."""
        return {"status": "ok", "model_version": holder.current.version}

    @app.get("/metadata", response_model=MetadataResponse, responses=auth_errors)
    async def metadata(credentials: Any = fastapi.Depends(bearer)) -> dict[str, Any]:  # noqa: B008
        """The served model: name, version, alias, task, classes and payload columns."""
        check_token(token_of(credentials))
        served = holder.current
        return {
            "model": model_info(served), "run_id": served.run_id, "task": served.task,
            "classes": served.classes,
            "payload_columns": served.payload_columns, "column_types": served.column_types,
            "follows_alias": holder.follows_alias, "poll_interval": holder.poll_interval,
            "last_alias_check": holder.last_check, "last_alias_error": holder.last_error,
        }

    # The hot path reads the Authorization header itself rather than through a dependency
    # (FastAPI's dependency resolution is a sizeable share of a one-row request); the OpenAPI
    # document still declares the bearer scheme, which /metadata and /feedback define.
    @app.post("/predict", response_model=PredictResponse,
              responses={**auth_errors, **body_errors},
              openapi_extra={**predict_body, "security": [{"HTTPBearer": []}]})
    async def predict(request: Request) -> Any:  # type: ignore[valid-type]
        """Predict the class of each record; the request and response are logged."""
        started = time.perf_counter()
        check_header_token(request)
        payload = await read_json(request)
        request_id = uuid.uuid4().hex
        result = await batcher.predict(payload, request_id, started)
        return responses.Response(orjson.dumps(result), media_type="application/json",
                                  headers={"X-Request-ID": request_id})

    def feedback_sync(payload: Any) -> dict[str, Any]:
        request_id = payload.get("request_id") if isinstance(payload, dict) else None
        if not isinstance(request_id, str) or not request_id:
            raise FieldError([{"loc": ["body", "request_id"], "msg": "field required: a string",
                               "type": "missing"}])
        extra = sorted(set(payload) - {"request_id", "labels"})
        if extra:
            raise FieldError([{"loc": ["body", extra[0]], "msg": "unknown field",
                               "type": "extra_forbidden"}])
        n_records = log.n_records(request_id)
        if n_records is None:
            raise _UnknownRequestId(f"unknown request_id {request_id!r}")
        labels = check_feedback(payload, holder.current.classes, n_records)
        return {"request_id": request_id, "accepted": log.set_feedback(request_id, labels)}

    @app.post("/feedback", response_model=FeedbackResponse,
              responses={**auth_errors, **body_errors,
                         404: {**error, "description": "Unknown request id"}},
              openapi_extra=feedback_body)
    async def feedback(
        request: Request,  # type: ignore[valid-type]
        credentials: Any = fastapi.Depends(bearer),  # noqa: B008
    ) -> Any:
        """Gold labels for each record of an earlier request.

        A class name stores the record's label, replacing an earlier one; null says the label is
        unknown, forgetting an earlier one. The answer's accepted counts the labels stored.
        """
        check_token(token_of(credentials))
        payload = await read_json(request)
        return await concurrency.run_in_threadpool(feedback_sync, payload)

    @app.get("/docs", include_in_schema=False)
    async def docs() -> Any:
        """The endpoints and record fields as a page that needs nothing from elsewhere."""
        return responses.HTMLResponse(_docs_page(app.openapi(), token is not None))

    return app


def _schema_text(schema: dict[str, Any]) -> str:
    """A JSON schema in a few words: ``string (date-time) or null``."""
    if "anyOf" in schema:
        return " or ".join(_schema_text(part) for part in schema["anyOf"])
    text = str(schema.get("type", "any"))
    if "format" in schema:
        text += f" ({schema['format']})"
    if "enum" in schema:
        text += ": " + ", ".join(map(str, schema["enum"]))
    if "items" in schema:
        text += " of " + _schema_text(schema["items"])
    return text


def _schema_note(schema: dict[str, Any]) -> str:
    """The description of a JSON schema, or of the first of its ``anyOf`` parts that has one."""
    parts = schema.get("anyOf", [schema])
    return next((str(part["description"]) for part in parts if "description" in part), "")


def _docs_page(openapi: dict[str, Any], needs_token: bool) -> str:
    """``/docs``: the endpoints and the fields of a prediction record, as plain HTML."""
    esc = html.escape
    info = openapi.get("info", {})
    endpoints = []
    for path, operations in openapi.get("paths", {}).items():
        for method, operation in operations.items():
            token = "bearer token" if needs_token and operation.get("security") else ""
            summary = " ".join((operation.get("description") or "").split())
            endpoints.append(f"<tr><td><code>{esc(method.upper())} {esc(path)}</code></td>"
                             f"<td>{esc(summary)}</td><td>{token}</td></tr>")
    body = openapi["paths"]["/predict"]["post"]["requestBody"]["content"]["application/json"]
    record = body["schema"]["properties"]["records"]["items"]
    fields = [
        f"<tr><td><code>{esc(name)}</code></td><td>{esc(_schema_text(schema))}</td>"
        f"<td>{esc(_schema_note(schema))}</td></tr>"
        for name, schema in record["properties"].items()
    ]
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{esc(info.get("title", ""))}</title>
<style>body{{font-family:sans-serif;max-width:60em;margin:2em auto}}
td,th{{border-bottom:1px solid #ddd;padding:.3em .8em;text-align:left;vertical-align:top}}
table{{border-collapse:collapse}}</style></head><body>
<h1>{esc(info.get("title", ""))} <small>version {esc(str(info.get("version", "")))}</small></h1>
<p>{esc(info.get("description", ""))} The machine-readable description is
<a href="openapi.json">/openapi.json</a> (OpenAPI {esc(str(openapi.get("openapi", "")))}).</p>
<h2>Endpoints</h2>
<table><tr><th>endpoint</th><th>what it does</th><th>needs</th></tr>
{"".join(endpoints)}</table>
<h2>Fields of a record</h2>
<p><code>POST /predict</code> takes <code>{{"records": [record, ...]}}</code>; every record has
each of these fields and no others.</p>
<table><tr><th>field</th><th>type</th><th>note</th></tr>
{"".join(fields)}</table>
</body></html>
"""
