"""The worker: the outbox relay, the consumers and the housekeeping (chassis/housekeeping.py) of
one or more services, each on a thread.

In distributed mode a service's worker is its own process (`lanhmanh worker SERVICE`),
scaled apart from its web process; workers of one service share a consumer group. In
the embedded mode (`lanhmanh run`) the same threads run inside the one process.
"""
from __future__ import annotations

import logging
import threading

from chassis import logs

log = logging.getLogger(__name__)


class Worker:
    def __init__(self, containers: list, relay: bool = True, consumers: bool = True):
        self.containers = containers
        self.with_relay = relay
        self.with_consumers = consumers
        self.stop_event = threading.Event()
        self.threads: list[threading.Thread] = []

    def start(self) -> "Worker":
        for c in self.containers:
            self._ensure_topics(c)
        for c in self.containers:
            name = c.service.name
            if self.with_relay and c.service.publishes:  # a service that publishes nothing has no relay
                relay = c.relay()
                self._spawn(name, f"{name}-relay", lambda r=relay, cfg=c.config: r.run(
                    self.stop_event, cfg.relay_poll_interval, cfg.relay_idle_interval))
            keeper = c.housekeeping()
            self._spawn(name, f"{name}-housekeeping", lambda k=keeper, cfg=c.config: k.run(
                self.stop_event, cfg.housekeeping_interval))
            if self.with_consumers:
                for runner in c.consumer_runners():
                    self._spawn(name, f"{name}-{runner.spec.name}", lambda r=runner: r.run(self.stop_event))
        return self

    def _ensure_topics(self, c) -> None:
        """Create the service's topics, waiting (with backoff) for a broker that is not up yet."""
        delay = 0.5
        while not self.stop_event.is_set():
            try:
                c.transport.ensure_topics(c.topics())
                return
            except Exception:  # noqa: BLE001 - broker not reachable yet
                log.warning("cannot create topics yet; retrying", exc_info=True, extra={"retry_in_s": delay})
                self.stop_event.wait(delay)
                delay = min(delay * 2, 30.0)

    def _spawn(self, service: str, name: str, target) -> None:
        def labelled():
            with logs.working_for(service):
                target()

        thread = threading.Thread(target=labelled, name=name, daemon=True)
        thread.start()
        self.threads.append(thread)

    def stop(self, timeout: float = 10.0) -> None:
        self.stop_event.set()
        for thread in self.threads:
            thread.join(timeout)
        log.info("worker stopped")

    def wait(self) -> None:
        """Block until `stop` is called (from a signal handler)."""
        while not self.stop_event.wait(1.0):
            pass
