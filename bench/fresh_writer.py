"""The writing half of benchmark 3, in a process of its own: establishments registered over HTTP at a
fixed rate (open loop), one line per 201 on stdout: ``<establishment id> <time.time() of the 201>``.

    python -m bench.fresh_writer --url URL --token TOKEN --rate 100 --seconds 20 --start-at T --offset 0 --step 2

Several of these share a rate (``--offset``/``--step`` split the schedule), so that the generator's
own CPU does not set the pace on a small machine. Keep-alive connections, one per sending thread.
"""
from __future__ import annotations

import argparse
import http.client
import json
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlparse

COMMUNES = ["03646", "03649", "03652", "03655", "03658"]  # Thành phố Sơn La (district 116)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--token", required=True)
    ap.add_argument("--rate", type=float, required=True, help="writes per second of all writers together")
    ap.add_argument("--seconds", type=float, required=True)
    ap.add_argument("--start-at", type=float, required=True, help="time.time() of the schedule's start")
    ap.add_argument("--offset", type=int, default=0)
    ap.add_argument("--step", type=int, default=1)
    args = ap.parse_args()
    target = urlparse(args.url)
    local = threading.local()
    out = threading.Lock()
    headers = {"Authorization": f"Bearer {args.token}", "Content-Type": "application/json"}

    def post(i: int) -> None:
        body = json.dumps({"name": f"Karaoke Ánh Dương {i}", "business_type": "karaoke",
                           "owner_name": "Lò Văn Thành", "address": f"Số {i}, Tổ 3",
                           "commune_code": COMMUNES[i % len(COMMUNES)]}, ensure_ascii=False).encode()
        try:
            try:
                if not hasattr(local, "conn"):
                    local.conn = http.client.HTTPConnection(target.hostname, target.port, timeout=30)
                local.conn.request("POST", target.path, body, headers)
            except (BrokenPipeError, ConnectionResetError):
                # the server had closed this idle keep-alive connection: the request never left; again
                local.conn = http.client.HTTPConnection(target.hostname, target.port, timeout=30)
                local.conn.request("POST", target.path, body, headers)
            response = local.conn.getresponse()
            data = response.read()
            at = time.time()
        except (OSError, http.client.HTTPException) as exc:
            local.__dict__.pop("conn", None)
            line = f"ERROR {type(exc).__name__}: {exc}"
        else:
            line = f"{json.loads(data)['id']} {at:.6f}" if response.status == 201 else f"ERROR {response.status} {data[:200]!r}"
        with out:
            print(line, flush=True)

    n = int(args.rate * args.seconds)
    late = 0
    with ThreadPoolExecutor(32) as pool:
        for i in range(args.offset, n, args.step):
            delay = args.start_at + i / args.rate - time.time()
            if delay > 0:
                time.sleep(delay)
            else:
                late += 1
            pool.submit(post, i)
    print(f"DONE late={late}", flush=True)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
