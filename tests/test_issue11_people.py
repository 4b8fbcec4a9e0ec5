"""Issue 11 (first part): the start page, API docs that work with no internet, CORS when asked
for, and a terminal summary that fits one screen."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from api.settings import cors_origins
from tests.api_support import make_api
from tests.conftest import misper


def test_the_case_study_as_text_fits_one_screen() -> None:
    done = misper("evaluate", "fixtures/timelines/case-study.json", "--format", "text")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) <= 50 and max(map(len, lines)) <= 120
    assert lines[0].startswith("Incident SUF-23-004711  policy suffolk-2023-02 (sha256 ")
    assert lines[1] == "Grade: high  recommended: high  oversight: cid supervisor"
    pattern = r"G2 +The control room's initial risk gra\S* +call handler +11 Jul 20:10 BST +breached$"
    assert any(re.match(pattern, line) for line in lines)
    assert any(line.startswith("F2 breach The prevention interview at 10:30") for line in lines)
    assert "\x1b[" not in done.stdout  # no colour codes when not on a terminal


def test_the_start_page_and_offline_docs(api) -> None:
    start = api.client.get("/")
    assert start.status_code == 200 and start.headers["content-type"].startswith("text/html")
    for link in ("/docs", "/redoc", "/openapi.json", "/problems", "/healthz", "/readyz"):
        assert f'href="{link}"' in start.text
    for page in ("/docs", "/redoc"):
        html = api.client.get(page).text
        assert "https://" not in html and "http://" not in html  # nothing from a CDN
        for asset in re.findall(r'(?:src|href)="(/docs-assets/[^"]+)"', html):
            assert api.client.get(asset).status_code == 200


def test_cors_is_off_by_default_and_names_its_origins(api, tmp_path: Path) -> None:
    preflight = {"Origin": "https://tools.example", "Access-Control-Request-Method": "POST"}
    assert (
        "access-control-allow-origin" not in api.client.options("/v1/evaluations", headers=preflight).headers
    )
    allowed = make_api(tmp_path / "cors", cors_origins=("https://tools.example",))
    with allowed.client:
        answer = allowed.client.options(
            "/v1/evaluations", headers={**preflight, "Access-Control-Request-Headers": "authorization"}
        )
        assert answer.headers["access-control-allow-origin"] == "https://tools.example"
        other = allowed.client.options(
            "/v1/evaluations", headers={**preflight, "Origin": "https://elsewhere.example"}
        )
        assert "access-control-allow-origin" not in other.headers
    assert cors_origins(" https://a.example , http://b.example:8080") == (
        "https://a.example",
        "http://b.example:8080",
    )
    with pytest.raises(ValueError, match="'\\*' is not an origin"):
        cors_origins("*")


def test_docs_list_the_operations_in_a_browser_with_no_network(tmp_path: Path) -> None:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        pytest.skip("no Chromium on this machine (apt-get install chromium)")
    from tests.test_issue9_server import serving

    with serving(tmp_path, None, processes=1) as (server, _):
        flags = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",  # no network but this server
            "--virtual-time-budget=15000",
        ]
        for page, expected in (("/docs", "opblock-summary-path"), ("/redoc", "createEvaluation")):
            dom = subprocess.run(
                [browser, *flags, "--dump-dom", f"http://127.0.0.1:{server.port}{page}"],
                capture_output=True,
                text=True,
                timeout=120,
            ).stdout
            assert expected in dom and "/v1/incidents/{incident_id}/events" in dom, page
