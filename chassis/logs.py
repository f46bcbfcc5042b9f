"""JSON logs with the correlation id of the request or event being handled."""
from __future__ import annotations

import contextvars
import logging
import sys
import uuid
from contextlib import contextmanager

from pythonjsonlogger.json import JsonFormatter

correlation_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("correlation_id", default=None)
causation_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("causation_id", default=None)
#: The service whose work is being done, where one process runs several (`make run`).
service_name: contextvars.ContextVar[str | None] = contextvars.ContextVar("service_name", default=None)


@contextmanager
def working_for(service: str):
    """Label the log lines of this block (this thread) with ``service``."""
    token = service_name.set(service)
    try:
        yield
    finally:
        service_name.reset(token)


def new_correlation_id() -> str:
    return uuid.uuid4().hex


class _ContextFilter(logging.Filter):
    def __init__(self, service: str):
        super().__init__()
        self.service = service

    def filter(self, record: logging.LogRecord) -> bool:
        record.correlation_id = correlation_id.get()
        if not hasattr(record, "service"):
            record.service = service_name.get() or self.service
        return True


def configure(service: str, level: str = "INFO") -> None:
    """Send JSON lines to stderr, labelled ``service`` unless `working_for` says whose work it is.
    Idempotent: a second call replaces the handler."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        JsonFormatter(
            "%(asctime)s %(levelname)s %(name)s %(message)s %(service)s %(correlation_id)s",
            rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
        )
    )
    handler.addFilter(_ContextFilter(service))
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, "_lanhmanh", False)]:
        root.removeHandler(old)
    handler._lanhmanh = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level)
    logging.getLogger("kafka").setLevel(max(logging.WARNING, root.level))
