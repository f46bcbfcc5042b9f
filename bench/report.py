"""Merge the parts of a `make bench` run into one JSON file and print the table."""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
from datetime import datetime, timezone
from pathlib import Path


def machine() -> dict:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        mem_kb = int(next(l for l in Path("/proc/meminfo").read_text().splitlines()
                          if l.startswith("MemTotal")).split()[1])
    except (OSError, StopIteration, ValueError):
        mem_kb = 0
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    except OSError:
        commit = ""
    return {"cpu": cpu, "cpus": os.cpu_count(), "memory_gb": round(mem_kb / 1024 / 1024, 1),
            "python": platform.python_version(), "kernel": platform.release(), "commit": commit}


def _met(verdict: str) -> str:
    """`bench.bracket`'s verdict as the table says it."""
    return {"yes": "yes", "no": "NO", "unsteady": "unsteady (run again)"}[verdict]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("parts", nargs="+")
    args = ap.parse_args()
    data: dict = {"when": datetime.now(timezone.utc).isoformat(timespec="seconds"), "machine": machine()}
    for part in args.parts:
        content = json.loads(Path(part).read_text())
        name = Path(part).stem
        if name == "pipeline":
            data.update(content)
        elif name == "backlog":
            data.setdefault("load", {}).update(content)
        else:
            data.setdefault(name, {}).update(content)
    Path(args.out).write_text(json.dumps(data, indent=2))

    rows = [("benchmark", "figure", "baseline", "ratio", "goal", "met")]
    if "pipeline" in data:
        p = data["pipeline"]
        b = p["baseline"]
        workers = p.get("reporting_workers", 1)
        rows.append((f"1 event pipeline, {workers} reporting worker{'s' if workers > 1 else ''}",
                     f"{p['events_per_s']:.0f} ev/s ({p['applied']}/{p['events']})",
                     f"{b['events_per_s']:.0f} ev/s kafka-python ({b['before']['events_per_s']:.0f} before, "
                     f"{b['after']['events_per_s']:.0f} after)", f"{p['ratio']:.3f}", ">= 0.5", _met(p["verdict"])))
        for count, other in p.get("by_reporting_workers", {}).items():
            if int(count) != workers:
                rows.append((f"  the same, {count} reporting worker{'s' if int(count) > 1 else ''}",
                             f"{other['events_per_s']:.0f} ev/s", f"{other['baseline_events_per_s']:.0f} ev/s (its own)",
                             f"{other['ratio']:.3f}", "-", _met(other["verdict"])))
    if "replay" in data:
        r = data["replay"]
        rows.append(("5 replay (rebuild reporting)", f"{r['events_per_s']:.0f} ev/s ({r['messages']} messages)",
                     f"{r['baseline_events_per_s']:.0f} ev/s kafka-python", f"{r['ratio']:.3f}", "(none set)",
                     "rebuilt == live" if r["equals_live"] else "rebuilt != live"))
    writes = data.get("http_writes")
    if writes:
        for label in ("establishments", "results"):
            w, b = writes[label], writes[label]["baseline"]
            rows.append((f"2 HTTP writes: {label}", f"{w['requests_per_s']:.0f} req/s, p99 {w['p99_ms']:.0f} ms, "
                         f"{w['errors']} errors", f"{b['requests_per_s']:.0f} req/s ({b['before']['requests_per_s']:.0f} "
                         f"before, {b['after']['requests_per_s']:.0f} after), p99 {b['p99_ms']:.0f} ms bare Flask",
                         f"{w['throughput_ratio']:.2f} / p99 x{w['p99_ratio']:.2f}", ">= 0.7 / p99 <= x2",
                         _met(w["verdict"])))
        for label, a in writes.get("web_tier_alone", {}).items():
            rows.append((f"  the same, web tier alone: {label}",
                         f"{a['requests_per_s']:.0f} req/s, p99 {a['p99_ms']:.0f} ms, {a['errors']} errors; workers "
                         + (f"caught up in {a['caught_up_s']:.0f} s" if a["caught_up"] else "did NOT catch up"),
                         "(the same two runs)", f"{a['throughput_ratio']:.2f} / p99 x{a['p99_ratio']:.2f}", "(recorded)",
                         "-"))
    memory = data.get("memory")
    if memory:
        for label, m in memory["under_load_peak"].items():
            idle = memory["idle"].get(label, {}).get("total_mib", float("nan"))
            rows.append((f"6 memory: {label}", f"idle {idle:.0f} MiB, peak under (2) {m['total_mib']:.0f} MiB",
                         "-", "-", "recorded", "-"))
    for f in data.get("freshness", []):
        goal = "p95 < 1 s @ 200/s" if f["rate"] >= 200 else "(goal is @ 200/s)"
        met = ("yes" if f["p95_s"] < 1 else "NO") if f["rate"] >= 200 else "-"
        rows.append((f"3 freshness {f['rate']:.0f}/s", f"p50 {f['p50_s']*1000:.0f} / p95 {f['p95_s']*1000:.0f} / "
                     f"p99 {f['p99_s']*1000:.0f} ms", "-", "-", goal, met))
    if "load" in data and "all" in data["load"]:
        lo = data["load"]
        a = lo["all"]
        rows.append((f"load {lo['rate']:.0f} req/s {lo['seconds']:.0f} s",
                     f"p50 {a['p50_ms']:.0f} / p95 {a['p95_ms']:.0f} / p99 {a['p99_ms']:.0f} ms, "
                     f"{lo['errors']} errors of {lo['completed']}", "-", "-", "0 errors",
                     "yes" if lo["errors"] == 0 and lo["completed"] == lo["scheduled"] else "NO"))
    for level, r in data.get("reports", {}).get("levels", {}).items():
        rows.append((f"4 reports {level} {r['unit']}",
                     f"trend p95 {r['ours']['p95_ms']:.1f} ms; same numbers p95 {r['ours_same_numbers']['p95_ms']:.2f} ms",
                     f"p95 {r['baseline']['p95_ms']:.1f} ms raw GROUP BY", f"{r['ratio']:.1f}",
                     "p95 < 100 ms, ratio >= 20", "yes" if r["met"] else "NO"))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    print()
    for i, r in enumerate(rows):
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)))
        if i == 0:
            print("  ".join("-" * w for w in widths))
    print(f"\nwritten to {args.out}")


if __name__ == "__main__":
    main()
