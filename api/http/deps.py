"""Dependencies as Annotated aliases, so tests can swap them with app.dependency_overrides.

They are async on purpose: none blocks, and FastAPI runs a plain `def` dependency in a worker
thread, which cost more than the evaluation itself."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from misper.api.http.problems import ApiProblem
from misper.api.incidents.store import Scope, Where
from misper.api.keys import ApiKey, KeyRole, KeyStore, KeyStoreUnreadable
from misper.api.settings import Settings
from misper.api.workers.pools import WorkerPools
from misper.api.workers.tasks import CheckedRules
from misper.engine import PolicyRegistry
from misper.engine.errors import FieldError
from misper.engine.policy.names import unknown

F = TypeVar("F", bound=Callable[..., Any])

_bearer = HTTPBearer(auto_error=False, description="An API key made with `misper keys create`.")
UNAUTHORISED = {"WWW-Authenticate": 'Bearer realm="misper"'}


def _loaded(request: Request, name: str) -> Any:
    """What start-up loads (the policies, and the rules as workers load them): 503 until then."""
    value = getattr(request.app.state, name, None)
    if value is None:
        raise ApiProblem(503, "not_ready", "Not ready", "the policies are not loaded yet")
    return value


async def get_registry(request: Request) -> PolicyRegistry:
    return _loaded(request, "registry")  # type: ignore[no-any-return]


async def get_settings(request: Request) -> Settings:
    return request.app.state.settings  # type: ignore[no-any-return]


async def get_pools(request: Request) -> WorkerPools:
    return request.app.state.pools  # type: ignore[no-any-return]


async def get_rules(request: Request) -> CheckedRules:
    """What a worker process needs to load the rules this server checked at start-up."""
    return _loaded(request, "rules")  # type: ignore[no-any-return]


async def get_keys(request: Request) -> KeyStore:
    return request.app.state.keys  # type: ignore[no-any-return]


async def get_caller(
    request: Request,
    keys: Annotated[KeyStore, Depends(get_keys)],
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> ApiKey:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise ApiProblem(
            401,
            "unauthorised",
            "Unauthorised",
            "send an API key as 'Authorization: Bearer <key>'",
            headers=UNAUTHORISED,
        )
    try:
        key = keys.verify(credentials.credentials)
    except KeyStoreUnreadable as exc:
        raise ApiProblem(503, "key_store_unreadable", "Key store unreadable", str(exc)) from None
    if key is None:
        raise ApiProblem(
            401, "unauthorised", "Unauthorised", "the API key is not valid", headers=UNAUTHORISED
        )
    if key.before_forces:
        raise ApiProblem(
            403,
            "key_without_force",
            "Key without a force",
            f"the key {key.name!r} was made before keys belonged to forces; the service's operator "
            "gives it its force with 'misper db upgrade --force ID'",
        )
    request.state.key_name = key.name
    return key


async def get_where(
    caller: Annotated[ApiKey, Depends(get_caller)], settings: Annotated[Settings, Depends(get_settings)]
) -> Where:
    """The incident database as the caller's force sees it: its own rows, and nothing of another
    force's, whatever a route asks for. A national key has none here."""
    if caller.force is None:
        raise ApiProblem(
            403,
            "forbidden",
            "Forbidden",
            f"a national {caller.role} key may not use this route: the inspectorate's key reads "
            "incidents, their decisions and audit trails, and the worklist, naming ?force=",
        )
    return Where(settings.store_url, Scope(caller.force))


async def get_read_where(
    caller: Annotated[ApiKey, Depends(get_caller)],
    settings: Annotated[Settings, Depends(get_settings)],
    registry: Annotated[PolicyRegistry, Depends(get_registry)],
    force: Annotated[
        str | None,
        Query(
            description="The inspectorate's key only: the force whose incidents it reads (each read "
            "is written to the incident's audit trail). A force's key may name only its own.",
            max_length=40,
        ),
    ] = None,
) -> Where:
    """As ``get_where``, for the routes the inspectorate's national key may read, in the force it
    names; every such read is audited."""
    if caller.force is not None:
        if force not in (None, caller.force):
            raise ApiProblem(
                422,
                "invalid_request",
                "The request is not valid",
                "a force's key reads only its own force's incidents",
                [
                    FieldError(
                        "query.force", f"this key is {caller.force}'s: omit force, or name {caller.force}"
                    )
                ],
            )
        return Where(settings.store_url, Scope(caller.force))
    if force is None or force not in registry.forces:
        why = (
            "name the force whose incidents to read"
            if force is None
            else unknown("force", force, registry.forces)
        )
        raise ApiProblem(
            422,
            "invalid_request",
            "The request is not valid",
            "the inspectorate's key reads one force's incidents at a time",
            [FieldError("query.force", why or "")],
        )
    return Where(settings.store_url, Scope(force), reader=caller.name)


PolicyDep = Annotated[PolicyRegistry, Depends(get_registry)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
CallerDep = Annotated[ApiKey, Depends(get_caller)]
KeysDep = Annotated[KeyStore, Depends(get_keys)]
PoolsDep = Annotated[WorkerPools, Depends(get_pools)]
RulesDep = Annotated[CheckedRules, Depends(get_rules)]
WhereDep = Annotated[Where, Depends(get_where)]
ReadWhereDep = Annotated[Where, Depends(get_read_where)]


@dataclass(frozen=True)
class Allow:
    """The roles that may call a route (admin always may), stated once: ``route`` gives the route
    its dependency that refuses other keys (403), its ``x-roles`` entry in the OpenAPI document
    and the "Roles:" line of its description."""

    roles: tuple[KeyRole, ...]

    def __init__(self, *roles: KeyRole) -> None:
        object.__setattr__(self, "roles", roles)

    @property
    def names(self) -> list[str]:
        return [*(r.value for r in self.roles), KeyRole.ADMIN.value]

    def route(
        self,
        verb: Callable[..., Callable[[F], F]],
        path: str,
        *,
        dependencies: Sequence[Any] = (),
        openapi_extra: dict[str, Any] | None = None,
        **options: Any,
    ) -> Callable[[F], F]:
        """``@READER.route(router.get, "/{id}", operation_id=...)`` in place of ``@router.get``."""

        def decorate(endpoint: F) -> F:
            endpoint.__doc__ = (
                inspect.cleandoc(endpoint.__doc__ or "") + f"\n\nRoles: {', '.join(self.names)}."
            )
            return verb(
                path,
                dependencies=[Depends(allow(*self.roles)), *dependencies],
                openapi_extra={**(openapi_extra or {}), "x-roles": self.names},
                **options,
            )(endpoint)

        return decorate


def allow(*roles: KeyRole) -> Callable[[ApiKey], Awaitable[ApiKey]]:
    """A dependency that lets only these roles through (admin always may)."""
    allowed = {*roles, KeyRole.ADMIN}

    async def check(caller: CallerDep) -> ApiKey:
        if caller.role not in allowed:
            raise ApiProblem(
                403,
                "forbidden",
                "Forbidden",
                f"a {caller.role} key may not use this route; allowed roles: " + ", ".join(sorted(allowed)),
            )
        return caller

    return check
