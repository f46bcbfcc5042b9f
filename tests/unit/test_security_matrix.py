"""The access matrix of docs/security.md, called cell by cell, and the token checks (issue 8, "Security").

Every installed service runs in-process on SQLite with one embedded event log, so that the
resources of district 116 exist in every service (the registry's establishment reaches
inspection, cases and reporting by its events). Each cell calls its endpoint with a valid-enough
request as the role and district claim of the cell and checks the designed answer
(tests/support/security_matrix.py). A refused write changes nothing: no service's outbox grows.
"""
from __future__ import annotations

import base64
import json
import re
import threading
import uuid
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import func, select

from chassis.auth import Authenticator
from chassis.service import bootstrap, discover
from chassis.transport.embedded import EmbeddedTransport
from tests.conftest import TEST_SECRET, make_config
from tests.support import security_matrix as matrix

ROOT = Path(__file__).resolve().parents[2]
CHIENG_LE = "03646"  # district 116
TODAY = (datetime.now(timezone.utc) + timedelta(hours=7)).date().isoformat()  # Vietnam's date
AUTH = Authenticator(TEST_SECRET, None, "lanhmanh")
INSTALLED = set(discover())


def bearer(role: str, district: str | None = None, sub: str | None = None) -> dict:
    token = AUTH.issue(sub or f"{role}-{district or 'all'}", [role], district)
    return {"Authorization": f"Bearer {token}"}


ADMIN = bearer("admin", sub="matrix-admin")


class World:
    """Every service, one event log, and one resource of each kind in district 116."""

    def __init__(self, tmp: Path):
        self.transport = EmbeddedTransport(f"sqlite:///{tmp}/events.db", partitions=3)
        self.containers, self.clients, self.ids = {}, {}, {}
        for name, service in discover().items():
            container = bootstrap(service, make_config(name, tmp), self.transport)
            container.migrate()
            self.transport.ensure_topics(container.topics())
            app = container.create_app()
            app.testing = True
            self.containers[name], self.clients[name] = container, app.test_client()

    def deliver(self) -> None:
        for _ in range(3):
            for c in self.containers.values():
                while c.relay().run_once():
                    pass
            for c in self.containers.values():
                for runner in c.consumer_runners():
                    while runner.run_once(timeout=0.01, max_records=500):
                        pass

    def call(self, service, method, path, headers=None, **kwargs):
        return getattr(self.clients[service], method.lower())(path, headers=headers or {}, **kwargs)

    def made(self, service, method, path, **kwargs) -> dict:
        response = self.call(service, method, path, ADMIN, **kwargs)
        assert response.status_code in (200, 201), (path, response.get_json())
        return response.get_json()

    def outbox_rows(self) -> int:
        total = 0
        for c in self.containers.values():
            table = c.service.tables.get("outbox")
            if table is not None:
                with c.engine.connect() as conn:
                    total += conn.execute(select(func.count()).select_from(table)).scalar_one()
        return total

    def etag(self, service, path) -> str:
        return self.call(service, "GET", path, ADMIN).headers.get("ETag", '"none"')

    def seed(self) -> None:
        ids = self.ids
        if "registry" in self.containers:
            ids["establishment_id"] = self.made("registry", "POST", "/registry/v1/establishments", json={
                "name": "Karaoke Ma Trận", "business_type": "karaoke", "owner_name": "Lò Văn Thành",
                "address": "Số 1, đường Tô Hiệu", "commune_code": CHIENG_LE, "operating_since": "2018-03-01"})["id"]
            self.deliver()
        if "inspection" in self.containers:
            ids["plan_id"] = self.made("inspection", "POST", "/inspection/v1/plans", json={
                "name": "Kiểm tra 2020", "kind": "specialised", "agency": "culture", "scope": "district",
                "district_code": "116", "period_start": "2020-01-01", "period_end": "2020-12-31"})["id"]
            ids["inspection_id"] = self.made("inspection", "POST", "/inspection/v1/inspections", json={
                "establishment_id": ids["establishment_id"], "agency": "culture", "scheduled_on": "2020-05-04"})["id"]
            flagged = self.made("inspection", "POST", "/inspection/v1/inspections", json={
                "establishment_id": ids["establishment_id"], "agency": "police", "scheduled_on": "2020-04-04"})["id"]
            self.made("inspection", "POST", f"/inspection/v1/inspections/{flagged}/result", json=result_body())
            out = self.containers["inspection"].service.tables["outbox"]
            with self.containers["inspection"].engine.connect() as conn:
                rows = conn.execute(select(out.c.event_type, out.c.payload)).all()
            ids["referral_id"] = next(json.loads(r.payload)["data"]["referral_id"] for r in rows
                                      if r.event_type.endswith("referral.police.v1"))
            self.deliver()
        if "cases" in self.containers:
            ids["tip_id"] = self.made("cases", "POST", "/cases/v1/tips", json=tip_body())["id"]
            ids["case_id"] = self.made("cases", "POST", "/cases/v1/cases", json=case_body())["id"]
            ids["hotspot_id"] = self.made("cases", "POST", "/cases/v1/hotspots", json=hotspot_body(ids["tip_id"]))["id"]
        if "support" in self.containers:
            person = self.made("support", "POST", "/support/v1/persons", json=person_body("014301000001"))
            ids["person_id"] = person["id"]
            self.made("support", "POST", f"/support/v1/persons/{person['id']}/consents", json=consent_body())
            twin = self.made("support", "POST", "/support/v1/persons", json=person_body("014301000001"))
            ids["twin_id"] = twin["id"]
            ids["proposal_id"] = twin["merge_proposals"][0]["id"]
            ids["support_referral_id"] = self.made("support", "POST", "/support/v1/referrals",
                                                   json={"source": "walk_in", "district_code": "116"})["id"]
            other = self.made("support", "POST", "/support/v1/referrals",
                              json={"source": "walk_in", "district_code": "116"})["id"]
            ids["support_case_id"] = self.made("support", "POST", f"/support/v1/referrals/{other}/decision",
                                               json={"accepted": True, "person_id": person["id"]})["support_case_id"]
            case = f"/support/v1/cases/{ids['support_case_id']}"
            self.made("support", "POST", f"{case}/services", json={
                "service_type": "vocational_training", "delivered_on": TODAY, "course": "May mặc",
                "provider": "Trung tâm GDNN", "started_on": TODAY})
            self.made("support", "POST", f"{case}/tasks", json={"title": "Thăm hỏi", "due_on": TODAY})
            written = self.made("support", "GET", case)
            ids["service_id"] = written["services"][-1]["id"]
            ids["task_id"] = written["tasks"][-1]["id"]
        if "reporting" in self.containers:
            self.deliver()
            ids["report_id"] = self.made("reporting", "POST", "/reporting/v1/commune-reports", json={
                "commune_code": CHIENG_LE, "period": "2020Q1", "activities_count": 2, "audience": 150,
                "media_items": 3})["id"]
            ids["reporting_plan_id"] = "33-KH-UBND-2020"


def result_body() -> dict:
    return {"conducted_on": "2020-04-04", "checklist": [{"item": "MD-DH", "answer": "yes"}],
            "violations": [{"code": "MD-02"}], "sanctions": [], "signs_of_prostitution": True,
            "people_identified": 1, "people_consenting_to_referral": 0}


def tip_body() -> dict:
    return {"source": "hotline", "commune_code": CHIENG_LE, "summary": "Có dấu hiệu chứa mại dâm",
            "received_at": "2020-03-02T09:00:00+07:00"}


def case_body() -> dict:
    return {"case_number": f"{uuid.uuid4().hex[:6]}/2020/QĐ-KTVA", "articles": ["327"], "commune_code": CHIENG_LE,
            "summary": "Chứa mại dâm", "opened_on": "2020-03-10"}


def hotspot_body(tip_id: str) -> dict:
    return {"commune_code": CHIENG_LE, "description": "Ven hồ sau 22 giờ", "kind": "public_place",
            "found_by": "tip", "tip_id": tip_id, "detected_on": "2020-03-05"}


def person_body(id_number: str | None = None) -> dict:
    return {"full_name": "Lường Thị Ma Trận", "birth_year": 1999, "sex": "female", "ethnicity": "Thái",
            "commune_code": CHIENG_LE, "id_number": id_number or f"0143{uuid.uuid4().int % 10**8:08d}"}


def consent_body() -> dict:
    return {"given_on": TODAY, "services": ["legal_aid", "health_care", "vocational_training"]}


def request_for(world: World, endpoint: matrix.Endpoint) -> dict:
    """Method, path, query, body and extra headers of a valid-enough request for an endpoint."""
    ids = world.ids
    path = endpoint.path.replace("{period}", "2020S1").replace("{plan_id}", ids.get("plan_id", "")) \
        if endpoint.service == "inspection" else endpoint.path.replace("{period}", "2020S1")
    if endpoint.key == "POST /support/v1/persons/{person_id}/merge":
        path = path.replace("{person_id}", ids.get("twin_id", ""))  # the proposal is the twin's
    if endpoint.service == "support":
        path = path.replace("{referral_id}", ids.get("support_referral_id", "")) \
                   .replace("{case_id}", ids.get("support_case_id", ""))
    if endpoint.service == "reporting":
        path = path.replace("{plan_id}", ids.get("reporting_plan_id", ""))
    path = re.sub(r"\{(\w+)\}", lambda m: ids[m.group(1)], path)
    query, body, headers = {}, None, {}
    k, m = endpoint.key, endpoint.method
    bodies = {
        "POST /registry/v1/establishments": lambda: {
            "name": f"Massage {uuid.uuid4().hex[:6]}", "business_type": "massage", "owner_name": "Quàng Văn A",
            "address": "Bản Hài", "commune_code": CHIENG_LE, "operating_since": "2019-01-01"},
        "PATCH /registry/v1/establishments/{establishment_id}": lambda: {"employees": 9},
        "POST /registry/v1/establishments/{establishment_id}/status": lambda: {
            "status": "suspended", "reason": "Vi phạm ANTT", "effective_on": "2020-06-01"},
        "POST /registry/v1/establishments/{establishment_id}/reviews": lambda: {
            "period": "2020S1", "reviewed_on": "2020-06-10", "outcome": "compliant"},
        "POST /inspection/v1/plans": lambda: {
            "name": "Kiểm tra quý", "kind": "specialised", "agency": "culture", "scope": "district",
            "district_code": "116", "period_start": "2020-01-01", "period_end": "2020-06-30"},
        "POST /inspection/v1/inspections": lambda: {
            "establishment_id": ids["establishment_id"], "agency": "culture", "scheduled_on": "2020-06-04"},
        "PATCH /inspection/v1/inspections/{inspection_id}": lambda: {"notes": "Đổi lịch"},
        "POST /inspection/v1/inspections/{inspection_id}/result": lambda: {
            "conducted_on": "2020-05-04", "checklist": [], "violations": [], "sanctions": [],
            "signs_of_prostitution": False, "people_identified": 0, "people_consenting_to_referral": 0},
        "POST /cases/v1/tips": tip_body,
        "POST /cases/v1/tips/{tip_id}/verification": lambda: {},
        "POST /cases/v1/tips/{tip_id}/classification": lambda: {
            "classification": "administrative", "classified_at": "2020-03-06T10:00:00+07:00"},
        "POST /cases/v1/tips/{tip_id}/handling": lambda: {"note": "Xử phạt hành chính"},
        "POST /cases/v1/cases": case_body,
        "POST /cases/v1/cases/{case_id}/stages": lambda: {"stage": "investigation", "on": "2020-03-12"},
        "POST /cases/v1/cases/{case_id}/suspects": lambda: {"full_name": "Lò Văn B", "role": "operator",
                                                            "birth_year": 1980},
        "POST /cases/v1/cases/{case_id}/victims": lambda: {"count": 1, "identified_on": "2020-03-11"},
        "POST /cases/v1/hotspots": lambda: hotspot_body(ids["tip_id"]),
        "POST /cases/v1/hotspots/{hotspot_id}/elimination": lambda: {"on": "2020-04-20", "how": "Triệt xóa"},
        "POST /cases/v1/hotspots/{hotspot_id}/recurrence": lambda: {"on": "2020-07-01"},
        "POST /support/v1/persons": lambda: person_body(),
        "PATCH /support/v1/persons/{person_id}": lambda: {"phone": "0911222333"},
        "POST /support/v1/persons/{person_id}/consents": consent_body,
        "POST /support/v1/persons/{person_id}/consents/withdrawal": lambda: {},
        "POST /support/v1/persons/{person_id}/merge": lambda: {"proposal_id": ids["proposal_id"], "confirm": False},
        "POST /support/v1/referrals": lambda: {"source": "walk_in", "district_code": "116"},
        "POST /support/v1/referrals/{referral_id}/decision": lambda: {"accepted": False, "reason": "Không đồng ý"},
        "POST /support/v1/cases": lambda: {"person_id": ids["person_id"]},
        "PATCH /support/v1/cases/{case_id}": lambda: {"needs": ["legal_aid"], "assessed_on": TODAY},
        "POST /support/v1/cases/{case_id}/services": lambda: {"service_type": "legal_aid", "delivered_on": TODAY},
        "POST /support/v1/cases/{case_id}/services/{service_id}/completion": lambda: {"completed_on": TODAY},
        "POST /support/v1/cases/{case_id}/tasks": lambda: {"title": "Gọi điện", "due_on": TODAY},
        "POST /support/v1/cases/{case_id}/tasks/{task_id}/completion": lambda: {},
        "POST /support/v1/cases/{case_id}/closure": lambda: {"outcome": "reintegrated"},
        "POST /reporting/v1/commune-reports": lambda: {"commune_code": CHIENG_LE, "period": "2020Q2"},
        "PATCH /reporting/v1/commune-reports/{report_id}": lambda: {"media_items": 4},
        "POST /reporting/v1/commune-reports/{report_id}/unlock": lambda: {"reason": "Sai số liệu quý I"},
    }
    if k in bodies:
        body = bodies[k]()
    elif m in ("POST", "PUT", "PATCH"):
        body = {}
    if k == "PUT /reporting/v1/plans/{plan_id}":
        plan = world.call("reporting", "GET", path, ADMIN)
        body = {key: v for key, v in plan.get_json().items() if key != "version"}
        headers["If-Match"] = plan.headers["ETag"]
    elif m == "PATCH":
        headers["If-Match"] = world.etag(endpoint.service, path)
    if endpoint.service == "reporting" and m == "GET":
        if "/indicators" in path or "/official-reports/" in path:
            query = {"org_unit": "116", "period": "2020"} if "trend" not in path else {"org_unit": "116", "year": 2020}
            if "/official-reports/" in path:
                query = {"org_unit": "116"}
        elif path.endswith("/org-units"):
            query = {"parent": "116"}
        elif path.endswith("/support-indicators"):
            query = {"period": "2020", "measure": "people_supported", "by": "sex"}
    if k == "GET /support/v1/persons/{person_id}":
        query = {}
    if k == "GET /cases/v1/tips/overdue" or k == "GET /cases/v1/cases/overdue":
        query = {"page_size": 200}
    elif m == "GET" and endpoint.scope == "list":
        query = {**query, "page_size": 200} if endpoint.service != "reporting" or "commune" in path else query
    return {"path": path, "query": query, "json": body, "headers": headers}


# the id a filtered list must not show to another district, per list endpoint
LIST_RESOURCE = {
    "GET /registry/v1/establishments": "establishment_id", "GET /inspection/v1/plans": "plan_id",
    "GET /inspection/v1/inspections": "inspection_id", "GET /cases/v1/tips": "tip_id",
    "GET /cases/v1/tips/overdue": "tip_id", "GET /cases/v1/cases": "case_id",
    "GET /cases/v1/cases/overdue": "case_id", "GET /cases/v1/hotspots": "hotspot_id",
    "GET /support/v1/persons": "person_id", "GET /support/v1/referrals": "support_referral_id",
    "GET /support/v1/cases": "support_case_id", "GET /support/v1/tasks": "task_id",
    "GET /reporting/v1/commune-reports": "report_id",
}


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    w = World(tmp_path_factory.mktemp("matrix"))
    w.seed()
    yield w
    for c in w.containers.values():
        c.dispose()


CELLS = [cell for cell in matrix.cells() if cell[0].service in INSTALLED]


def _cell_id(cell) -> str:
    endpoint, role, district, expected = cell
    return f"{endpoint.key}|{role}|{district or '-'}|{expected}"


@pytest.mark.parametrize("cell", CELLS, ids=_cell_id)
def test_each_cell_answers_as_designed(world, cell):
    endpoint, role, district, expected = cell
    req = request_for(world, endpoint)
    before = world.outbox_rows()
    response = world.call(endpoint.service, endpoint.method, req["path"],
                          {**bearer(role, district), **req["headers"]}, query_string=req["query"], json=req["json"])
    status, text = response.status_code, response.get_data().decode("utf-8", "replace")
    assert status < 500, text
    if expected in ("403", "404"):
        assert status == int(expected), f"{status}: {text[:300]}"
        assert response.mimetype == "application/problem+json"
        assert world.outbox_rows() == before, "a refused request published an event"
    else:
        assert status not in (401, 403, 404), f"{status}: {text[:300]}"
    if expected == "F":
        assert status == 200, text[:300]
        hidden = world.ids[LIST_RESOURCE[endpoint.key]] if endpoint.key in LIST_RESOURCE else None
        if hidden:
            assert hidden not in text, f"{endpoint.key} shows district 116's {hidden} to a district 118 claim"
        else:  # aggregates: no line for district 116
            assert '"116"' not in text
    if endpoint.key == "GET /registry/v1/establishments/{establishment_id}" and status == 200:
        owner_visible = "owner_name" in response.get_json()
        assert owner_visible == (role in matrix.WRITERS), "the owner's name is for admin, police, culture_inspector"
    if endpoint.key == "GET /cases/v1/cases/{case_id}" and status == 200:
        assert ("suspects" in response.get_json()) == (role == "police"), "suspects' identities: police only"


def test_a_break_the_glass_read_outside_the_district_needs_a_reason_and_is_flagged(world):
    if "support" not in INSTALLED:
        pytest.skip("support is not installed")
    url = f"/support/v1/persons/{world.ids['person_id']}"
    outsider = bearer("social_worker", "118")
    assert world.call("support", "GET", url, outsider).status_code == 403
    read = world.call("support", "GET", url, outsider, query_string={"reason": "Hỗ trợ khẩn cấp liên huyện"})
    assert read.status_code == 200 and read.get_json()["break_glass"] is True
    audit = world.call("support", "GET", "/support/v1/audit", ADMIN, query_string={"break_glass": "true"})
    assert any(entry["person_id"] == world.ids["person_id"] for entry in audit.get_json())


# -- the document and the data must not drift ------------------------------------------------------------------

def test_docs_security_md_holds_the_matrix_of_the_data():
    doc = (ROOT / "docs" / "security.md").read_text(encoding="utf-8")
    start, end = "<!-- matrix:start -->\n", "<!-- matrix:end -->"
    assert start in doc and end in doc, "docs/security.md lost its matrix markers"
    table = doc.split(start, 1)[1].split(end, 1)[0]
    assert table.strip() == matrix.markdown_table().strip(), \
        "docs/security.md's table differs from tests/support/security_matrix.py: regenerate it"


def test_the_matrix_lists_every_endpoint_of_every_installed_service(world):
    documented = set()
    for name in INSTALLED:
        spec = world.call(name, "GET", f"/{name}/openapi.json").get_json()
        for path, operations in spec["paths"].items():
            for method in operations:
                if method in ("get", "post", "put", "patch", "delete"):
                    documented.add(f"{method.upper()} {path}")
    in_matrix = {e.key for e in matrix.ENDPOINTS if e.service in INSTALLED}
    assert documented == in_matrix


def test_the_matrix_agrees_with_the_role_gates_in_the_code(world):
    for name in INSTALLED:
        app = world.clients[name].application
        for rule in app.url_map.iter_rules():
            cls = getattr(app.view_functions[rule.endpoint], "view_class", None)
            if cls is None or not rule.rule.startswith(f"/{name}/v1/"):
                continue
            for method in rule.methods - {"HEAD", "OPTIONS"}:
                gate = getattr(getattr(cls, method.lower()), "_lanhmanh_roles", None)
                path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule)
                endpoint = next(e for e in matrix.ENDPOINTS if e.key == f"{method} {path}")
                assert set(gate or matrix.ROLES) == set(endpoint.roles), endpoint.key


# -- no token, bad tokens --------------------------------------------------------------------------------------

@pytest.mark.parametrize("endpoint", [e for e in matrix.ENDPOINTS if e.service in INSTALLED], ids=lambda e: e.key)
def test_no_token_is_401_on_every_v1_endpoint(world, endpoint):
    req = request_for(world, endpoint)
    before = world.outbox_rows()
    response = world.call(endpoint.service, endpoint.method, req["path"], req["headers"],
                          query_string=req["query"], json=req["json"])
    assert response.status_code == 401, response.get_data(as_text=True)[:300]
    assert response.mimetype == "application/problem+json"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert world.outbox_rows() == before


def _claims(**overrides) -> dict:
    now = datetime.now(timezone.utc)
    claims = {"sub": "tester", "roles": ["admin"], "aud": "lanhmanh", "iat": now, "nbf": now,
              "exp": now + timedelta(hours=1)}
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _alg_none(claims: dict) -> str:
    body = json.dumps({k: int(v.timestamp()) if isinstance(v, datetime) else v for k, v in claims.items()})
    head = _b64(b'{"alg":"none","typ":"JWT"}')
    return f"{head}.{_b64(body.encode())}."


def _now() -> datetime:
    """Now, when the token is made: a module-level constant goes stale in a long test run."""
    return datetime.now(timezone.utc)

BAD_HS256 = {
    "expired": lambda: jwt.encode(_claims(exp=_now() - timedelta(minutes=5), iat=_now() - timedelta(hours=2),
                                          nbf=_now() - timedelta(hours=2)), TEST_SECRET, "HS256"),
    "not yet valid": lambda: jwt.encode(_claims(nbf=_now() + timedelta(minutes=10)), TEST_SECRET, "HS256"),
    "wrong signature": lambda: jwt.encode(_claims(), "another-secret-0123456789-abcdefghij", "HS256"),
    "alg none": lambda: _alg_none(_claims()),
    "wrong audience": lambda: jwt.encode(_claims(aud="someone-else"), TEST_SECRET, "HS256"),
    "no expiry": lambda: jwt.encode(_claims(exp=None), TEST_SECRET, "HS256"),
    "no subject": lambda: jwt.encode(_claims(sub=None), TEST_SECRET, "HS256"),
    "garbage": lambda: "not.a.token",
    "HS512": lambda: jwt.encode(_claims(), TEST_SECRET, "HS512"),
    "tampered roles": lambda: _tamper(jwt.encode(_claims(roles=["reporting_consumer"]), TEST_SECRET, "HS256")),
}


def _tamper(token: str) -> str:
    head, body, sig = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(body + "=="))
    claims["roles"] = ["admin"]
    return f"{head}.{_b64(json.dumps(claims).encode())}.{sig}"


@pytest.mark.parametrize("name", list(BAD_HS256))
def test_a_bad_hs256_token_is_401_on_every_service(world, name):
    token = BAD_HS256[name]()
    for service in INSTALLED:
        endpoint = next(e for e in matrix.ENDPOINTS if e.service == service and e.method == "GET")
        req = request_for(world, endpoint)
        response = world.call(service, "GET", req["path"], {"Authorization": f"Bearer {token}"},
                              query_string=req["query"])
        assert response.status_code == 401, (service, name, response.get_data(as_text=True)[:200])
        assert response.mimetype == "application/problem+json"


def test_a_good_token_passes_so_the_bad_ones_fail_for_their_flaw(world):
    token = jwt.encode(_claims(), TEST_SECRET, "HS256")
    response = world.call("registry", "GET", "/registry/v1/establishments", {"Authorization": f"Bearer {token}"})
    assert response.status_code == 200


class _JWKS:
    """A JWKS document served on localhost, whose keys the test changes (rotation)."""

    def __init__(self):
        self.keys: dict[str, rsa.RSAPrivateKey] = {}
        self.published: list[str] = []
        self.fetches = 0
        jwks = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                jwks.fetches += 1
                keys = []
                for kid in jwks.published:
                    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(jwks.keys[kid].public_key()))
                    keys.append({**jwk, "kid": kid, "use": "sig", "alg": "RS256"})
                body = json.dumps({"keys": keys}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/certs"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def new_key(self, kid: str, publish: bool = True) -> None:
        self.keys[kid] = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        if publish:
            self.published.append(kid)

    def sign(self, kid: str, **claims) -> str:
        return jwt.encode(_claims(**claims), self.keys[kid], "RS256", headers={"kid": kid})


@pytest.fixture(scope="module")
def jwks_app(tmp_path_factory):
    jwks = _JWKS()
    jwks.new_key("k1")
    tmp = tmp_path_factory.mktemp("jwks")
    transport = EmbeddedTransport(f"sqlite:///{tmp}/events.db", partitions=1)
    container = bootstrap(discover(("registry",))["registry"],
                          make_config("registry", tmp, jwt_secret=None, jwt_jwks_url=jwks.url), transport)
    container.migrate()
    transport.ensure_topics(container.topics())
    app = container.create_app()
    app.testing = True
    yield jwks, app.test_client()
    container.dispose()
    jwks.server.shutdown()


def _get(client, token):
    return client.get("/registry/v1/establishments", headers={"Authorization": f"Bearer {token}"})


def test_rs256_from_the_jwks_is_accepted_and_its_flaws_are_401(jwks_app):
    jwks, client = jwks_app
    assert _get(client, jwks.sign("k1")).status_code == 200
    jwks.new_key("stranger", publish=False)
    assert _get(client, jwks.sign("stranger")).status_code == 401, "unknown key id"
    assert _get(client, jwks.sign("k1", aud="someone-else")).status_code == 401
    assert _get(client, jwks.sign("k1", exp=_now() - timedelta(minutes=5), nbf=_now() - timedelta(hours=1),
                                  iat=_now() - timedelta(hours=1))).status_code == 401
    assert _get(client, jwks.sign("k1", nbf=_now() + timedelta(minutes=10))).status_code == 401
    forged = jwt.encode(_claims(), TEST_SECRET, "HS256", headers={"kid": "k1"})
    assert _get(client, forged).status_code == 401, "HS256 is refused when only a JWKS is configured"
    assert _get(client, _alg_none(_claims())).status_code == 401
    # A key confusion attack: the RSA public key used as an HMAC secret.
    public_pem = jwks.keys["k1"].public_key().public_bytes(
        encoding=__import__("cryptography").hazmat.primitives.serialization.Encoding.PEM,
        format=__import__("cryptography").hazmat.primitives.serialization.PublicFormat.SubjectPublicKeyInfo)
    confused = base64.urlsafe_b64encode(public_pem).decode()
    head = _b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": "k1"}).encode())
    assert _get(client, f"{head}.{_b64(b'{}')}.{confused[:43]}").status_code == 401


def test_a_rotated_jwks_key_works_without_a_restart(jwks_app):
    jwks, client = jwks_app
    assert _get(client, jwks.sign("k1")).status_code == 200
    jwks.new_key("k2")  # the identity provider rotates: k2 is published, tokens are signed with it
    assert _get(client, jwks.sign("k2")).status_code == 200, "an unknown kid refetches the key set at once"
