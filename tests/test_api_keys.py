"""API keys: a bearer key is needed and its role decides the routes; the key file is owner-only;
`misper keys` keeps every key under concurrent use; a broken or unusable key store is a 503 or a
named error, never a 500 or a traceback."""

from __future__ import annotations

import subprocess

import pytest

from tests.support.api import PROBLEM, make_api
from tests.support.cli import misper
from tests.support.paths import FIXTURES
from tests.support.timelines import report_timeline

CASE = (FIXTURES / "timelines" / "case-study.json").read_bytes()


def _keys(data, *args: str) -> subprocess.CompletedProcess[str]:
    return misper("keys", *args, env={"MISPER_DATA_DIR": str(data)})


def test_no_key_is_401_problem(api) -> None:
    response = api.client.post("/v1/evaluations", content=CASE)
    assert response.status_code == 401
    assert response.headers["content-type"] == PROBLEM
    assert response.headers["www-authenticate"] == 'Bearer realm="misper"'
    assert response.json() == {
        "type": "/problems/unauthorised",
        "title": "Unauthorised",
        "status": 401,
        "detail": "send an API key as 'Authorization: Bearer <key>'",
    }


def test_wrong_key_and_revoked_key_are_401(api) -> None:
    bad = api.client.post("/v1/evaluations", content=CASE, headers={"Authorization": "Bearer msp_nope"})
    assert bad.status_code == 401 and bad.json()["detail"] == "the API key is not valid"
    api.store.revoke("test-control_room")
    revoked = api.client.post("/v1/evaluations", content=CASE, headers=api.auth("control_room"))
    assert revoked.status_code == 401


def test_wrong_role_is_403(api) -> None:
    response = api.client.post("/v1/simulations", content=CASE, headers=api.auth("control_room"))
    assert response.status_code == 403
    assert response.json() == {
        "type": "/problems/forbidden",
        "title": "Forbidden",
        "status": 403,
        "detail": "a control_room key may not use this route; allowed roles: admin, auditor, trainer",
    }


def test_key_file_is_owner_only(api) -> None:
    assert api.store.path.stat().st_mode & 0o777 == 0o600
    assert api.store.path.parent.stat().st_mode & 0o077 == 0
    assert "msp_" not in api.store.path.read_text()


@pytest.mark.cli
def test_parallel_key_creates_are_all_kept(tmp_path) -> None:
    """Issue 7: parallel key creates are all kept."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(20) as pool:
        runs = list(
            pool.map(
                lambda n: _keys(
                    tmp_path, "create", "--name", f"k{n}", "--role", "auditor", "--force", "suffolk"
                ),
                range(20),
            )
        )
    assert all(r.returncode == 0 and r.stdout.startswith("msp_") for r in runs)
    listed = _keys(tmp_path, "list").stdout.splitlines()
    assert sorted(line.split("\t")[0] for line in listed) == sorted(f"k{n}" for n in range(20))


@pytest.mark.cli
def test_a_revoke_racing_creates_is_kept(tmp_path) -> None:
    """Issue 7: a revoke racing creates is kept."""
    from concurrent.futures import ThreadPoolExecutor

    from misper.api.keys import KeyStore

    secret = _keys(
        tmp_path, "create", "--name", "victim", "--role", "auditor", "--force", "suffolk"
    ).stdout.strip()
    with ThreadPoolExecutor(10) as pool:
        jobs = [
            pool.submit(
                _keys, tmp_path, "create", "--name", f"k{n}", "--role", "trainer", "--force", "suffolk"
            )
            for n in range(9)
        ]
        revoked = pool.submit(_keys, tmp_path, "revoke", "victim")
        assert all(j.result().returncode == 0 for j in jobs) and revoked.result().returncode == 0
    store = KeyStore(tmp_path / "keys.json")
    assert store.verify(secret) is None
    assert len(store.list()) == 9


@pytest.mark.cli
@pytest.mark.parametrize(
    ("content", "problem"),
    [
        pytest.param("{not json", "is not valid JSON", id="corrupt"),
        pytest.param("", "is not valid JSON", id="empty"),
        pytest.param('["a"]', "is not a key store", id="wrong-shape"),
        pytest.param('{"keys": [{"name": "x"}]}', "is not a key store", id="missing-fields"),
    ],
)
def test_a_broken_key_store_is_503_not_500(tmp_path, content, problem) -> None:
    """Issue 7: a broken key store is 503 not 500."""
    api = make_api(tmp_path)
    api.store.path.write_text(content)
    with api.client:
        response = api.client.post("/v1/evaluations", json=report_timeline([]), headers=api.auth())
        ready = api.client.get("/readyz")
    assert response.status_code == 503 and response.headers["content-type"] == PROBLEM
    body = response.json()
    assert body["type"].endswith("/key_store_unreadable") and problem in body["detail"]
    assert ready.status_code == 503
    listed = _keys(tmp_path, "list")
    assert listed.returncode == 2 and problem in listed.stderr and "Traceback" not in listed.stderr
    created = _keys(tmp_path, "create", "--name", "new", "--role", "auditor", "--force", "suffolk")
    assert created.returncode == 2 and problem in created.stderr


def test_an_unreadable_key_store_is_503(tmp_path) -> None:
    """Issue 7: an unreadable key store is 503."""
    import os

    if os.geteuid() == 0:
        pytest.skip("root reads every file; the permission case cannot be made")
    api = make_api(tmp_path)
    api.store.path.chmod(0)
    with api.client:
        response = api.client.post("/v1/evaluations", json=report_timeline([]), headers=api.auth())
    assert response.status_code == 503 and "cannot be read" in response.json()["detail"]


@pytest.mark.cli
@pytest.mark.parametrize("layout", ["data-under-a-file", "lock-is-a-folder"])
def test_key_commands_explain_a_data_folder_they_cannot_use(tmp_path, layout) -> None:
    """Issue 7: key commands explain a data folder they cannot use."""
    if layout == "data-under-a-file":
        (tmp_path / "afile").write_text("x")
        data = tmp_path / "afile" / "data"
    else:
        data = tmp_path / "data"
        (data / "keys.json.lock").mkdir(parents=True)
    for args in (
        ("create", "--name", "k", "--role", "auditor", "--force", "suffolk"),
        ("revoke", "k"),
        ("list",),
    ):
        run = _keys(data, *args)
        assert "Traceback" not in run.stderr, run.stderr
        assert run.returncode in (0, 2) and (run.returncode == 0 or run.stderr.startswith("misper: "))
    assert run.returncode == (2 if layout == "data-under-a-file" else 0)  # list: nothing, or cannot read
