"""Infrastructure of a test's own: a Kafka broker or a PostgreSQL cluster it may stop and resume
without disturbing the shared ones that `make test` started. A free port is bench.system's, and
so is `stop_processes` (the benchmarks start and stop processes the same way)."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

from bench.system import free_port

ROOT = Path(__file__).resolve().parents[2]


class _Scripted:
    """A server run by one of the project's scripts (start | stop | resume), with its own ports."""

    script: str
    env: dict

    def _run(self, command: str) -> None:
        subprocess.run(["bash", str(ROOT / self.script), command], env=self.env, check=True,
                       capture_output=True, timeout=120)

    def start(self):
        self._run("start")

    def stop(self):
        self._run("stop")

    def resume(self):
        self._run("resume")


class PrivateBroker(_Scripted):
    """A broker of this test's own, so that stopping it disturbs no other test."""

    script = "deploy/kafka/broker.sh"

    def __init__(self, tmp: Path):
        self.env = {**os.environ, "KAFKA_PORT": str(free_port()), "KAFKA_CONTROLLER_PORT": str(free_port()),
                    "LANHMANH_KAFKA_DIR": str(tmp / "kafka")}
        self.bootstrap = f"127.0.0.1:{self.env['KAFKA_PORT']}"


class PrivateDatabase(_Scripted):
    """A PostgreSQL cluster of this test's own, to stop and start again."""

    script = "deploy/scripts/postgres.sh"

    def __init__(self):
        port = free_port()
        self.env = {**os.environ, "PGPORT": str(port), "LANHMANH_PG_DIR": f"/tmp/lanhmanh-pg-fault-{port}"}
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
