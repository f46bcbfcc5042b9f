"""Every installed service's API against its own OpenAPI document (schemathesis, in-process).

Generated requests, valid and invalid, as an administrator: no 5xx, every response (status,
content type, body) as documented, invalid input refused. ``FUZZ_EXAMPLES`` raises the number
of examples per operation (default 25; issue 8 asks for thousands per service in a longer run).

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

import os
import tempfile
from pathlib import Path

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi import checks

from chassis.auth import Authenticator
from chassis.service import bootstrap, discover
from chassis.transport.embedded import EmbeddedTransport
from tests.conftest import TEST_SECRET, make_config

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "25"))
RANDOM = bool(os.environ.get("FUZZ_RANDOM"))  # CI runs the same examples every time; set this to explore
EXCLUDED = [checks.positive_data_acceptance, checks.response_headers_conformance, checks.missing_required_header]
TOKEN = Authenticator(TEST_SECRET, None, "lanhmanh").issue("fuzzer", ["admin"])


def _schema_of(name: str):
    tmp = Path(tempfile.mkdtemp(prefix=f"fuzz-{name}-"))
    transport = EmbeddedTransport(f"sqlite:///{tmp}/events.db", partitions=3)
    container = bootstrap(discover((name,))[name], make_config(name, tmp), transport)
    container.migrate()
    transport.ensure_topics(container.topics())
    return schemathesis.openapi.from_wsgi(f"/{name}/openapi.json", container.create_app())


def _conformance_test(name: str):
    schema = _schema_of(name)

    @schema.parametrize()
    @settings(max_examples=EXAMPLES, deadline=None, derandomize=not RANDOM, database=None,
              suppress_health_check=list(HealthCheck))
    def test(case):
        excluded = EXCLUDED + ([checks.negative_data_rejection] if case.method == "GET" else [])
        case.call_and_validate(headers={"Authorization": f"Bearer {TOKEN}"}, excluded_checks=excluded)

    return test


for _name in discover():
    globals()[f"test_{_name}_api_conforms_to_its_openapi_document"] = _conformance_test(_name)
