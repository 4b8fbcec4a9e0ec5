"""How tests/data/pre-forces was made: misper as it was before forces (commit 0a23db8, migration
0003), run on a fresh data folder. It holds three incidents (two of one child), three decisions,
alerts with one acknowledged, a receiver with its deliveries, and four keys whose secrets are in
secrets.json (test keys of this folder only). Run with that commit's code first on the path:

    git worktree add /tmp/old 0a23db8 && mkdir /tmp/oldpkg && ln -s /tmp/old /tmp/oldpkg/misper
    PYTHONPATH=/tmp/oldpkg python tests/data/pre-forces/make.py /tmp/pre
"""

import json
import sys
from datetime import datetime
from pathlib import Path

from misper.api.alerts import service
from misper.api.alerts.models import SubscriptionAsk
from misper.api.incidents import service as inc
from misper.api.incidents.store import IncidentStore
from misper.api.keys import KeyStore
from misper.api.settings import Settings
from misper.api.startup import prepare_store
from misper.engine import default_registry

D = Path(sys.argv[1])
D.mkdir(exist_ok=True, mode=0o700)
settings = Settings(data_dir=D, rules_dir=Path("/tmp/old/rules"), dispatcher=False)
prepare_store(settings)
reg = default_registry()
keys = KeyStore(settings.keys_file)
secrets = {
    n: keys.create(n, r)
    for n, r in (("desk", "control_room"), ("auditor1", "auditor"), ("ops", "admin"), ("prom", "metrics"))
}
case = json.loads(
    Path(__file__).resolve().parents[3] / "fixtures" / "timelines" / "case-study.json".read_text()
)
store = IncidentStore(settings.store_url)
now = "2026-12-01T10:00:00+00:00"


def put(iid, child, policy=None):
    inc.put_incident(
        store, reg, iid, json.dumps({"child": child, **({"policy": policy} if policy else {})}).encode(), now
    )


def add(iid, events):
    inc.append_events(store, reg, iid, json.dumps({"events": events}).encode(), now)


put(case["incident_id"], case["child"], case["policy"])
add(case["incident_id"], case["events"])
put("SUF-23-000001", {"child_id": case["child"]["child_id"], "age_years": 13})
add(
    "SUF-23-000001",
    [
        {"id": "r", "type": "report_received", "at": "2023-07-01T10:00:00+01:00", "by": "call_handler"},
        {
            "id": "c",
            "type": "compact_record_created",
            "at": "2023-07-01T10:20:00+01:00",
            "by": "call_handler",
        },
    ],
)
put("SUF-23-000002", {"child_id": "C-OTHER", "age_years": 15})
add(
    "SUF-23-000002",
    [{"id": "r", "type": "report_received", "at": "2023-08-01T10:00:00+01:00", "by": "call_handler"}],
)
for iid, as_of in (
    (case["incident_id"], "2023-07-14T09:00:00+01:00"),
    (case["incident_id"], None),
    ("SUF-23-000002", None),
):
    inc.stored_evaluation(store, reg, iid, datetime.fromisoformat(as_of) if as_of else None, "auditor1", now)
service.subscribe(store, SubscriptionAsk.model_validate({"url": "http://127.0.0.1:9/hook"}), "ops", 1.9e9)
service.raise_due(store, reg, 1.9e9)
first = json.loads(service.list_alerts(store, "all", 1, 10))["alerts"][0]
service.acknowledge(store, first["alert_id"], "desk", "seen", 1.9e9 + 60)
(D / "secrets.json").write_text(json.dumps(secrets, indent=1))
print("made", D)
