"""The HTTP door: `uvicorn api.main:app`, or `misper serve`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from misper.api import access_log, openapi, problems
from misper.api.keys import KeyStore
from misper.api.requests import checked
from misper.api.routes import (
    evaluations,
    health,
    incidents,
    pages,
    policies,
    problem_pages,
    replays,
    simulations,
)
from misper.api.settings import Settings
from misper.api.store import upgrade
from misper.api.work import Work, shared_work
from misper.engine import PolicyRegistry
from misper.engine.jobs import warm
from misper.engine.policy.registry import registry_for
from misper.engine.policy.selftest import check_all_policy_tests


def load_registry(settings: Settings) -> PolicyRegistry:
    """Every policy folder, checked, with its embedded tests run; a missing or broken folder,
    overlapping versions or a failing test raise PolicyInvalid and start-up stops."""
    registry = registry_for(settings.rules_dir)
    check_all_policy_tests(registry.policies)
    return registry


def prepare_store(settings: Settings) -> None:
    """Make the data folder and bring the incident database to the latest migration."""
    if settings.database is None:
        settings.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    upgrade(settings.database_url)


def create_app(settings: Settings | None = None, registry: PolicyRegistry | None = None) -> FastAPI:
    settings = settings or Settings.from_env()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.registry = registry or load_registry(settings)
        prepare_store(settings)
        work: Work = app.state.work
        work.small.warm = work.large.warm = (warm, checked(app.state.registry, settings))
        yield

    app = FastAPI(
        title="misper",
        version="1",
        description="Risk grading and supervision deadlines for children reported missing (contract v1). "
        "Every route but /healthz and /readyz needs an API key as a bearer token.",
        lifespan=lifespan,
        docs_url=None,  # served from the installed package's assets instead (api/routes/pages.py)
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.keys = KeyStore(settings.keys_file)
    app.state.work = shared_work(
        (settings.small_processes, settings.small_queue), (settings.large_processes, settings.large_queue)
    )
    app.state.registry = None
    access_log.configure()
    app.add_middleware(access_log.AccessLog)
    problems.install(app)
    for router in (
        evaluations.router,
        simulations.router,
        incidents.router,
        replays.router,
        policies.router,
        problem_pages.router,
        health.router,
    ):
        app.include_router(router)
    pages.install(app)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(settings.cors_origins),
            allow_methods=["GET", "POST", "PUT"],
            allow_headers=["Authorization", "Content-Type", "X-Request-Id"],
            expose_headers=["X-Request-Id", "Retry-After"],
        )
    openapi.install(app)
    return app


app = create_app()
