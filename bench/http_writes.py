"""Benchmarks 2 (HTTP writes against a bare Flask baseline) and 6 (memory) of issue 9.

    python -m bench.http_writes --pg URL --kafka HOST:PORT --seconds 30 --out http_writes.json \
        --memory-out memory.json

2. The registry and the inspection service run as in production (`bench.system`: ``lanhmanh serve
   --workers 2`` under gunicorn, 4 threads per worker, + ``lanhmanh worker``) on PostgreSQL and
   Kafka. wrk (Debian's) posts, with fixed threads, connections and duration:
   * new establishments to ``POST /registry/v1/establishments`` (a police token of district 116,
     Vietnamese names, Sơn La communes, an ``Idempotency-Key`` each);
   * inspection results to ``POST /inspection/v1/inspections/<id>/result``, one per inspection: the
     plan and the inspections are made beforehand over HTTP, on the establishments of the first run
     once the inspection service's local copy holds them; wrk takes their ids from a file, split per
     thread so that none is used twice.
   Baseline, same run, same wrk settings: `bench.baseline_app` (a bare Flask endpoint inserting one
   row of an establishment-sized body) under the same gunicorn settings, on its own database of the
   same PostgreSQL, run just before and just after each kind's two runs (`bench.bracket`: the ratios
   are to the mean of the two; the verdict is ``yes`` or ``no`` only when the run before and the run
   after agree, ``unsteady`` otherwise). Before each measured run the system is idle (outboxes
   drained, the local copy caught up) and the endpoint warmed up. Goal: throughput ≥ 0.7 of the
   baseline, p99 ≤ 2× its p99, and no answer other than 2xx.
6. Memory (`bench.memory`): the resident memory of every process (each gunicorn master and worker,
   each service worker, the baseline's) after start-up, idle, and its maximum while (2) runs,
   sampled every 0.5 s.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import requests
from sqlalchemy import create_engine, text

from bench.bracket import Bracket
from bench.memory import MemorySampler, snapshot
from bench.system import (BIN, System, create_database, drop_database, free_port, outbox_backlog, spawn,
                          start_system, stop_processes, stop_system, wait_known_to_inspection, wait_ready)

ROOT = Path(__file__).resolve().parents[1]
LUA = ROOT / "bench" / "wrk" / "post.lua"
ESTABLISHMENTS = "/registry/v1/establishments"
INSPECTIONS = "/inspection/v1/inspections"
PLANS = "/inspection/v1/plans"
GOAL_THROUGHPUT, GOAL_P99 = 0.7, 2.0


# --- wrk --------------------------------------------------------------------------------------------
def wrk(url: str, kind: str, token: str | None, threads: int, connections: int, seconds: float,
        ids_file: Path | None = None) -> dict:
    """One wrk run with bench/wrk/post.lua; its figures (the script's JSON line) in ms and requests/s."""
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install -y --no-install-recommends wrk")
    cmd = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--latency",
           "--timeout", "10s", "-s", str(LUA)]
    if token:
        cmd += ["-H", f"Authorization: Bearer {token}"]
    cmd += [url, "--", kind]
    if ids_file is not None:
        cmd += [str(ids_file), str(threads)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60)
    line = next((l for l in done.stdout.splitlines() if l.startswith("WRK_JSON ")), None)
    if done.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stdout[-2000:]} {done.stderr[-2000:]}")
    raw = json.loads(line.removeprefix("WRK_JSON "))
    lat = raw["latency_us"]
    errors = raw["non_2xx"] + sum(raw["socket_errors"].values())
    return {"requests": raw["requests"], "seconds": raw["duration_us"] / 1e6,
            "requests_per_s": raw["requests"] / (raw["duration_us"] / 1e6),
            "p50_ms": lat["p50"] / 1000, "p90_ms": lat["p90"] / 1000, "p99_ms": lat["p99"] / 1000,
            "p999_ms": lat["p999"] / 1000, "max_ms": lat["max"] / 1000, "mean_ms": lat["mean"] / 1000,
            "non_2xx": raw["non_2xx"], "statuses": raw["statuses"], "socket_errors": raw["socket_errors"],
            "errors": errors, "threads_out_of_ids": raw["threads_out_of_ids"]}


# --- the baseline -----------------------------------------------------------------------------------
def start_baseline(pg_url: str, workdir: Path, web_workers: int) -> tuple[subprocess.Popen, str, str]:
    """The bare Flask app on a database of its own; (process, its URL, the database name)."""
    name = f"bench_http_baseline_{uuid.uuid4().hex[:8]}"
    db_url = create_database(pg_url, name)
    port = free_port()
    process = spawn([str(BIN / "python"), "-m", "bench.baseline_app", "--database-url", db_url,
                     "--bind", f"127.0.0.1:{port}", "--workers", str(web_workers)],
                    {**os.environ, "PYTHONPATH": str(ROOT)}, workdir / "baseline-web.log")
    base = f"http://127.0.0.1:{port}"
    try:
        wait_ready(f"{base}/baseline/readyz", [process])
    except BaseException:
        stop_processes([process])
        drop_database(pg_url, name)
        raise
    return process, base, name


# --- preparing the inspections ----------------------------------------------------------------------
def count_rows(database_url: str, table: str) -> int:
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            return conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()
    finally:
        engine.dispose()


def wait_until_local_copy(system: System, timeout: float = 120.0) -> int:
    """Wait until the inspection service's copy holds as many establishments as the registry: its
    consumer is idle again before the next measured run."""
    expected = count_rows(system.services["registry"].database_url, "establishments")
    deadline = time.monotonic() + timeout
    while True:
        count = count_rows(system.services["inspection"].database_url, "establishments")
        if count >= expected or time.monotonic() > deadline:
            return count
        time.sleep(0.5)


def establishment_ids(system: System, headers: dict, wanted: int = 200) -> list[str]:
    response = requests.get(system.url(ESTABLISHMENTS), params={"page_size": wanted, "district_code": "116"},
                            headers=headers, timeout=30)
    response.raise_for_status()
    return [e["id"] for e in response.json()]


def prepare_inspections(system: System, headers: dict, count: int, establishments: list[str],
                        parallel: int = 8) -> list[str]:
    """A district plan and ``count`` planned inspections of it, over HTTP; their ids."""
    plan = requests.post(system.url(PLANS), headers=headers, timeout=30, json={
        "name": "Kiểm tra chuyên ngành năm 2020 (đo hiệu năng)", "kind": "specialised", "agency": "culture",
        "scope": "district", "district_code": "116", "period_start": "2020-01-01", "period_end": "2020-12-31"})
    if plan.status_code != 201:
        raise RuntimeError(f"plan: {plan.status_code} {plan.text}")
    plan_id = plan.json()["id"]
    session = requests.Session()
    session.headers.update(headers)

    def schedule(i: int) -> str:
        r = session.post(system.url(INSPECTIONS), timeout=30, json={
            "establishment_id": establishments[i % len(establishments)], "plan_id": plan_id,
            "scheduled_on": "2020-05-04"})
        if r.status_code != 201:
            raise RuntimeError(f"inspection: {r.status_code} {r.text}")
        return r.json()["id"]

    with ThreadPoolExecutor(parallel) as pool:
        return list(pool.map(schedule, range(count)))


def warm_up(url: str, kind: str, token: str | None, seconds: float, connections: int) -> None:
    """A short unmeasured wrk run: every gunicorn worker has imported, connected and filled its pool."""
    if seconds > 0:
        wrk(url, kind, token, 1, min(connections, 4), seconds)


def wait_idle(system: System) -> dict:
    return outbox_backlog(system, timeout=120)


# --- the benchmark ----------------------------------------------------------------------------------
def ratios(ours: dict, baseline: dict) -> dict:
    throughput = ours["requests_per_s"] / baseline["requests_per_s"] if baseline["requests_per_s"] else math.nan
    p99 = ours["p99_ms"] / baseline["p99_ms"] if baseline["p99_ms"] else math.nan
    return {"throughput_ratio": throughput, "p99_ratio": p99,
            "met": throughput >= GOAL_THROUGHPUT and p99 <= GOAL_P99 and ours["errors"] == 0}


def against(ours: dict, bracket: Bracket) -> dict:
    """``ours`` against the baseline's runs before and after it (`bench.bracket`): the ratios to
    their mean, and the verdict, given only when the run before and the run after agree."""
    baseline = bracket.as_baseline("requests_per_s", "p99_ms")
    verdict = bracket.verdict(lambda run: ratios(ours, run)["met"])
    return {**ratios(ours, baseline), "met": verdict == "yes", "verdict": verdict, "baseline": baseline}


@contextmanager
def workers_paused(system: System):
    """Every service's worker (relay and consumers) stopped by SIGSTOP while the block runs, then
    resumed: the web tier alone on the machine's cores."""
    groups = [s.worker.pid for s in system.services.values() if s.worker.poll() is None]
    for pid in groups:
        os.killpg(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        for pid in groups:
            os.killpg(pid, signal.SIGCONT)


def web_tier_alone(system: System, url: str, kind: str, token: str, threads: int, connections: int,
                   seconds: float, ids_file: Path | None = None) -> dict:
    """One wrk run with the workers paused, and how long the workers take, resumed, to work off
    what it left them."""
    with workers_paused(system):
        alone = wrk(url, kind, token, threads, connections, seconds, ids_file)
    started = time.perf_counter()
    backlog = wait_idle(system)
    caught_up = all(c["pending"] == 0 for c in backlog.values())
    if kind == "establishments":
        caught_up = caught_up and wait_until_local_copy(system) >= count_rows(
            system.services["registry"].database_url, "establishments")
    return {**alone, "caught_up": caught_up, "caught_up_s": round(time.perf_counter() - started, 2),
            "outbox_after": backlog}


def measure(system: System, baseline_url: str, workdir: Path, threads: int, connections: int, seconds: float,
            warmup: float) -> dict:
    """Benchmark 2 on a running system and baseline: the wrk runs and their ratios (each of ours
    twice: the whole system, then the web tier alone), each kind between two runs of the baseline
    (`bench.bracket`): baseline, establishments, baseline, (inspections made), baseline, results,
    baseline; the system idle before each."""
    token = system.token("police")
    headers = {"Authorization": f"Bearer {token}"}
    settings = {"threads": threads, "connections": connections, "seconds": seconds, "warmup_s": warmup}

    def baseline() -> dict:
        wait_idle(system)
        warm_up(f"{baseline_url}/baseline/v1/items", "baseline", None, warmup, connections)
        return wrk(f"{baseline_url}/baseline/v1/items", "baseline", None, threads, connections, seconds)

    before = baseline()
    warm_up(system.url(ESTABLISHMENTS), "establishments", token, warmup, connections)
    wait_idle(system)
    establishments = wrk(system.url(ESTABLISHMENTS), "establishments", token, threads, connections, seconds)
    wait_idle(system)
    alone = {"establishments": web_tier_alone(system, system.url(ESTABLISHMENTS), "establishments", token,
                                              threads, connections, seconds)}
    bracket = Bracket(before, baseline())
    establishments.update(against(establishments, bracket))
    alone["establishments"].update(against(alone["establishments"], bracket))

    targets = establishment_ids(system, headers)
    wait_known_to_inspection(system, targets)
    known = wait_until_local_copy(system)
    # enough inspections for each results run to go faster than the establishments did, with margin
    fastest = max(establishments["requests_per_s"], alone["establishments"]["requests_per_s"])
    count = int(fastest * seconds * 1.5) + 50
    started = time.perf_counter()
    ids = prepare_inspections(system, headers, 2 * count, targets)
    prepared_s = time.perf_counter() - started
    ids_files = [workdir / "inspection-ids.txt", workdir / "inspection-ids-alone.txt"]
    for path, part in zip(ids_files, (ids[:count], ids[count:])):
        path.write_text("\n".join(part) + "\n")
    before = baseline()
    wait_idle(system)
    results = wrk(system.url(INSPECTIONS), "results", token, threads, connections, seconds, ids_files[0])
    wait_idle(system)
    alone["results"] = web_tier_alone(system, system.url(INSPECTIONS), "results", token, threads, connections,
                                      seconds, ids_files[1])
    bracket = Bracket(before, baseline())
    results.update(against(results, bracket))
    alone["results"].update(against(alone["results"], bracket))
    for run in (results, alone["results"]):
        if run["threads_out_of_ids"]:
            run["note"] = "a wrk thread ran out of inspection ids: the throughput is understated"
    runs = [establishments, results, alone["establishments"], alone["results"]]
    return {"settings": settings,
            "establishments": establishments,
            "results": {**results, "inspections_prepared": count, "prepared_in_s": prepared_s,
                        "local_copy_establishments": known},
            "web_tier_alone": alone,
            "errors": sum(run["errors"] for run in runs)
            + sum(run["baseline"][side]["errors"] for run in (establishments, results) for side in ("before", "after")),
            "outbox_after": alone["results"]["outbox_after"],
            "met": establishments["met"] and results["met"]}


def memory_groups(system: System, baseline: subprocess.Popen | None) -> dict[str, tuple[str, int]]:
    groups = {}
    for name, s in system.services.items():
        groups[f"{name} web"] = ("web", s.web.pid)
        groups[f"{name} worker"] = ("worker", s.worker.pid)
    if baseline is not None:
        groups["baseline web"] = ("web", baseline.pid)
    return groups


def run(system: System, workdir: Path, threads: int, connections: int, seconds: float, warmup: float,
        web_workers: int) -> tuple[dict, dict]:
    """Benchmarks 2 and 6 on a running system (the baseline is started and stopped here)."""
    process, baseline_url, baseline_db = start_baseline(system.pg_url, workdir, web_workers)
    try:
        groups = memory_groups(system, process)
        time.sleep(2)  # start-up done, nothing asked yet
        idle = snapshot(groups)
        with MemorySampler(groups) as sampler:
            writes = measure(system, baseline_url, workdir, threads, connections, seconds, warmup)
        memory = {"idle": idle, "under_load_peak": sampler.result(), "samples": sampler.samples,
                  "interval_s": sampler.interval}
    finally:
        stop_processes([process])
        drop_database(system.pg_url, baseline_db)
    return writes, memory


def summary_line(writes: dict, memory: dict) -> str:
    e, r = writes["establishments"], writes["results"]
    peak = memory["under_load_peak"]
    alone = ", ".join(
        f"{kind} {a['requests_per_s']:.0f} req/s (x{a['throughput_ratio']:.2f}, p99 x{a['p99_ratio']:.2f}, "
        + (f"caught up in {a['caught_up_s']:.0f} s)" if a["caught_up"] else "NOT caught up)")
        for kind, a in writes["web_tier_alone"].items())
    kinds = "; ".join(
        f"{kind} {w['requests_per_s']:.0f} req/s p99 {w['p99_ms']:.0f} ms (baseline {w['baseline']['before']['requests_per_s']:.0f}"
        f" before, {w['baseline']['after']['requests_per_s']:.0f} after; x{w['throughput_ratio']:.2f}, "
        f"p99 x{w['p99_ratio']:.2f}; goal met: {w['verdict']})" for kind, w in (("establishments", e), ("results", r)))
    return (f"http_writes: {kinds}; web tier alone: {alone}; "
            f"{writes['errors']} errors; "
            f"memory peak " + ", ".join(f"{label} {m['total_mib']:.0f} MiB" for label, m in peak.items()))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pg", required=True, help="SQLAlchemy URL of the PostgreSQL server (databases are made on it)")
    ap.add_argument("--kafka", required=True)
    ap.add_argument("--threads", type=int, default=2, help="wrk threads")
    ap.add_argument("--connections", type=int, default=16, help="wrk connections")
    ap.add_argument("--seconds", type=float, default=30.0, help="duration of each measured wrk run")
    ap.add_argument("--warmup", type=float, default=3.0, help="unmeasured wrk seconds before each run")
    ap.add_argument("--web-workers", type=int, default=2, help="gunicorn workers (ours and the baseline's)")
    ap.add_argument("--out", required=True)
    ap.add_argument("--memory-out", required=True)
    args = ap.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="lanhmanh-http-writes-"))
    system = start_system(args.pg, args.kafka, ["registry", "inspection"], workdir, "http", args.web_workers)
    try:
        writes, memory = run(system, workdir, args.threads, args.connections, args.seconds, args.warmup,
                             args.web_workers)
    finally:
        stop_system(system)
        shutil.rmtree(workdir, ignore_errors=True)
    Path(args.out).write_text(json.dumps(writes, indent=2))
    Path(args.memory_out).write_text(json.dumps(memory, indent=2))
    print(summary_line(writes, memory), flush=True)


if __name__ == "__main__":
    main()
