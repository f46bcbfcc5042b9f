"""Bad input and HTTP hardening on every installed service (issue 8, "Bad input" and "Security").

In-process on SQLite with one embedded event log (the world of test_security_matrix): oversized
bodies, wrong content types, malformed JSON, unknown fields, huge pages, SQL and script injection in
text fields and searches, and the security headers on every response, errors included. Refused
input never stores anything (no service's outbox grows) and never is a 5xx.
"""
from __future__ import annotations

import json
import uuid

import pytest

from tests.unit.test_security_matrix import ADMIN, CHIENG_LE, INSTALLED, TODAY, World, tip_body

PROBLEM = "application/problem+json"
INJECTIONS = ("' OR 1=1 --", "<script>alert(1)</script>", "%", "_", "'; DROP TABLE establishments; --",
              "\\", '"', "Robert'); --", "${jndi:ldap://x}", "{{7*7}}")
#: Reference data documented as cacheable (services/inspection/README.md): no personal or case data.
CACHEABLE = {"/inspection/v1/checklists": "private, max-age=3600", "/inspection/v1/violation-codes": "private, max-age=3600"}
HEADERS = {"X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY", "Referrer-Policy": "no-referrer"}


def _person(**overrides) -> dict:
    return {"full_name": "Lường Thị Kiểm Tra", "birth_year": 1999, "sex": "female", "ethnicity": "Thái",
            "commune_code": CHIENG_LE, **overrides}


# One POST with a valid body, and one paged collection, per service.
WRITES = {
    "registry": ("/registry/v1/establishments", lambda ids: {
        "name": f"Karaoke {uuid.uuid4().hex[:6]}", "business_type": "karaoke", "owner_name": "Lò Văn A",
        "address": "Bản Hài", "commune_code": CHIENG_LE, "operating_since": "2019-01-01"}),
    "inspection": ("/inspection/v1/plans", lambda ids: {
        "name": "Kiểm tra", "kind": "specialised", "agency": "culture", "scope": "district",
        "district_code": "116", "period_start": "2020-01-01", "period_end": "2020-06-30"}),
    "cases": ("/cases/v1/tips", lambda ids: tip_body()),
    "support": ("/support/v1/persons", lambda ids: _person()),
    "reporting": ("/reporting/v1/commune-reports", lambda ids: {
        "commune_code": CHIENG_LE, "period": f"2020{uuid.uuid4().int % 9 + 1:02d}"}),
}
LISTS = {"registry": "/registry/v1/establishments", "inspection": "/inspection/v1/inspections",
         "cases": "/cases/v1/cases", "support": "/support/v1/persons", "reporting": "/reporting/v1/commune-reports"}
SERVICES = sorted(INSTALLED & set(WRITES))


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    w = World(tmp_path_factory.mktemp("hardening"))
    w.seed()
    yield w
    for c in w.containers.values():
        c.dispose()


def assert_problem(response, status: int | tuple) -> dict:
    statuses = status if isinstance(status, tuple) else (status,)
    assert response.status_code in statuses, response.get_data(as_text=True)[:400]
    assert response.mimetype == PROBLEM
    body = response.get_json()
    assert body["status"] == response.status_code and body["title"] and body["detail"]
    assert_headers(response)
    return body


def assert_headers(response, v1: bool = True) -> None:
    for name, value in HEADERS.items():
        assert response.headers.get(name) == value, (name, response.status_code)
    if v1:
        path = response.request.path if response.request is not None else ""
        expected = CACHEABLE.get(path, "no-store") if response.status_code < 400 else "no-store"
        assert response.headers.get("Cache-Control") == expected, (path, response.status_code)


def fields_named(response) -> set:
    return {e.get("field") for e in response.get_json().get("errors", [])}


@pytest.mark.parametrize("service", SERVICES)
def test_an_oversized_body_is_413(world, service):
    path, body = WRITES[service]
    before = world.outbox_rows()
    huge = json.dumps({**body(world.ids), "padding": "x" * 1_100_000})
    response = world.call(service, "POST", path, ADMIN, data=huge, content_type="application/json")
    assert_problem(response, 413)
    assert world.outbox_rows() == before


@pytest.mark.parametrize("service", SERVICES)
@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", "application/xml",
                                          "multipart/form-data; boundary=x", None])
def test_a_wrong_content_type_is_a_4xx(world, service, content_type):
    path, body = WRITES[service]
    before = world.outbox_rows()
    kwargs = {"data": json.dumps(body(world.ids))}
    if content_type:
        kwargs["content_type"] = content_type
    response = world.call(service, "POST", path, ADMIN, **kwargs)
    assert 400 <= response.status_code < 500, response.get_data(as_text=True)[:300]
    assert_problem(response, response.status_code)
    assert world.outbox_rows() == before


@pytest.mark.parametrize("service", SERVICES)
@pytest.mark.parametrize("raw", ['{"name": ', "{'single': 'quotes'}", "not json", '{"a": 1}}', "\xff\xfe"])
def test_malformed_json_is_400(world, service, raw):
    path, _ = WRITES[service]
    before = world.outbox_rows()
    response = world.call(service, "POST", path, ADMIN, data=raw.encode("latin-1"), content_type="application/json")
    body = assert_problem(response, 400)
    assert "JSON" in body["detail"]
    assert world.outbox_rows() == before


@pytest.mark.parametrize("service", SERVICES)
def test_a_json_body_that_is_not_an_object_is_a_4xx(world, service):
    path, _ = WRITES[service]
    for raw in ("[]", "null", "42", '"text"'):
        response = world.call(service, "POST", path, ADMIN, data=raw, content_type="application/json")
        assert_problem(response, (400, 422))


@pytest.mark.parametrize("service", SERVICES)
def test_unknown_fields_are_422_naming_them(world, service):
    path, body = WRITES[service]
    before = world.outbox_rows()
    response = world.call(service, "POST", path, ADMIN, json={**body(world.ids), "is_admin": True, "zz_extra": 1})
    assert_problem(response, 422)
    assert {"is_admin", "zz_extra"} <= fields_named(response)
    assert world.outbox_rows() == before


@pytest.mark.parametrize("service", SERVICES)
@pytest.mark.parametrize("query", [{"page_size": 100_000}, {"page_size": 201}, {"page_size": 0}, {"page_size": -1},
                                   {"page": 0}, {"page": 10**12}, {"page_size": "lots"}, {"page": "1e9"}])
def test_absurd_paging_is_422(world, service, query):
    response = world.call(service, "GET", LISTS[service], ADMIN, query_string=query)
    body = assert_problem(response, 422)
    assert set(query) & fields_named(response), body


@pytest.mark.parametrize("service", SERVICES)
def test_the_largest_page_is_served(world, service):
    response = world.call(service, "GET", LISTS[service], ADMIN, query_string={"page_size": 200})
    assert response.status_code == 200
    assert_headers(response)


# -- injection: stored verbatim or refused, never a 5xx; searches take it as text ---------------------------

TEXT_WRITES = {
    "registry": lambda text, ids: ("POST", "/registry/v1/establishments", {
        "name": f"Karaoke {text}", "business_type": "karaoke", "owner_name": text, "address": text,
        "commune_code": CHIENG_LE, "operating_since": "2019-01-01"}),
    "inspection": lambda text, ids: ("POST", "/inspection/v1/plans", {
        "name": text, "kind": "specialised", "agency": "culture", "scope": "district",
        "district_code": "116", "period_start": "2020-01-01", "period_end": "2020-06-30"}),
    "cases": lambda text, ids: ("POST", "/cases/v1/tips", {**tip_body(), "summary": text}),
    "support": lambda text, ids: ("POST", f"/support/v1/cases/{ids['support_case_id']}/tasks",
                                  {"title": text, "due_on": TODAY}),
    "reporting": lambda text, ids: ("POST", "/reporting/v1/commune-reports",
                                    {"commune_code": text, "period": "2020Q3"}),
}
SEARCHES = {
    "registry": ("/registry/v1/establishments", "q"), "cases": ("/cases/v1/cases", "q"),
    "inspection": ("/inspection/v1/violation-codes", "q"), "support": ("/support/v1/persons", "district_code"),
    "reporting": ("/reporting/v1/commune-reports", "commune_code"),
}


@pytest.mark.parametrize("service", SERVICES)
@pytest.mark.parametrize("text", INJECTIONS)
def test_injection_in_a_text_field_is_stored_verbatim_or_refused(world, service, text):
    method, path, body = TEXT_WRITES[service](text, world.ids)
    before = world.outbox_rows()
    response = world.call(service, method, path, ADMIN, json=body)
    assert response.status_code < 500, response.get_data(as_text=True)[:300]
    if response.status_code >= 400:
        assert_problem(response, response.status_code)
        assert world.outbox_rows() == before
        return
    assert response.status_code in (200, 201)
    location = response.headers.get("Location")
    stored = world.call(service, "GET", location or path, ADMIN) if location else response
    assert text in json.loads(stored.get_data(as_text=True)).__repr__() or text in stored.get_data(as_text=True) \
        or json.dumps(text)[1:-1] in stored.get_data(as_text=True), "stored verbatim"


@pytest.mark.parametrize("service", SERVICES)
@pytest.mark.parametrize("text", INJECTIONS)
def test_injection_in_a_search_is_a_4xx_or_a_text_search(world, service, text):
    path, param = SEARCHES[service]
    response = world.call(service, "GET", path, ADMIN, query_string={param: text, "page_size": 200})
    assert response.status_code < 500, response.get_data(as_text=True)[:300]
    assert_headers(response)
    if response.status_code >= 400:
        assert_problem(response, response.status_code)


def test_registry_name_search_takes_wildcards_and_quotes_as_text(world):
    if "registry" not in INSTALLED:
        pytest.skip("registry is not installed")
    marker = uuid.uuid4().hex[:6]
    names = {text: f"Quán {marker} {text} cuối" for text in ("100%", "a_b", "O'Neil", "<b>x</b>")}
    for name in names.values():
        assert world.call("registry", "POST", "/registry/v1/establishments", ADMIN, json={
            "name": name, "business_type": "bar", "owner_name": "Lò Văn A", "address": "Bản Hài",
            "commune_code": CHIENG_LE, "operating_since": "2019-01-01"}).status_code == 201
    world.call("registry", "POST", "/registry/v1/establishments", ADMIN, json={
        "name": f"Quán {marker} bình thường", "business_type": "bar", "owner_name": "Lò Văn B", "address": "Bản Hài",
        "commune_code": CHIENG_LE, "operating_since": "2019-01-01"})

    def found(q: str) -> set:
        response = world.call("registry", "GET", "/registry/v1/establishments", ADMIN,
                              query_string={"q": q, "page_size": 200})
        assert response.status_code == 200, response.get_json()
        return {e["name"] for e in response.get_json()}

    assert found(f"{marker} %") == set() and found("%") == {names["100%"]} | (found("%") - set(names.values()))
    assert names["100%"] in found(f"{marker} 100%") and len(found(f"{marker} 100%")) == 1
    assert found(f"{marker} a_b") == {names["a_b"]}
    assert names["a_b"] not in found(f"{marker} a_c") and found(f"{marker} __") == set()
    assert found(f"{marker} O'Neil") == {names["O'Neil"]}
    assert found(f"{marker} ' OR 1=1 --") == set()
    assert found(f"{marker} <b>") == {names["<b>x</b>"]}
    assert found(f"Quán {marker}") == set(names.values()) | {f"Quán {marker} bình thường"}


# -- security headers on every kind of response ------------------------------------------------------------

@pytest.mark.parametrize("service", sorted(INSTALLED))
def test_security_headers_on_every_response_including_errors(world, service):
    list_path = LISTS.get(service, f"/{service}/v1/")
    v1_responses = [
        world.call(service, "GET", list_path, ADMIN),                                      # 200
        world.call(service, "GET", list_path),                                             # 401
        world.call(service, "GET", list_path, {"Authorization": "Bearer nonsense"}),       # 401
        world.call(service, "GET", f"/{service}/v1/no-such-thing", ADMIN),                  # 404
        world.call(service, "DELETE", list_path, ADMIN),                                   # 405
        world.call(service, "GET", list_path, ADMIN, query_string={"page_size": 10**6}),   # 422
        world.call(service, "POST", WRITES[service][0], ADMIN, data="{", content_type="application/json"),  # 400
    ]
    statuses = [r.status_code for r in v1_responses]
    assert statuses == [200, 401, 401, 404, 405, 422, 400], statuses
    for response in v1_responses:
        assert_headers(response)
        if response.status_code >= 400:
            assert response.mimetype == PROBLEM
    assert v1_responses[4].headers.get("Allow"), "a 405 says what is allowed"
    for path in (f"/{service}/healthz", f"/{service}/readyz", f"/{service}/openapi.json", "/metrics",
                 f"/{service}/docs", "/nowhere"):
        response = world.call(service, "GET", path)
        assert response.status_code < 500
        assert_headers(response, v1=False)
        assert response.headers.get("X-Request-ID")


def test_a_request_id_is_echoed_but_bounded(world):
    service = sorted(INSTALLED)[0]
    response = world.call(service, "GET", f"/{service}/healthz", {"X-Request-ID": "abc-123"})
    assert response.headers["X-Request-ID"] == "abc-123"
    response = world.call(service, "GET", f"/{service}/healthz", {"X-Request-ID": "x" * 5000})
    assert len(response.headers["X-Request-ID"]) <= 100
