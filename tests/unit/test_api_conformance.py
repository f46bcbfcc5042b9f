"""Every installed service's API against its own OpenAPI document (schemathesis, in-process).

Generated requests, valid and invalid, as an administrator: no 5xx, every response (status,
content type, body) as documented, invalid input refused. Each service gets at least
``FUZZ_REQUESTS`` generated requests (default 2000, issue 8's "a few thousand per service"):
the operations share that budget as Hypothesis examples, schemathesis's coverage phase adds its
boundary cases on top, and a last test per service asserts the count, so a generation that
silently collapses fails. What makes thousands affordable (tests/support/fuzz.py): SQLite
without fsync, seeded history, one app per service, and no shrinking (a failure is reported
as found; ``FUZZ_RANDOM=1`` explores beyond the fixed examples).

Three of schemathesis's checks are left out, each for a reason:
* positive_data_acceptance — a schema-valid commune code may still not exist (a 422 is right);
* response_headers_conformance — ``X-Pagination`` is a JSON object in one header, which OpenAPI
  header serialisation cannot describe;
* missing_required_header — a PATCH without ``If-Match`` is a 428 (RFC 6585), not the 400/422 it expects.
And for GET only, negative_data_rejection: an unknown query parameter is ignored, not refused,
because the filter and the pagination arguments are parsed by separate schemas from one query
string (unknown fields in a JSON body are refused, and that is checked).
"""
from __future__ import annotations

import atexit
import math
import os
import shutil
import tempfile
from pathlib import Path

import schemathesis
from hypothesis import HealthCheck, Phase, settings
from schemathesis.specs.openapi import checks

from chassis.auth import Authenticator
from chassis.service import discover
from tests.conftest import TEST_SECRET
from tests.support.fuzz import RequestCount, fuzz_container

REQUESTS = int(os.environ.get("FUZZ_REQUESTS", "2000"))
RANDOM = bool(os.environ.get("FUZZ_RANDOM"))  # CI runs the same examples every time; set this to explore
EXCLUDED = [checks.positive_data_acceptance, checks.response_headers_conformance, checks.missing_required_header]
TOKEN = Authenticator(TEST_SECRET, None, "lanhmanh").issue("fuzzer", ["admin"])
SENT = RequestCount()


def _schema_of(name: str):
    tmp = Path(tempfile.mkdtemp(prefix=f"fuzz-{name}-"))
    atexit.register(shutil.rmtree, tmp, ignore_errors=True)  # the databases outlive the module's tests, not the run
    container = fuzz_container(name, tmp)
    return schemathesis.openapi.from_wsgi(f"/{name}/openapi.json", container.create_app())


def _examples_per_operation(schema) -> int:
    """The service's request budget shared among its operations (the coverage phase comes on top)."""
    return math.ceil(REQUESTS / max(1, len(list(schema.get_all_operations()))))


def _conformance_test(name: str, schema):
    @schema.parametrize()
    @settings(max_examples=_examples_per_operation(schema), deadline=None, derandomize=not RANDOM,
              database=None, phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
    def test(case):
        SENT[name] += 1
        excluded = EXCLUDED + ([checks.negative_data_rejection] if case.method == "GET" else [])
        case.call_and_validate(headers={"Authorization": f"Bearer {TOKEN}"}, excluded_checks=excluded)

    return test


def _count_test(name: str):
    def test():
        assert SENT[name] >= REQUESTS, (
            f"{name}: {SENT[name]} generated requests, fewer than {REQUESTS} (run it with its conformance test)")

    return test


for _name in discover():
    _schema = _schema_of(_name)
    globals()[f"test_{_name}_api_conforms_to_its_openapi_document"] = _conformance_test(_name, _schema)
    globals()[f"test_{_name}_fuzz_sent_at_least_FUZZ_REQUESTS_requests"] = _count_test(_name)
