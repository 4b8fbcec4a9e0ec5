"""RFC 9457 problem details: every error the API returns has this one shape."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from misper.api.alerts.service import UnknownAlert, UnknownSubscription
from misper.api.http import problem_types
from misper.api.incidents.service import IncidentConflict, IncidentFull, UnknownIncident
from misper.api.incidents.store import StoreNotReady
from misper.api.metrics import PROCESS, STORE_ERRORS
from misper.api.settings import SettingsInvalid
from misper.engine import (
    EngineError,
    FieldError,
    InvalidRequest,
    InvalidTimeline,
    NoPolicyInForce,
    PolicyInvalid,
    UnknownPolicy,
)
from misper.engine.errors import PARAMETERS, RuleEngineFailed, relabelled

# Over HTTP, what is asked beside a body is a query parameter: query.as_of, query.policy ...
QUERY_LABELS = tuple((name, f"query.{name}") for name in PARAMETERS)
MEDIA_TYPE = "application/problem+json"
TYPE_BASE = problem_types.TYPE_BASE  # each type is a page served at /problems/<slug>


class FieldProblem(BaseModel):
    field: str
    message: str


class Problem(BaseModel):
    type: str
    title: str
    status: int
    detail: str
    errors: list[FieldProblem] | None = None


class ApiProblem(Exception):
    """Raised by the API's own code; turned into a problem response in one place."""

    def __init__(
        self,
        status: int,
        slug: str,
        title: str,
        detail: str,
        errors: list[FieldError] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status, self.slug, self.title, self.detail = status, slug, title, detail
        self.errors, self.headers = errors, headers


def problem_response(problem: ApiProblem) -> JSONResponse:
    body: dict[str, Any] = {
        "type": TYPE_BASE + problem.slug,
        "title": problem.title,
        "status": problem.status,
        "detail": problem.detail,
    }
    if problem.errors is not None:
        body["errors"] = [e.as_dict() for e in problem.errors]
    return JSONResponse(body, status_code=problem.status, media_type=MEDIA_TYPE, headers=problem.headers)


# Answered by the access-log middleware for an error nothing else handled (there should be none).
INTERNAL = ApiProblem(500, "internal_error", "Internal error", "the request could not be completed")

ENGINE_STATUS: dict[type[EngineError], tuple[int, str]] = {
    InvalidTimeline: (422, "The timeline is not valid"),
    InvalidRequest: (422, "The request is not valid"),
    UnknownPolicy: (422, "Unknown policy"),
    NoPolicyInForce: (422, "No policy in force"),
    # The rule engine failed on this input: the server is up and answers others, so not a 500.
    RuleEngineFailed: (503, "The evaluation could not be made"),
    PolicyInvalid: (503, "The evaluation could not be made"),
    UnknownIncident: (404, "Not found"),
    UnknownAlert: (404, "Not found"),
    UnknownSubscription: (404, "Not found"),
    IncidentConflict: (409, "Conflict"),
    IncidentFull: (409, "Incident full"),
    StoreNotReady: (503, "Store not ready"),
    SettingsInvalid: (503, "Settings not valid"),
}

HTTP_TITLES = {404: "Not found", 405: "Method not allowed", 413: "Request body too large"}


def install(app: FastAPI) -> None:
    """Map every error to problem+json: engine errors, request validation, HTTP errors, the rest."""

    @app.exception_handler(ApiProblem)
    async def api_problem(_: Request, exc: ApiProblem) -> JSONResponse:
        return problem_response(exc)

    @app.exception_handler(EngineError)
    async def engine_error(_: Request, exc: EngineError) -> JSONResponse:
        status, title = ENGINE_STATUS.get(type(exc), (500, "The evaluation failed"))
        if isinstance(exc, StoreNotReady | IncidentConflict | IncidentFull | UnknownIncident):
            STORE_ERRORS.labels(exc.code, PROCESS).inc()
        errors = relabelled(exc.errors, dict(QUERY_LABELS)) or None
        if isinstance(exc, UnknownPolicy | NoPolicyInForce) and not errors:
            errors = [FieldError("policy", exc.message)]
        return problem_response(ApiProblem(status, exc.code, title, exc.message, errors))

    @app.exception_handler(RequestValidationError)
    async def request_invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            FieldError(".".join(str(p) for p in e["loc"]), e["msg"].removeprefix("Value error, "))
            for e in exc.errors()
        ]
        return problem_response(
            ApiProblem(
                422, "invalid_request", "The request is not valid", "see errors for each bad field", errors
            )
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        title = HTTP_TITLES.get(exc.status_code, "Request failed")
        detail = exc.detail if isinstance(exc.detail, str) else title
        slug = title.lower().replace(" ", "_")
        headers = exc.headers
        if exc.status_code == 405:
            headers = {**(headers or {}), "Allow": _allowed(request)}
        return problem_response(ApiProblem(exc.status_code, slug, title, detail, headers=headers))


def _allowed(request: Request) -> str:
    """Every method some route of the app takes at this path: Starlette's own Allow names only
    the first route that matched the path, while one path may have a route per method (the
    incidents' GET and PUT)."""
    methods = []
    for method in ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"):
        scope = {**request.scope, "method": method}
        if any(route.matches(scope)[0] is Match.FULL for route in request.app.router.routes):
            methods.append(method)
    return ", ".join(methods)
