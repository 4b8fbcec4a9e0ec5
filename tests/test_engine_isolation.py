"""The engine knows no web: importing and using it loads no web framework and no api module."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.support.paths import ROOT

pytestmark = pytest.mark.cli

PROBE = """
import json, sys
import misper.engine as engine
from misper.engine.policy.selftest import run_policy_tests
policy = engine.default_registry().get("suffolk-2023-02")
timeline = engine.parse_timeline(open("fixtures/timelines/case-study.json", "rb").read())
engine.evaluate(timeline, policy)
web = {"fastapi", "starlette", "uvicorn", "httpx"}
web = sorted(m for m in sys.modules if m.split(".")[0] in web or m.startswith("misper.api"))
print(json.dumps(web))
"""


def test_engine_imports_no_web_module() -> None:
    run = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "[]"
