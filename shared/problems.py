"""Errors as application/problem+json (RFC 9457), naming the field and the problem."""

from __future__ import annotations

from typing import Any

import fastapi.routing
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

PROBLEM = "application/problem+json"


class Problem(Exception):
    """Raise from a route or handler to answer with a problem document."""

    def __init__(self, status: int, title: str, detail: str = "", *, field: str | None = None,
                 extra: dict[str, Any] | None = None) -> None:
        super().__init__(detail or title)
        self.status, self.title, self.detail, self.field = status, title, detail, field
        self.extra = extra or {}


def problem_response(status: int, title: str, detail: str = "", **extra: Any) -> JSONResponse:
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail, **extra}
    return JSONResponse(body, status_code=status, media_type=PROBLEM)


def _field_name(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or "body"


def _error(e: dict[str, Any]) -> dict[str, str]:
    """One validation error as {field, problem}. A body that is not JSON names its position, not a
    'field 50' (FastAPI puts the character offset where a field name would be)."""
    loc = tuple(e.get("loc", ()))
    if e.get("type") == "json_invalid":
        where = next((p for p in loc if isinstance(p, int)), None)
        reason = (e.get("ctx") or {}).get("error", "malformed JSON")
        return {"field": "body", "problem": f"malformed JSON at character {where}: {reason}"
                if where is not None else f"malformed JSON: {reason}"}
    return {"field": _field_name(loc), "problem": e.get("msg", "invalid")}


def install_problem_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [_error(e) for e in exc.errors()]
        detail = "; ".join(f"{e['field']}: {e['problem']}" for e in errors)
        return problem_response(422, "Invalid request", detail, errors=errors)

    @app.exception_handler(Problem)
    async def _problem(_: Request, exc: Problem) -> JSONResponse:
        extra = dict(exc.extra)
        if exc.field:
            extra["errors"] = [{"field": exc.field, "problem": exc.detail or exc.title}]
        return problem_response(exc.status, exc.title, exc.detail, **extra)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        resp = problem_response(exc.status_code, str(exc.detail), str(exc.detail))
        for k, v in (exc.headers or {}).items():
            resp.headers[k] = v
        return resp


# ---- OpenAPI: say what the handlers above really answer --------------------------------------

PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem", "type": "object", "required": ["title", "status"],
    "properties": {"type": {"type": "string"}, "title": {"type": "string"}, "status": {"type": "integer"},
                   "detail": {"type": "string"},
                   "errors": {"type": "array", "items": {"type": "object", "properties": {
                       "field": {"type": "string"}, "problem": {"type": "string"}}}}},
}
_REF = {"$ref": "#/components/schemas/Problem"}
_REASONS = {400: "Bad request", 401: "No valid token", 403: "Not allowed for this caller",
            404: "Not found", 409: "Conflicts with the current state", 413: "Request body too large",
            415: "Unsupported media type", 429: "Too many requests", 503: "Temporarily unavailable",
            422: "Invalid request (the field is named)"}


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """`responses=` for a route: each status answered with application/problem+json."""
    return {s: {"description": _REASONS.get(s, "Problem"), "content": {PROBLEM: {"schema": _REF}}}
            for s in statuses}


def _api_routes(app: FastAPI) -> list[Any]:
    # FastAPI >= 0.16x keeps included routers as wrappers; its route contexts name the real routes.
    contexts = getattr(fastapi.routing, "iter_route_contexts", None)
    routes = [c.route for c in contexts(app.routes)] if contexts else list(app.routes)
    return [r for r in routes if hasattr(r, "dependant")]


def document_problems(schema: dict[str, Any], app: FastAPI, auth_dependency: Any) -> dict[str, Any]:
    """Every error this service answers is problem+json: 422 on any input, 401/403 where a token is
    needed, 404 where a path names a resource. Explicit `responses=` on a route add the rest."""
    schema.setdefault("components", {}).setdefault("schemas", {})["Problem"] = PROBLEM_SCHEMA
    for route in _api_routes(app):
        item = schema.get("paths", {}).get(getattr(route, "path_format", ""), {})
        for method in getattr(route, "methods", ()) or ():
            op = item.get(method.lower())
            if op is not None:
                _document(op, route, auth_dependency)
    return schema


def _document(op: dict[str, Any], route: Any, auth_dependency: Any) -> None:
    responses = op.setdefault("responses", {})
    statuses = [422]
    if route.dependant.body_params or "requestBody" in (route.openapi_extra or {}):
        statuses.append(400)  # a body that is not JSON at all never reaches validation
    if _depends_on(route.dependant, auth_dependency):
        statuses += [401, 403]
    if route.dependant.path_params:
        statuses.append(404)
    for status in statuses:
        responses.setdefault(str(status), {"description": _REASONS[status]})
    for status, doc in responses.items():
        # FastAPI's own 422 schema (HTTPValidationError) is not what install_problem_handlers sends.
        if status.startswith(("4", "5")) and ("content" not in doc or status == "422"):
            doc["content"] = {PROBLEM: {"schema": _REF}}


def _depends_on(dependant: Any, target: Any) -> bool:
    return any(d.call is target or _depends_on(d, target) for d in dependant.dependencies)
