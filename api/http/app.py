"""The HTTP way in: the app factory (`create_app`), served by `misper serve`."""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from misper.api.alerts import service as alert_service
from misper.api.alerts.dispatcher import Dispatcher
from misper.api.alerts.stream import AlertWatch
from misper.api.alerts.work import in_pools
from misper.api.http import access_log, openapi, problems
from misper.api.http.routes import (
    alerts,
    evaluations,
    health,
    incidents,
    metrics,
    pages,
    policies,
    problem_pages,
    replays,
    simulations,
)
from misper.api.incidents.store import EVERY_FORCE, IncidentStore, Where
from misper.api.keys import KeyStore
from misper.api.settings import Settings
from misper.api.startup import load_registry, prepare_store
from misper.api.workers.pools import WorkerPools, shared_pools
from misper.api.workers.tasks import CheckedRules, warm, watch_parent
from misper.engine import PolicyRegistry


def create_app(settings: Settings | None = None, registry: PolicyRegistry | None = None) -> FastAPI:
    settings = settings or Settings.from_env()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if multiprocessing.parent_process() is not None:
            # A worker process of `misper serve --workers N`: it exits when its master is gone
            # (killed, the master cannot stop it), instead of serving the port on its own.
            watch_parent(os.getppid())
        app.state.registry = registry or load_registry(settings)
        app.state.rules = CheckedRules.of(app.state.registry, settings.rules_dir)
        prepare_store(settings, app.state.registry)
        pools: WorkerPools = app.state.pools
        pools.small.warm = pools.large.warm = (warm, (app.state.rules,))
        # The dispatcher judges every force's incidents, each in a transaction of its own force.
        store = IncidentStore(settings.store_url, EVERY_FORCE)
        app.state.alert_watch = AlertWatch(lambda: asyncio.to_thread(alert_service.last_seq, store))
        running = None
        if settings.dispatcher:
            where = Where(settings.store_url, EVERY_FORCE)
            work = in_pools(pools, app.state.rules, where, settings.webhook_retry_seconds)
            app.state.dispatcher = Dispatcher(
                work, idle=settings.dispatcher_idle_seconds, raised=app.state.alert_watch.poke
            )
            running = asyncio.create_task(app.state.dispatcher.run())
        try:
            yield
        finally:
            if running is not None:
                running.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await running
            await app.state.alert_watch.stop()

    app = FastAPI(
        title="misper",
        version="1",
        description="Risk grading and supervision deadlines for children reported missing (contract v1). "
        "Every route but /healthz and /readyz needs an API key as a bearer token.",
        lifespan=lifespan,
        docs_url=None,  # served from the installed package's assets instead (api/http/routes/pages.py)
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.keys = KeyStore(settings.keys_file)
    app.state.pools = shared_pools(
        (settings.small_processes, settings.small_queue),
        (settings.large_processes, settings.large_queue),
        settings.replay_concurrency,
    )
    app.state.registry = None
    app.state.rules = None
    app.state.dispatcher = None
    app.state.alert_watch = None
    access_log.configure()
    app.add_middleware(access_log.AccessLog)
    problems.install(app)
    for router in (
        evaluations.router,
        simulations.router,
        incidents.router,
        alerts.router,
        replays.router,
        policies.router,
        problem_pages.router,
        health.router,
        metrics.router,
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
