"""What a test saw a service send to its database."""
from __future__ import annotations

import re
from contextlib import contextmanager

from sqlalchemy import event


@contextmanager
def selects_from(engine, table: str):
    """The ``SELECT``s reading ``table`` that ``engine`` runs inside the block (a list filled as they run)."""
    reads = re.compile(rf"^\s*SELECT\b.*\bFROM {re.escape(table)}\b", re.IGNORECASE | re.DOTALL)
    seen: list[str] = []

    def record(conn, cursor, statement, *_):
        if reads.search(statement):
            seen.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)
