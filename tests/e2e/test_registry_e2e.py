"""A user's path through the registry over HTTP, in the embedded and the distributed mode."""
from __future__ import annotations

import http.client
import time
import uuid
from urllib.parse import urlsplit

import pytest
import requests

pytestmark = pytest.mark.infra
BASE = "/registry/v1/establishments"


def new_establishment(**overrides) -> dict:
    body = {
        "name": f"Karaoke Hoa Hồng {uuid.uuid4().hex[:6]}", "business_type": "karaoke",
        "owner_name": "Lò Văn Thành", "address": "Số 12, đường Tô Hiệu", "commune_code": "03646",
        "operating_since": "2018-03-01",
    }
    body.update(overrides)
    return body


def test_a_registration_becomes_a_cloudevent_on_its_topic(system):
    request_id = f"e2e-{uuid.uuid4().hex}"
    response = requests.post(system.url(BASE), json=new_establishment(),
                             headers=system.headers("police", **{"X-Request-ID": request_id}), timeout=10)
    assert response.status_code == 201, response.text
    assert response.headers["X-Request-ID"] == request_id
    created = response.json()
    (event,) = system.events_for(created["id"], 1)
    assert event["specversion"] == "1.0"
    assert event["type"] == "vn.lanhmanh.registry.establishment.registered.v1"
    assert event["source"] == "/lanhmanh/registry"
    assert event["schemaversion"] == "1"
    assert event["correlationid"] == request_id
    assert event["data"]["name"] == created["name"]
    assert event["data"]["district_code"] == "116"
    assert "owner_name" not in event["data"]


def test_one_establishment_s_events_arrive_in_the_order_they_happened(system):
    headers = system.headers("culture_inspector")
    created = requests.post(system.url(BASE), json=new_establishment(), headers=headers, timeout=10).json()
    for status, reason in (("suspended", "Vi phạm giờ hoạt động"), ("active", "Đã khắc phục"),
                           ("revoked", "Tái phạm")):
        response = requests.post(system.url(f"{BASE}/{created['id']}/status"), headers=headers, timeout=10,
                                 json={"status": status, "reason": reason})
        assert response.status_code == 201, response.text
    events = system.events_for(created["id"], 4)
    assert [e["data"].get("status") for e in events] == ["active", "suspended", "active", "revoked"]


def test_search_ignores_diacritics(system):
    headers = system.headers("admin")
    marker = uuid.uuid4().hex[:8]
    requests.post(system.url(BASE), json=new_establishment(name=f"Nhà nghỉ Đồng Xuân {marker}",
                                                           business_type="accommodation"),
                  headers=headers, timeout=10).raise_for_status()
    found = requests.get(system.url(BASE), params={"q": f"nha nghi dong xuan {marker}"}, headers=headers, timeout=10)
    assert [e["name"] for e in found.json()] == [f"Nhà nghỉ Đồng Xuân {marker}"]


def test_a_retried_post_with_the_same_idempotency_key_creates_one_record(system):
    headers = system.headers("police", **{"Idempotency-Key": uuid.uuid4().hex})
    body = new_establishment()
    # Several attempts: under gunicorn they land on different workers.
    responses = [requests.post(system.url(BASE), json=body, headers=headers, timeout=10) for _ in range(4)]
    assert {r.status_code for r in responses} == {201}
    assert len({r.json()["id"] for r in responses}) == 1
    listed = requests.get(system.url(BASE), params={"q": body["name"]}, headers=headers, timeout=10)
    assert len(listed.json()) == 1


def test_the_same_post_sent_at_once_several_times_records_once_and_answers_each_alike(system):
    from concurrent.futures import ThreadPoolExecutor

    headers = system.headers("police", **{"Idempotency-Key": uuid.uuid4().hex})
    body = new_establishment()
    # A client that lost its connection and retried at once, several times: the attempts overlap.
    with ThreadPoolExecutor(8) as pool:
        responses = list(pool.map(lambda _: requests.post(system.url(BASE), json=body, headers=headers, timeout=30),
                                  range(8)))
    assert [r.status_code for r in responses] == [201] * 8
    assert len({r.json()["id"] for r in responses}) == 1
    assert sum(r.headers.get("Idempotent-Replayed") != "true" for r in responses) == 1
    listed = requests.get(system.url(BASE), params={"q": body["name"]}, headers=headers, timeout=10)
    assert len(listed.json()) == 1


def test_a_stale_write_is_refused_with_412(system):
    headers = system.headers("admin")
    created = requests.post(system.url(BASE), json=new_establishment(), headers=headers, timeout=10).json()
    item = system.url(f"{BASE}/{created['id']}")
    etag = requests.get(item, headers=headers, timeout=10).headers["ETag"]
    first = requests.patch(item, json={"employees": 12}, headers={**headers, "If-Match": etag}, timeout=10)
    assert first.status_code == 200
    second = requests.patch(item, json={"employees": 3}, headers={**headers, "If-Match": etag}, timeout=10)
    assert second.status_code == 412
    assert second.headers["Content-Type"].startswith("application/problem+json")
    assert requests.get(item, headers=headers, timeout=10).json()["employees"] == 12


def test_bad_input_and_missing_credentials_get_problem_documents(system):
    bad = requests.post(system.url(BASE), json=new_establishment(commune_code="99999"),
                        headers=system.headers("admin"), timeout=10)
    assert bad.status_code == 422
    assert bad.headers["Content-Type"].startswith("application/problem+json")
    assert "commune_code" in {e["field"] for e in bad.json()["errors"]}
    anonymous = requests.get(system.url(BASE), timeout=10)
    assert anonymous.status_code == 401
    assert anonymous.headers["Content-Type"].startswith("application/problem+json")


def test_docs_health_and_metrics_are_served(system):
    spec = requests.get(system.url("/registry/openapi.json"), timeout=10).json()
    assert spec["openapi"].startswith("3.")
    assert "/registry/v1/establishments/{establishment_id}/reviews" in spec["paths"]
    assert "swagger-ui" in requests.get(system.url("/registry/docs"), timeout=10).text
    assert requests.get(system.url("/registry/healthz"), timeout=10).status_code == 200
    ready = requests.get(system.url("/registry/readyz"), timeout=10).json()
    assert ready["checks"] == {"database": True, "events": True}
    for _ in range(6):
        requests.get(system.url("/registry/healthz"), timeout=10)
    metrics = requests.get(system.base_urls["registry"] + "/metrics", timeout=10).text  # the registry's process
    healthz = [line for line in metrics.splitlines()
               if line.startswith("lanhmanh_http_requests_total") and 'route="/registry/healthz"' in line]
    assert healthz and sum(float(line.rsplit(" ", 1)[1]) for line in healthz) >= 7


def test_a_connection_kept_alive_by_a_gateway_is_still_served_after_seconds_idle(system):
    """A gateway (nginx, a load balancer) keeps idle connections to a service and sends the next
    request on one of them: the service must not close it after a few seconds, or the gateway
    answers 502 for a request that no service saw (gunicorn closes them after 2 s unless told)."""
    url = urlsplit(system.url("/registry/healthz"))
    connection = http.client.HTTPConnection(url.hostname, url.port, timeout=10)
    try:
        connection.request("GET", url.path)
        first = connection.getresponse()
        first.read()
        kept = connection.sock
        assert first.status == 200 and kept is not None  # HTTP/1.1: the connection stays open
        time.sleep(4)
        connection.request("GET", url.path)
        second = connection.getresponse()
        second.read()
        assert connection.sock is kept and second.status == 200
    finally:
        connection.close()
