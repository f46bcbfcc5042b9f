"""Benchmark 6 of issue 9: resident memory of each process, idle and under the load of benchmark 2.

Read straight from ``/proc/<pid>/status`` (``VmRSS``), no dependency. A *group* is what one command
started: ``lanhmanh serve`` (the gunicorn master and its workers, found as its children) or
``lanhmanh worker`` (one process). `MemorySampler` samples every group every 0.5 s on a thread and
keeps, per process and per group sum, the highest value seen; `snapshot` takes one sample (the idle
figure, after start-up). Figures are in MiB.
"""
from __future__ import annotations

import threading
from pathlib import Path

PROC = Path("/proc")


def rss_kib(pid: int) -> int | None:
    """The process's resident set size in KiB, or None when it is gone."""
    try:
        for line in (PROC / str(pid) / "status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except (OSError, ValueError):
        return None
    return 0  # a zombie has no VmRSS line


def children(pid: int) -> list[int]:
    """The direct children of ``pid`` (gunicorn's workers of a master), oldest first."""
    found = []
    for stat in PROC.glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == pid:  # fields: state, ppid, ...; field 19 is the start time
            found.append((int(fields[19]), int(stat.parent.name)))
    return [child for _, child in sorted(found)]


def group_processes(kind: str, pid: int) -> dict[str, int]:
    """Name → pid of every process of a group: ``web`` (master + workers) or ``worker``."""
    if kind == "worker":
        return {"worker": pid}
    return {"web master": pid, **{f"web worker {i}": child for i, child in enumerate(children(pid), 1)}}


def sample(groups: dict[str, tuple[str, int]]) -> dict[str, dict[str, int]]:
    """One reading, KiB: group label → process name → RSS (gone processes left out)."""
    reading = {}
    for label, (kind, pid) in groups.items():
        reading[label] = {name: kib for name, p in group_processes(kind, pid).items()
                          if (kib := rss_kib(p)) is not None}
    return reading


def mib(kib: int) -> float:
    return round(kib / 1024, 1)


def summarise(reading: dict[str, dict[str, int]]) -> dict:
    return {label: {"processes_mib": {name: mib(k) for name, k in procs.items()},
                    "total_mib": mib(sum(procs.values()))} for label, procs in reading.items()}


def snapshot(groups: dict[str, tuple[str, int]]) -> dict:
    """The idle figure: one reading, per process and per group."""
    return summarise(sample(groups))


class MemorySampler:
    """Samples ``groups`` every ``interval`` s until stopped; keeps the maximum of each process and of
    each group's sum (the sum's maximum is taken per reading, not as the sum of the maxima)."""

    def __init__(self, groups: dict[str, tuple[str, int]], interval: float = 0.5):
        self.groups = groups
        self.interval = interval
        self.peak: dict[str, dict[str, int]] = {}
        self.peak_total: dict[str, int] = {}
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="memory-sampler", daemon=True)

    def __enter__(self) -> "MemorySampler":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while True:
            self._record(sample(self.groups))
            if self._stop.wait(self.interval):
                self._record(sample(self.groups))  # the end of the load
                return

    def _record(self, reading: dict[str, dict[str, int]]) -> None:
        self.samples += 1
        for label, procs in reading.items():
            peak = self.peak.setdefault(label, {})
            for name, kib in procs.items():
                peak[name] = max(peak.get(name, 0), kib)
            self.peak_total[label] = max(self.peak_total.get(label, 0), sum(procs.values()))

    def result(self) -> dict:
        return {label: {"processes_mib": {name: mib(k) for name, k in procs.items()},
                        "total_mib": mib(self.peak_total[label])} for label, procs in self.peak.items()}
