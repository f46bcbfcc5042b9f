"""Issue 8's bounded load run: a fixed request rate across all five services' HTTP APIs.

    python -m bench.load --pg URL --kafka HOST:PORT --rate 40 --seconds 60 --out load.json

Every service runs as in production (`bench.system`: ``lanhmanh serve SERVICE --workers 2`` under
gunicorn + ``lanhmanh worker SERVICE``, its own PostgreSQL database, Kafka between them). The mix
(`MIX`) writes and reads through every service: registry establishments, inspection plans,
inspections and results, cases tips, support people and referrals (as a social worker), reporting
indicators, trend and dashboard reads; each with the role and district (116, Thành phố Sơn La) the
API asks for. Results are posted to inspections made over HTTP before the run, one each.

Open-loop: requests are *scheduled* at a fixed rate and sent by a bounded pool of threads, so a slow
server shows up as latency (measured from the scheduled time, which avoids coordinated omission)
rather than as a lower rate. Bounded in count (rate × seconds) and in time; loopback only. Any
answer other than the expected 2xx, or an exception, is an error; the verdict is "no errors". After
the run, every service's outbox must have been published (≤ 30 s).
"""
from __future__ import annotations

import argparse
import json
import random
import shutil
import tempfile
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable
from urllib.parse import urlparse

import requests
from bench.system import ALL_SERVICES, System, outbox_backlog, start_system, stop_system, wait_known_to_inspection

COMMUNES = ["03646", "03649", "03652", "03655", "03658"]  # Thành phố Sơn La (district 116)
TYPES = ["karaoke", "massage", "accommodation"]
NAMES = ["Karaoke Hoa Hồng", "Nhà nghỉ Bình Minh", "Massage Thư Giãn", "Karaoke Ánh Sao", "Nhà nghỉ Sơn Thủy"]
PEOPLE = ["Vàng Thị Chứ", "Lò Thị Hoa", "Quàng Thị Mai", "Cầm Thị Lan", "Sồng Thị Dợ", "Lường Thị Thu"]
SEARCHES = ["?page_size=20", "?q=hoa%20hong&page_size=20", "?district_code=116&page_size=50",
            "?business_type=karaoke&page=2&page_size=20"]
RESULT = {"conducted_on": "2020-06-15",  # the day the inspections are scheduled on
          "checklist": [{"item": "GP-01", "answer": "yes"}, {"item": "GP-02", "answer": "yes"},
                        {"item": "MD-DH", "answer": "no"}, {"item": "BC-01", "answer": "yes"}],  # common items
          "violations": [], "sanctions": [], "signs_of_prostitution": False, "people_identified": 0,
          "people_consenting_to_referral": 0, "notes": "Cơ sở chấp hành tốt quy định"}


@dataclass
class Prepared:
    """What the mix needs to exist before the run: establishments the inspection service knows, a plan,
    and planned inspections to post results to (``results`` is filled as the schedule is drawn)."""
    establishments: list[str]
    plan_id: str
    inspections: list[str]


@dataclass(frozen=True)
class Endpoint:
    service: str
    name: str
    method: str
    role: str  # key of the tokens made in `tokens`
    weight: int
    status: int  # the expected answer
    request: Callable[[int, random.Random, Prepared], tuple[str, dict | None]]  # i, rnd, prepared → path, body


def establishment_body(i: int, rnd: random.Random, _p: Prepared) -> tuple[str, dict]:
    return "/registry/v1/establishments", {
        "name": f"{rnd.choice(NAMES)} {i}", "business_type": rnd.choice(TYPES), "owner_name": "Lò Văn Thành",
        "address": f"Số {i}, đường Tô Hiệu", "commune_code": rnd.choice(COMMUNES), "operating_since": "2018-03-01"}


def inspection_body(i: int, rnd: random.Random, p: Prepared) -> tuple[str, dict]:
    return "/inspection/v1/inspections", {"establishment_id": rnd.choice(p.establishments), "plan_id": p.plan_id,
                                          "scheduled_on": "2020-06-15"}


def plan_body(i: int, rnd: random.Random, _p: Prepared) -> tuple[str, dict]:
    return "/inspection/v1/plans", {
        "name": f"Kiểm tra liên ngành đợt {i}", "kind": "inter_agency", "agency": "inter_agency",
        "scope": "communes", "commune_codes": [rnd.choice(COMMUNES)], "period_start": "2020-01-01",
        "period_end": "2020-12-31"}


def tip_body(i: int, rnd: random.Random, _p: Prepared) -> tuple[str, dict]:
    return "/cases/v1/tips", {"source": rnd.choice(["hotline", "citizen"]), "commune_code": rnd.choice(COMMUNES),
                              "summary": f"Nhà nghỉ Hoa Đào có dấu hiệu chứa mại dâm (tin {i})",
                              "received_at": "2020-03-02T09:00:00+07:00"}


def person_body(i: int, rnd: random.Random, _p: Prepared) -> tuple[str, dict]:
    return "/support/v1/persons", {
        "full_name": f"{rnd.choice(PEOPLE)} {i}", "birth_year": rnd.randint(1985, 2004), "sex": "female",
        "ethnicity": rnd.choice(["Thái", "H'Mông", "Kinh"]), "commune_code": rnd.choice(COMMUNES),
        "id_number": f"0143{i:08d}", "phone": f"09{rnd.randrange(10**8):08d}"}


def get(path: str) -> Callable[[int, random.Random, Prepared], tuple[str, None]]:
    return lambda i, rnd, p: (path, None)


def get_one_of(paths: list[str]) -> Callable[[int, random.Random, Prepared], tuple[str, None]]:
    return lambda i, rnd, p: (rnd.choice(paths), None)


MIX = [
    Endpoint("registry", "POST establishments", "POST", "police", 12, 201, establishment_body),
    Endpoint("registry", "GET establishments", "GET", "police", 12, 200,
             get_one_of([f"/registry/v1/establishments{q}" for q in SEARCHES])),
    Endpoint("inspection", "POST plans", "POST", "police", 2, 201, plan_body),
    Endpoint("inspection", "POST inspections", "POST", "police", 8, 201, inspection_body),
    Endpoint("inspection", "POST result", "POST", "police", 6, 201,
             lambda i, rnd, p: (f"/inspection/v1/inspections/{p.inspections[i]}/result", RESULT)),
    Endpoint("inspection", "GET inspections", "GET", "police", 5, 200,
             get("/inspection/v1/inspections?district_code=116&page_size=20")),
    Endpoint("cases", "POST tips", "POST", "police", 8, 201, tip_body),
    Endpoint("cases", "GET tips", "GET", "police", 4, 200, get("/cases/v1/tips?page_size=20")),
    Endpoint("support", "POST persons", "POST", "social_worker", 5, 201, person_body),
    Endpoint("support", "POST referrals", "POST", "social_worker", 5, 201,
             lambda i, rnd, p: ("/support/v1/referrals", {"source": "walk_in"})),
    Endpoint("support", "GET persons", "GET", "social_worker", 3, 200, get("/support/v1/persons?page_size=20")),
    Endpoint("support", "GET referrals", "GET", "social_worker", 2, 200, get("/support/v1/referrals?page_size=20")),
    Endpoint("reporting", "GET indicators", "GET", "reporting", 6, 200, get_one_of([
        "/reporting/v1/indicators?org_unit=116&period=2020", "/reporting/v1/indicators?org_unit=14&period=2020S1",
        "/reporting/v1/indicators?org_unit=03646&period=2020"])),
    Endpoint("reporting", "GET trend", "GET", "reporting", 3, 200, get("/reporting/v1/indicators/trend?year=2020")),
    Endpoint("reporting", "GET dashboard", "GET", "reporting", 2, 200, get("/reporting/")),
]


def pct(values, p):
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(p / 100 * len(s)) - 1))] if s else float("nan")


def tokens(system: System) -> dict[str, str]:
    """One token per role of the mix; reporting reads the whole province, the others district 116."""
    return {"police": system.token("police"), "social_worker": system.token("social_worker"),
            "reporting": system.token("reporting_consumer", district=None)}


def require_loopback(system: System) -> None:
    for s in system.services.values():
        host = urlparse(s.base_url).hostname
        if host not in ("127.0.0.1", "localhost", "::1"):
            raise SystemExit(f"load.py only runs against loopback, not {host}")


def schedule(n: int, seed: int = 42) -> list[Endpoint]:
    rnd = random.Random(seed)
    weights = [e.weight for e in MIX]
    return rnd.choices(MIX, weights=weights, k=n)


def prepare(system: System, token: str, results_needed: int, establishments: int = 20) -> Prepared:
    """Over HTTP: establishments (until inspection knows them), a plan, one inspection per result."""
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {token}"
    rnd = random.Random(7)
    ids = []
    for i in range(establishments):
        path, body = establishment_body(i, rnd, None)
        r = session.post(system.url(path), json=body, timeout=30)
        r.raise_for_status()
        ids.append(r.json()["id"])
    wait_known_to_inspection(system, ids)
    plan = session.post(system.url("/inspection/v1/plans"), timeout=30, json={
        "name": "Kiểm tra chuyên ngành năm 2020 (chạy tải)", "kind": "specialised", "agency": "culture",
        "scope": "district", "district_code": "116", "period_start": "2020-01-01", "period_end": "2020-12-31"})
    plan.raise_for_status()
    prepared = Prepared(ids, plan.json()["id"], [])

    def one(i: int) -> str:
        path, body = inspection_body(i, random.Random(i), prepared)
        r = session.post(system.url(path), json=body, timeout=30)
        if r.status_code != 201:
            raise RuntimeError(f"preparing an inspection: {r.status_code} {r.text}")
        return r.json()["id"]

    with ThreadPoolExecutor(4) as pool:
        prepared.inspections = list(pool.map(one, range(results_needed)))
    return prepared


def summary(latencies: list[float]) -> dict:
    return {"requests": len(latencies), "p50_ms": pct(latencies, 50) * 1000, "p95_ms": pct(latencies, 95) * 1000,
            "p99_ms": pct(latencies, 99) * 1000, "max_ms": max(latencies) * 1000 if latencies else float("nan")}


def run_load(system: System, rate: float, seconds: float, threads: int = 32) -> dict:
    """The bounded open-loop run on a running system; its figures (also per service and endpoint)."""
    require_loopback(system)
    n = int(rate * seconds)
    plan = schedule(n)
    result_slots = {}  # request number → index of its inspection in prepared.inspections
    for i, endpoint in enumerate(plan):
        if endpoint.name == "POST result":
            result_slots[i] = len(result_slots)
    auth = tokens(system)
    prepared = prepare(system, auth["police"], len(result_slots))

    local = threading.local()
    lock = threading.Lock()
    results: list[tuple[Endpoint, int, float]] = []  # endpoint, status (0 = exception), latency s
    errors: Counter = Counter()
    examples: dict[str, str] = {}  # the first answer of each kind of error, to say why

    def session() -> requests.Session:
        if not hasattr(local, "s"):
            local.s = requests.Session()
        return local.s

    def one(i: int, scheduled: float, endpoint: Endpoint) -> None:
        rnd = random.Random(i)
        path, body = endpoint.request(result_slots.get(i, i), rnd, prepared)
        headers = {"Authorization": f"Bearer {auth[endpoint.role]}"}
        if endpoint.method == "POST":
            headers["Idempotency-Key"] = str(uuid.uuid4())
        try:
            r = session().request(endpoint.method, system.url(path), json=body, headers=headers, timeout=10)
            status, ok = r.status_code, r.status_code == endpoint.status
        except requests.RequestException as exc:
            status, ok = 0, False
            with lock:
                errors[f"{endpoint.name}: {type(exc).__name__}"] += 1
                examples.setdefault(f"{endpoint.name}: {type(exc).__name__}", str(exc)[:500])
        latency = time.perf_counter() - scheduled
        with lock:
            results.append((endpoint, status, latency))
            if not ok and status:
                errors[f"{endpoint.name}: {status}"] += 1
                examples.setdefault(f"{endpoint.name}: {status}", r.text[:500])

    t0 = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        for i, endpoint in enumerate(plan):
            scheduled = t0 + i / rate
            delay = scheduled - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            pool.submit(one, i, scheduled, endpoint)
    elapsed = time.perf_counter() - t0

    return {"rate": rate, "seconds": seconds, "scheduled": n, "completed": len(results), "elapsed_s": elapsed,
            "achieved_rate": len(results) / elapsed, "errors": sum(errors.values()), "error_kinds": dict(errors),
            "error_examples": examples,
            "all": summary([r[2] for r in results]),
            "post": summary([r[2] for r in results if r[0].method == "POST"]),
            "get": summary([r[2] for r in results if r[0].method == "GET"]),
            "services": {s: summary([r[2] for r in results if r[0].service == s]) for s in ALL_SERVICES},
            "endpoints": {f"{e.service} {e.name}": summary([r[2] for r in results if r[0] is e]) for e in MIX},
            "threads": threads, "prepared": {"establishments": len(prepared.establishments),
                                             "inspections": len(prepared.inspections)}}


def verdict(out: dict) -> bool:
    return (out["errors"] == 0 and out["completed"] == out["scheduled"]
            and all(s["pending"] == 0 for s in out["outbox"].values()))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pg", required=True, help="SQLAlchemy URL of the PostgreSQL server (databases are made on it)")
    ap.add_argument("--kafka", required=True)
    ap.add_argument("--rate", type=float, default=40.0, help="requests per second (all kinds)")
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--threads", type=int, default=32)
    ap.add_argument("--web-workers", type=int, default=2)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="lanhmanh-load-"))
    system = start_system(args.pg, args.kafka, ALL_SERVICES, workdir, "load", args.web_workers)
    try:
        out = run_load(system, args.rate, args.seconds, args.threads)
        out["outbox"] = outbox_backlog(system, timeout=30)
    finally:
        stop_system(system)
        shutil.rmtree(workdir, ignore_errors=True)
    out["no_errors"] = verdict(out)
    Path(args.out).write_text(json.dumps(out, indent=2, ensure_ascii=False))
    print(summary_line(out), flush=True)


def summary_line(out: dict) -> str:
    a = out["all"]
    per_service = ", ".join(f"{s} p99 {v['p99_ms']:.0f} ms" for s, v in out["services"].items())
    pending = sum(s["pending"] for s in out.get("outbox", {}).values())
    return (f"load: {out['completed']}/{out['scheduled']} requests across {len(out['services'])} services in "
            f"{out['elapsed_s']:.1f} s, {out['errors']} errors; p50 {a['p50_ms']:.0f} ms, p95 {a['p95_ms']:.0f} ms, "
            f"p99 {a['p99_ms']:.0f} ms ({per_service}); outbox pending after the run: {pending}")


if __name__ == "__main__":
    main()
