"""The pages a person opens: the start page, API docs that work with no internet, CORS when asked
for, and the trainer's page driven in a real browser."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from misper.api.settings import cors_origins
from tests.support.api import make_api
from tests.support.browser import chromium
from tests.support.cli import misper


def test_the_start_page_and_offline_docs(api) -> None:
    """Issue 11: the start page and offline docs."""
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
    """Issue 11: CORS is off by default and names its origins."""
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


@pytest.mark.browser
@pytest.mark.server
def test_docs_list_the_operations_in_a_browser_with_no_network(tmp_path: Path) -> None:
    """Issue 11: docs list the operations in a browser with no network."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        pytest.skip("no Chromium on this machine (apt-get install chromium)")
    from tests.support.server import serving

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


@pytest.mark.browser
@pytest.mark.server
@pytest.mark.cli
def test_the_trainers_page_in_a_real_browser(tmp_path: Path) -> None:
    """Issue 11: Load the case study, step to the first breach and see its bar turn red, then make one
    trainee decision and read what the policy says of it; with no network but the server."""
    import os

    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait

    from tests.support.server import serving

    with serving(tmp_path, None, processes=1) as (server, _), chromium() as page:
        env = {"MISPER_DATA_DIR": str(tmp_path), "HOME": os.environ.get("HOME", str(tmp_path))}
        key = misper(
            "keys", "create", "--name", "trainer", "--role", "trainer", "--force", "suffolk", env=env
        ).stdout.strip()
        page.get(f"http://127.0.0.1:{server.port}/train")
        page.find_element(By.ID, "key").send_keys(key)
        wait = WebDriverWait(page, 30)
        wait.until(lambda p: len(p.find_elements(By.CSS_SELECTOR, "#scenario option")) > 5)
        Select(page.find_element(By.ID, "scenario")).select_by_value("case-study")
        wait.until(lambda p: "SUF-23-004711" in p.find_element(By.ID, "timeline").get_attribute("value"))
        page.find_element(By.ID, "load").click()
        wait.until(lambda p: "step 1 of" in p.find_element(By.ID, "clock").text)
        assert page.find_element(By.ID, "load-error").text == ""
        for _ in range(30):
            if page.find_elements(By.CSS_SELECTOR, ".bar-row[data-status=breached] .bar.breached"):
                break
            page.find_element(By.ID, "next").click()
        red = page.find_elements(By.CSS_SELECTOR, ".bar-row[data-status=breached]")
        assert [r.get_attribute("data-deadline") for r in red] == ["initial_grading", "response_plan_use"]
        assert "20:10" in page.find_element(By.ID, "clock").text
        assert (
            "G2 The contact and control room makes the initial grading"
            in page.find_element(By.ID, "findings").text
        )
        page.find_element(By.ID, "trainee").click()
        assert "What happens next is hidden." in page.find_element(By.ID, "events").text
        Select(page.find_element(By.ID, "d-type")).select_by_value("risk_graded")
        Select(page.find_element(By.ID, "d-by")).select_by_visible_text("call_handler")
        Select(page.find_element(By.ID, "d-grade")).select_by_visible_text("high")
        page.find_element(By.ID, "d-submit").click()
        wait.until(lambda p: "What really happened next" in p.find_element(By.ID, "verdict").text)
        verdict = page.find_element(By.ID, "verdict").text
        assert "G2 The control room's initial risk grading: met late" in verdict
        page.save_screenshot(str(tmp_path / "train.png"))


@pytest.mark.browser
@pytest.mark.server
@pytest.mark.cli
def test_the_control_rooms_board_in_a_real_browser(tmp_path: Path) -> None:
    """Issue 21: the board lists the open incidents most urgent first, each next duty counting down
    with its owner; an appended event moves an incident; an alert appears within 2 seconds of its
    instant, live from the stream; acknowledging it clears it."""
    import json
    import os
    import time
    from datetime import UTC, datetime, timedelta

    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    from tests.support.server import serving

    def at(moment: datetime) -> str:
        return moment.astimezone(UTC).isoformat(timespec="seconds")

    with serving(tmp_path, None, processes=1, dispatcher=True) as (server, _), chromium(1500, 1000) as page:
        env = {"MISPER_DATA_DIR": str(tmp_path), "HOME": os.environ.get("HOME", str(tmp_path))}
        key = misper(
            "keys", "create", "--name", "duty", "--role", "control_room", "--force", "suffolk", env=env
        ).stdout.strip()

        def send(method: str, path: str, body: object) -> None:
            status, answer = server.request(method, path, json.dumps(body).encode())
            assert status in (200, 201), answer

        now = datetime.now(UTC).replace(microsecond=0)
        due = now + timedelta(seconds=12)  # B-1's initial grading falls due in 12 seconds
        reports = (("B-2", now - timedelta(minutes=25)), ("B-1", due - timedelta(minutes=30)))
        for incident, reported in reports:
            send(
                "PUT", f"/v1/incidents/{incident}", {"child": {"child_id": f"C-{incident}", "age_years": 13}}
            )
            report = {"id": "r", "type": "report_received", "at": at(reported), "by": "call_handler"}
            send("POST", f"/v1/incidents/{incident}/events", {"events": [report]})

        page.get(f"http://127.0.0.1:{server.port}/board")
        page.find_element(By.ID, "key").send_keys(key + "\n")
        wait = WebDriverWait(page, 20, poll_frequency=0.05)

        def rows() -> list[list[str]]:
            """Each row's incident, next duty and owner, read at once (the board redraws them)."""
            return page.execute_script(  # type: ignore[no-any-return]
                "return [...document.querySelectorAll('#incidents tr[data-incident]')].map("
                "r => [r.dataset.incident, r.children[2].textContent, r.children[3].textContent])"
            )

        def text(selector: str) -> str:
            return page.execute_script(  # type: ignore[no-any-return]
                "const e = document.querySelector(arguments[0]); return e ? e.textContent : null", selector
            )

        wait.until(lambda p: len(rows()) == 2)
        assert rows() == [
            ["B-1", "initial grading", "call handler"],
            ["B-2", "initial grading", "call handler"],
        ]
        wait.until(lambda p: text("#live") == "live")  # the stream is open
        # Due soon already (29 of its 30 minutes gone): alerted at once.
        wait.until(
            lambda p: p.find_elements(By.CSS_SELECTOR, ".alert[data-kind=due_soon][data-incident=B-1]")
        )
        assert text("#incidents tr[data-incident=B-1] td[data-due]").startswith("in ")

        wait.until(lambda p: p.find_elements(By.CSS_SELECTOR, ".alert[data-kind=due][data-incident=B-1]"))
        seen = time.time()
        assert seen - due.timestamp() < 2, (
            f"the due alert appeared {seen - due.timestamp():.2f} s after its instant"
        )
        wait.until(lambda p: text("#incidents tr[data-incident=B-1] td[data-due]").startswith("overdue"))
        card = text(".alert[data-kind=due][data-incident=B-1]")
        assert "has not been recorded" in card and "call handler" in card
        # Its due-soon alert is old news now: the board shows the due one only.
        assert not page.find_elements(By.CSS_SELECTOR, ".alert[data-kind=due_soon][data-incident=B-1]")
        assert page.find_elements(By.CSS_SELECTOR, ".alert[data-kind=due_soon][data-incident=B-2]")
        page.save_screenshot(str(tmp_path / "board.png"))

        # The call handler grades B-1: its next duty (the checks, 10 minutes after the grading) moves
        # it below B-2, whose initial grading falls due in about 5 minutes.
        graded = {
            "id": "g",
            "type": "risk_graded",
            "at": at(datetime.now(UTC)),
            "by": "call_handler",
            "grade": "high",
        }
        send("POST", "/v1/incidents/B-1/events", {"events": [graded]})
        wait.until(lambda p: rows()[0][0] == "B-2")
        assert rows()[1][0] == "B-1" and rows()[1][1] != "initial grading"

        page.find_element(By.CSS_SELECTOR, ".alert[data-kind=due][data-incident=B-1] button").click()
        wait.until(lambda p: not p.find_elements(By.CSS_SELECTOR, ".alert[data-kind=due][data-incident=B-1]"))
        status, answer = server.request("GET", "/v1/alerts?status=acknowledged")
        assert [a["acknowledged_by"] for a in json.loads(answer)["alerts"]] == ["duty"]
