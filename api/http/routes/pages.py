"""Pages for people, served by misper itself with nothing fetched from elsewhere: the start page,
the control room's board and the trainer's page (plain HTML and script, no build step; each calls
the API with a key kept only in the tab's session) and the API documentation (Swagger UI and
ReDoc, from the assets the fastapi-offline package ships), which work on a network with no
internet. No key is needed: they are documentation."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import fastapi_offline
from fastapi import APIRouter, FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from misper.api.http.problems import ApiProblem

ASSETS = Path(fastapi_offline.__file__).resolve().parent / "static"
ASSET_URL = "/docs-assets"

router = APIRouter(include_in_schema=False)

START = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>misper</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:46rem;margin:3rem auto;padding:0 1rem;color:#1b1f24}
a{color:#1d5fbf}li{margin:.4rem 0}.note{color:#5b6570}</style></head><body>
<h1>misper</h1>
<p>Risk grading and supervision deadlines for children reported missing, under the force's policy
(contract v1). Every route but the health checks and these pages needs an API key.</p>
<ul>
<li><a href="/board">The control room's board</a>: open incidents most urgent first, each next duty
counting down, and alerts arriving live, to acknowledge (a control-room key)</li>
<li><a href="/train">The trainer's page</a>: play an incident on a simulated clock (a trainer key)</li>
<li><a href="/docs">API documentation</a> (Swagger UI: try the operations with a key)</li>
<li><a href="/redoc">API reference</a> (ReDoc)</li>
<li><a href="/openapi.json">The OpenAPI document</a></li>
<li><a href="/problems">Problem types</a>: what each error answer means</li>
<li><a href="/healthz">Health</a> and <a href="/readyz">readiness</a></li>
</ul>
<p class="note">Nothing on these pages is fetched from the internet.</p>
</body></html>"""


@router.get("/", response_class=HTMLResponse)
async def start() -> HTMLResponse:
    return HTMLResponse(START)


@router.get("/docs", response_class=HTMLResponse)
async def swagger() -> HTMLResponse:
    return get_swagger_ui_html(
        openapi_url="/openapi.json",
        title="misper API",
        swagger_js_url=f"{ASSET_URL}/swagger-ui-bundle.js",
        swagger_css_url=f"{ASSET_URL}/swagger-ui.css",
        swagger_favicon_url=f"{ASSET_URL}/favicon.png",
    )


@router.get("/redoc", response_class=HTMLResponse)
async def redoc() -> HTMLResponse:
    return get_redoc_html(
        openapi_url="/openapi.json",
        title="misper API",
        redoc_js_url=f"{ASSET_URL}/redoc.standalone.js",
        redoc_favicon_url=f"{ASSET_URL}/favicon.png",
        with_google_fonts=False,
    )


TRAIN = Path(__file__).resolve().parents[1] / "static" / "train.html"
# The shipped fixtures, where misper runs from its source folder; a trainer may paste any timeline.
SCENARIOS = Path(__file__).resolve().parents[3] / "fixtures" / "timelines"


@router.get("/train", response_class=HTMLResponse)
async def train() -> HTMLResponse:
    return HTMLResponse(TRAIN.read_text(encoding="utf-8"))


BOARD = Path(__file__).resolve().parents[1] / "static" / "board.html"


@router.get("/board", response_class=HTMLResponse)
async def board() -> HTMLResponse:
    return HTMLResponse(BOARD.read_text(encoding="utf-8"))


@router.get("/train/scenarios")
async def scenarios() -> list[str]:
    return sorted(p.stem for p in SCENARIOS.glob("*.json")) if SCENARIOS.is_dir() else []


@router.get("/train/scenarios/{name}")
async def scenario(name: str) -> Any:
    path = SCENARIOS / f"{name}.json"
    if not re.fullmatch(r"[a-z0-9-]{1,100}", name) or not path.is_file():
        raise ApiProblem(404, "not_found", "Not found", f"no shipped scenario {name!r}")
    return json.loads(path.read_text(encoding="utf-8"))


def install(app: FastAPI) -> None:
    app.mount(ASSET_URL, StaticFiles(directory=ASSETS), name="docs-assets")
    app.include_router(router)
