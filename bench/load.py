"""Issue 8's bounded load run: a fixed request rate against the registry's HTTP API.

    python -m bench.load --base http://127.0.0.1:PORT --token TOKEN --rate 40 --seconds 60 --out load.json

Open-loop: requests are *scheduled* at a fixed rate (a mix of POST /establishments and
GET /establishments lists and searches) and sent by a bounded pool of threads, so a slow server
shows up as latency (measured from the scheduled time, which avoids coordinated omission) rather
than as a lower rate. Bounded in count (rate × seconds) and in time; loopback only.
"""
from __future__ import annotations

import argparse
import json
import random
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlparse

import requests

COMMUNES = ["03646", "03649", "03652", "03655", "03658"]  # Thành phố Sơn La (district 116)
TYPES = ["karaoke", "massage", "accommodation"]
NAMES = ["Karaoke Hoa Hồng", "Nhà nghỉ Bình Minh", "Massage Thư Giãn", "Karaoke Ánh Sao", "Nhà nghỉ Sơn Thủy"]
SEARCHES = ["?page_size=20", "?q=hoa%20hong&page_size=20", "?district_code=116&page_size=50",
            "?business_type=karaoke&page=2&page_size=20"]


def pct(values, p):
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(p / 100 * len(s)) - 1))] if s else float("nan")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--base", required=True)
    ap.add_argument("--token", required=True)
    ap.add_argument("--rate", type=float, default=40.0, help="requests per second (all kinds)")
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--write-share", type=float, default=0.3, help="share of POSTs in the mix")
    ap.add_argument("--threads", type=int, default=32)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    host = urlparse(args.base).hostname
    if host not in ("127.0.0.1", "localhost", "::1"):
        raise SystemExit(f"load.py only runs against loopback, not {host}")

    local = threading.local()
    lock = threading.Lock()
    results: list[tuple[str, int, float]] = []  # kind, status (0 = exception), latency s
    errors: Counter = Counter()
    url = f"{args.base}/registry/v1/establishments"
    headers = {"Authorization": f"Bearer {args.token}"}

    def session() -> requests.Session:
        if not hasattr(local, "s"):
            local.s = requests.Session()
            local.s.headers.update(headers)
        return local.s

    def one(i: int, scheduled: float, kind: str) -> None:
        rnd = random.Random(i)
        try:
            if kind == "post":
                r = session().post(url, timeout=10, headers={"Idempotency-Key": str(uuid.uuid4())}, json={
                    "name": f"{rnd.choice(NAMES)} {i}", "business_type": rnd.choice(TYPES),
                    "owner_name": "Lò Văn Thành", "address": f"Số {i}, đường Tô Hiệu",
                    "commune_code": rnd.choice(COMMUNES), "operating_since": "2018-03-01"})
                ok = r.status_code == 201
            else:
                r = session().get(url + rnd.choice(SEARCHES), timeout=10)
                ok = r.status_code == 200
            status = r.status_code
        except requests.RequestException as exc:
            ok, status = False, 0
            with lock:
                errors[type(exc).__name__] += 1
        latency = time.perf_counter() - scheduled
        with lock:
            results.append((kind, status, latency))
            if not ok and status:
                errors[f"{kind} {status}"] += 1

    n = int(args.rate * args.seconds)
    rnd = random.Random(42)
    kinds = ["post" if rnd.random() < args.write_share else "get" for _ in range(n)]
    t0 = time.perf_counter()
    with ThreadPoolExecutor(args.threads) as pool:
        for i in range(n):
            scheduled = t0 + i / args.rate
            delay = scheduled - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            pool.submit(one, i, scheduled, kinds[i])
    elapsed = time.perf_counter() - t0

    def summary(kind=None):
        lat = [r[2] for r in results if kind is None or r[0] == kind]
        return {"requests": len(lat), "p50_ms": pct(lat, 50) * 1000, "p95_ms": pct(lat, 95) * 1000,
                "p99_ms": pct(lat, 99) * 1000, "max_ms": max(lat) * 1000 if lat else float("nan")}

    out = {"rate": args.rate, "seconds": args.seconds, "scheduled": n, "completed": len(results),
           "elapsed_s": elapsed, "achieved_rate": len(results) / elapsed, "errors": sum(errors.values()),
           "error_kinds": dict(errors), "all": summary(), "post": summary("post"), "get": summary("get"),
           "threads": args.threads, "write_share": args.write_share}
    Path(args.out).write_text(json.dumps(out, indent=2))
    print(f"load: {len(results)}/{n} requests in {elapsed:.1f} s, {out['errors']} errors; "
          f"p50 {out['all']['p50_ms']:.0f} ms, p95 {out['all']['p95_ms']:.0f} ms, p99 {out['all']['p99_ms']:.0f} ms",
          flush=True)


if __name__ == "__main__":
    main()
