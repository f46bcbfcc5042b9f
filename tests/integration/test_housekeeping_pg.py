"""Housekeeping on PostgreSQL and Kafka: the check of tests/unit/test_housekeeping.py (old published
outbox rows, inbox rows and idempotency answers go; pending events, recent rows and the skipping of
redeliveries stay), with the chunked deletes on the real database and the redeliveries read from the broker."""
from __future__ import annotations

import pytest

from tests.unit.test_housekeeping import check_housekeeping

pytestmark = pytest.mark.infra


def test_old_rows_go_and_what_is_still_needed_stays_on_postgresql(pg_registry, pg_probe, kafka, token):
    check_housekeeping(pg_registry, pg_probe, kafka, token("admin"))
