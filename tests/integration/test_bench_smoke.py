"""Smoke runs of the benchmark harness (bench/), on the PostgreSQL and Kafka of `make test`.

They check that the harness works, never how fast anything is: the benchmarks themselves run in
`make bench` only.
"""
from __future__ import annotations

import json
import shutil
from collections import Counter

import pytest

from bench import http_writes, load
from bench.system import ALL_SERVICES, outbox_backlog, start_system, stop_system

pytestmark = pytest.mark.infra


def test_the_load_run_and_the_http_writes_harness_work_across_all_services(pg_server_url, kafka_servers, tmp_path):
    """Issue 8's load run (all five services, a few seconds) answers every request without error and
    every outbox drains; with wrk installed, benchmark 2 and 6's harness (wrk runs of a second against
    the same services, then again with their workers paused, and the bare Flask baseline) yields its
    figures with no answer other than 2xx."""
    system = start_system(pg_server_url, kafka_servers, ALL_SERVICES, tmp_path / "system", "smoke", web_workers=1)
    try:
        out = load.run_load(system, rate=10, seconds=2, threads=8)
        out["outbox"] = outbox_backlog(system, timeout=30)
        json.loads(json.dumps(out))
        assert out["errors"] == 0, out["error_examples"]
        assert load.verdict(out), out["outbox"]
        assert set(out["services"]) == set(ALL_SERVICES)
        assert all(s["requests"] > 0 for s in out["services"].values()), out["services"]

        if shutil.which("wrk"):
            writes, memory = http_writes.run(system, tmp_path, threads=1, connections=2, seconds=1, warmup=0,
                                             web_workers=1)
            json.loads(json.dumps(writes)), json.loads(json.dumps(memory))
            assert writes["errors"] == 0, writes
            assert writes["establishments"]["requests"] > 0 and writes["results"]["requests"] > 0
            # each kind between two runs of the baseline, its verdict given only when they agree
            for kind in ("establishments", "results"):
                bracket = writes[kind]["baseline"]
                assert bracket["before"]["requests"] > 0 and bracket["after"]["requests"] > 0, bracket
                assert writes[kind]["verdict"] in {"yes", "no", "unsteady"}
            # the same runs with every worker paused: what the web tier acknowledged then is all
            # published, and reaches the inspection service's copy, once the workers are resumed
            alone = writes["web_tier_alone"]
            assert alone["establishments"]["requests"] > 0 and alone["results"]["requests"] > 0
            assert alone["establishments"]["caught_up"] and alone["results"]["caught_up"], alone
            assert memory["idle"]["registry web"]["total_mib"] > 0
            assert "web worker 1" in memory["under_load_peak"]["inspection web"]["processes_mib"]
    finally:
        stop_system(system)


def test_the_national_reports_harness_works(pg_server_url):
    """Benchmark 4's harness on a few rows: it loads with COPY, builds the rollup, checks that the
    rollup's numbers equal the raw GROUP BY's at every level (it raises if not) and times both."""
    from bench import reports

    out = reports.run(pg_server_url, n_establishments=200, n_inspections=2000, repeat=3, warmup=1, seed=1)
    json.loads(json.dumps(out))
    assert out["equal"] is True and out["rollup_rows"] > 0
    assert set(out["levels"]) == {"country", "province", "district", "commune"}
    assert all(level["ours"]["n"] == 3 and level["baseline"]["n"] == 3 for level in out["levels"].values())


def test_the_pipeline_harness_works_with_two_reporting_workers(pg_server_url, kafka_servers, tmp_path):
    """Benchmark 1 and 5's harness on a few hundred events: the outbox filled, the relay and two
    reporting worker processes (one consumer group) started, every event applied once and projected,
    between two runs of the plain kafka-python baseline on the same messages; then the replay
    rebuilds reporting from the topics (which hold other tests' events too)."""
    from bench import pipeline

    result, replayed, live = pipeline.pipeline(pg_server_url, kafka_servers, 300, 100, 120, tmp_path,
                                               reporting_workers=2, replay_with=Counter())
    json.loads(json.dumps(result, default=str)), json.loads(json.dumps(replayed, default=str))
    assert result["reporting_workers"] == 2
    assert result["applied"] == 300 and result["projected_inspections"] == 300 and sum(live.values()) == 300
    baseline = result["baseline"]
    assert baseline["before"]["consumed"] == 300 and baseline["after"]["consumed"] == 300, baseline
    assert result["ratio"] == result["events_per_s"] / baseline["events_per_s"] > 0
    assert result["verdict"] in {"yes", "no", "unsteady"}
    assert replayed["messages"] >= 300 and replayed["projected_inspections"] >= 300 and replayed["ratio"] > 0
