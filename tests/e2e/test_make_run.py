"""`make run` as a user starts it: every service in one process (SQLite, the embedded event log)
with the demo data of each, loaded through the services' own business actions."""
from __future__ import annotations

import json
import os

import requests

from chassis.auth import Authenticator
from tests.conftest import TEST_SECRET
from tests.e2e.conftest import BIN, _start, _wait_ready
from bench.system import stop_processes
from tests.support.infra import free_port

SERVICES = ("registry", "inspection", "cases", "support", "reporting")


def test_lanhmanh_run_starts_every_service_with_its_demo_data(tmp_path):
    port = free_port()
    env = {**os.environ, "LANHMANH_VAR_DIR": str(tmp_path / "var"), "JWT_SECRET": TEST_SECRET}
    for name in ("DATABASE_URL", "EVENT_TRANSPORT", "KAFKA_BOOTSTRAP_SERVERS"):
        env.pop(name, None)  # the embedded defaults, as `make run` has them
    log = tmp_path / "run.log"
    process = _start([str(BIN / "lanhmanh"), "run", "--port", str(port)], env, log)  # what `make run` runs
    try:
        base = f"http://127.0.0.1:{port}"
        _wait_ready(f"{base}/registry/readyz", [process], [log], timeout=240)  # served once the demo is in
        text = log.read_text()
        assert "Lành Mạnh is ready" in text
        loaded = {name for name in SERVICES if f"  {name}: loaded " in text}
        assert loaded == set(SERVICES), text[-3000:]
        token = Authenticator(TEST_SECRET, None, "lanhmanh", None).issue("demo-check", ["admin"])
        listed = requests.get(f"{base}/registry/v1/establishments", headers={"Authorization": f"Bearer {token}"},
                              timeout=10)
        assert listed.status_code == 200
        assert json.loads(listed.headers["X-Pagination"])["total"] > 0
        lines = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
        assert {line["service"] for line in lines} >= set(SERVICES)  # each labels its own work
    finally:
        stop_processes([process])
