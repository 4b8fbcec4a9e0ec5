"""Dependencies as Annotated aliases, so tests can swap them with app.dependency_overrides.

They are async on purpose: none blocks, and FastAPI runs a plain `def` dependency in a worker
thread, which cost more than the evaluation itself."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from misper.api.keys import ApiKey, KeyRole, KeyStore, KeyStoreUnreadable
from misper.api.problems import ApiProblem
from misper.api.settings import Settings
from misper.api.work import Work
from misper.engine import PolicyRegistry

_bearer = HTTPBearer(auto_error=False, description="An API key made with `misper keys create`.")
UNAUTHORISED = {"WWW-Authenticate": 'Bearer realm="misper"'}


async def get_registry(request: Request) -> PolicyRegistry:
    registry = getattr(request.app.state, "registry", None)
    if registry is None:
        raise ApiProblem(503, "not_ready", "Not ready", "the policies are not loaded yet")
    return registry  # type: ignore[no-any-return]


async def get_settings(request: Request) -> Settings:
    return request.app.state.settings  # type: ignore[no-any-return]


async def get_work(request: Request) -> Work:
    return request.app.state.work  # type: ignore[no-any-return]


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
    request.state.key_name = key.name
    return key


PolicyDep = Annotated[PolicyRegistry, Depends(get_registry)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
CallerDep = Annotated[ApiKey, Depends(get_caller)]
KeysDep = Annotated[KeyStore, Depends(get_keys)]
WorkDep = Annotated[Work, Depends(get_work)]


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
