"""HTTP API tests of the registry service: /registry/v1/establishments and the service's ops endpoints.

Each test runs on a fresh SQLite database with the embedded transport (fixtures in tests/conftest.py).
"""
from __future__ import annotations

import json
import uuid
from datetime import date, datetime, timezone

import pytest
from sqlalchemy import select

from contracts.events import registry as events
from contracts.periods import half_year_of
from contracts.refdata import units

BASE = "/registry/v1/establishments"
PROBLEM = "application/problem+json"

CHIENG_LE = "03646"  # Phường Chiềng Lề, district 116 (Thành phố Sơn La), province 14
TO_HIEU = "03649"  # Phường Tô Hiệu, also district 116
OTHER_DISTRICT = "118"  # Huyện Quỳnh Nhai
OTHER_COMMUNE = units().communes_in(OTHER_DISTRICT)[0].code
HA_NOI_COMMUNE = "00001"  # Phường Phúc Xá, Hà Nội: outside province 14


def details(**overrides) -> dict:
    body = {
        "name": "Karaoke Hoa Hồng",
        "business_type": "karaoke",
        "owner_name": "Lò Văn Thành",
        "address": "Số 12, đường Tô Hiệu",
        "commune_code": CHIENG_LE,
        "employees": 8,
        "risk_level": "medium",
        "operating_since": "2018-03-01",
    }
    body.update(overrides)
    return body


@pytest.fixture
def admin(token):
    return token("admin")


def register(client, headers, **overrides) -> dict:
    response = client.post(BASE, json=details(**overrides), headers=headers)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def fields_named(response) -> set:
    return {e.get("field") for e in response.get_json().get("errors", [])}


def assert_problem(response, status: int, *fields: str) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == PROBLEM
    body = response.get_json()
    assert body["status"] == status
    assert body["title"]
    assert body["detail"]
    for name in fields:
        assert name in fields_named(response), body
    return body


def listing(client, headers, **query):
    response = client.get(BASE, query_string=query, headers=headers)
    assert response.status_code == 200, response.get_json()
    return response


def names(client, headers, **query) -> list[str]:
    return [e["name"] for e in listing(client, headers, page_size=200, **query).get_json()]


def total(client, headers, **query) -> int:
    return json.loads(listing(client, headers, **query).headers["X-Pagination"])["total"]


def outbox(registry) -> list:
    t = registry.service.tables["outbox"]
    with registry.engine.connect() as conn:
        return list(conn.execute(select(t.c.event_type, t.c.message_key, t.c.payload).order_by(t.c.id)))


def outbox_types(registry) -> list[str]:
    return [row.event_type for row in outbox(registry)]


def etag_of(client, headers, establishment_id: str) -> str:
    response = client.get(f"{BASE}/{establishment_id}", headers=headers)
    assert response.status_code == 200
    return response.headers["ETag"]


# 1. register and read back ---------------------------------------------------------------------------------


def test_register_returns_201_with_location_and_keeps_diacritics(client, admin):
    response = client.post(BASE, json=details(), headers=admin)

    assert response.status_code == 201
    body = response.get_json()
    assert body["id"]
    assert body["name"] == "Karaoke Hoa Hồng"
    assert body["commune_name"] == "Phường Chiềng Lề"
    assert body["district_code"] == "116"
    assert body["district_name"] == "Thành phố Sơn La"
    assert body["province_code"] == "14"
    assert body["status"] == "active"
    assert response.headers["Location"].endswith(f"{BASE}/{body['id']}")


def test_register_response_is_readable_utf8_not_escaped(client, admin):
    response = client.post(BASE, json=details(), headers=admin)

    assert "Hoa Hồng".encode() in response.get_data()


def test_get_by_location_returns_the_establishment_with_an_etag(client, admin):
    created = client.post(BASE, json=details(), headers=admin)

    response = client.get(created.headers["Location"], headers=admin)

    assert response.status_code == 200
    assert response.get_json()["id"] == created.get_json()["id"]
    assert response.get_json()["name"] == "Karaoke Hoa Hồng"
    assert response.headers.get("ETag")


# 2. search, filters, sorting, pagination -------------------------------------------------------------------


@pytest.fixture
def three(client, admin):
    """Three establishments in two districts, of different types, risks and statuses."""
    hoa_hong = register(client, admin, name="Karaoke Hoa Hồng", business_type="karaoke", risk_level="high")
    binh_minh = register(client, admin, name="Nhà nghỉ Bình Minh", business_type="accommodation",
                         commune_code=OTHER_COMMUNE, risk_level="low")
    anh_duong = register(client, admin, name="Quán bar Ánh Dương", business_type="bar", commune_code=TO_HIEU)
    response = client.post(f"{BASE}/{anh_duong['id']}/status", json={"status": "suspended", "reason": "vi phạm giờ"},
                           headers=admin)
    assert response.status_code == 201
    return {"hoa_hong": hoa_hong, "binh_minh": binh_minh, "anh_duong": anh_duong}


def test_search_ignores_diacritics(client, admin, three):
    assert names(client, admin, q="hoa hong") == ["Karaoke Hoa Hồng"]


def test_search_ignores_case(client, admin, three):
    assert names(client, admin, q="HOA HỒNG") == ["Karaoke Hoa Hồng"]


def test_search_matches_part_of_a_name_with_diacritics_typed_differently(client, admin, three):
    assert names(client, admin, q="BINH minh") == ["Nhà nghỉ Bình Minh"]
    assert names(client, admin, q="ánh dương") == ["Quán bar Ánh Dương"]


def test_search_treats_sql_wildcards_literally(client, admin, three):
    assert names(client, admin, q="%") == []
    assert names(client, admin, q="_") == []


def test_filter_by_district(client, admin, three):
    assert sorted(names(client, admin, district_code="116")) == ["Karaoke Hoa Hồng", "Quán bar Ánh Dương"]
    assert names(client, admin, district_code=OTHER_DISTRICT) == ["Nhà nghỉ Bình Minh"]


def test_filter_by_commune(client, admin, three):
    assert names(client, admin, commune_code=TO_HIEU) == ["Quán bar Ánh Dương"]


def test_filter_by_business_type(client, admin, three):
    assert names(client, admin, business_type="accommodation") == ["Nhà nghỉ Bình Minh"]


def test_filter_by_status(client, admin, three):
    assert names(client, admin, status="suspended") == ["Quán bar Ánh Dương"]
    assert sorted(names(client, admin, status="active")) == ["Karaoke Hoa Hồng", "Nhà nghỉ Bình Minh"]


def test_filter_by_risk_level(client, admin, three):
    assert names(client, admin, risk_level="high") == ["Karaoke Hoa Hồng"]
    assert names(client, admin, risk_level="low") == ["Nhà nghỉ Bình Minh"]


def test_filters_combine(client, admin, three):
    assert names(client, admin, district_code="116", status="active") == ["Karaoke Hoa Hồng"]


def test_bad_filter_value_is_422_naming_it(client, admin):
    response = client.get(BASE, query_string={"status": "sleeping"}, headers=admin)

    assert_problem(response, 422, "status")


def test_due_for_review_lists_an_establishment_until_its_review_is_recorded(client, admin):
    """Straight through the API, as a user would do it: register, look for 2020S1, record 2020S1, look again."""
    created = register(client, admin)
    assert names(client, admin, due_for_review="2020S1") == ["Karaoke Hoa Hồng"]

    response = client.post(f"{BASE}/{created['id']}/reviews", headers=admin,
                           json={"period": "2020S1", "reviewed_on": "2020-06-15", "outcome": "compliant"})
    assert response.status_code == 201

    assert names(client, admin, due_for_review="2020S1") == []


def test_an_establishment_that_opened_after_a_period_is_not_due_nor_reviewable_for_it(client, admin):
    created = register(client, admin, operating_since="2021-02-01")
    assert names(client, admin, due_for_review="2020S1") == []
    assert names(client, admin, due_for_review="2021S1") == ["Karaoke Hoa Hồng"]

    response = client.post(f"{BASE}/{created['id']}/reviews", headers=admin,
                           json={"period": "2020S2", "reviewed_on": "2020-12-15", "outcome": "compliant"})
    assert_problem(response, 422, "period")


def test_operating_since_defaults_to_the_registration_day_and_cannot_be_in_the_future(client, admin):
    body = details()
    body.pop("operating_since")
    response = client.post(BASE, json=body, headers=admin)
    assert response.status_code == 201
    assert response.get_json()["operating_since"] >= date.today().replace(day=1).isoformat()
    future = client.post(BASE, json=details(name="Spa Ngọc Lan", operating_since="2999-01-01"), headers=admin)
    assert_problem(future, 422, "operating_since")


def test_due_for_review_in_the_current_half_year_until_reviewed(client, admin):
    created = register(client, admin)
    period = half_year_of(date.today())
    assert names(client, admin, due_for_review=period) == ["Karaoke Hoa Hồng"]

    response = client.post(f"{BASE}/{created['id']}/reviews", headers=admin,
                           json={"period": period, "reviewed_on": date.today().isoformat(), "outcome": "compliant"})
    assert response.status_code == 201

    assert names(client, admin, due_for_review=period) == []


def test_due_for_review_leaves_out_closed_establishments(client, admin):
    created = register(client, admin)
    period = half_year_of(date.today())
    client.post(f"{BASE}/{created['id']}/status", json={"status": "closed", "reason": "ngừng kinh doanh"},
                headers=admin)

    assert names(client, admin, due_for_review=period) == []


def test_sort_by_name_ascending_and_descending(client, admin, three):
    ascending = ["Karaoke Hoa Hồng", "Nhà nghỉ Bình Minh", "Quán bar Ánh Dương"]

    assert names(client, admin, sort="name") == ascending
    assert names(client, admin, sort="-name") == list(reversed(ascending))


def test_sort_by_name_ignores_diacritics_and_case(client, admin):
    for name in ("ánh Trăng", "Bình Minh", "Đồi Chè", "an Khang"):
        register(client, admin, name=name)

    assert names(client, admin, sort="name") == ["an Khang", "ánh Trăng", "Bình Minh", "Đồi Chè"]


def test_sort_by_unknown_field_is_422(client, admin):
    response = client.get(BASE, query_string={"sort": "owner_name"}, headers=admin)

    assert_problem(response, 422, "sort")


def test_pagination_pages_and_x_pagination_total(client, admin):
    for i in range(5):
        register(client, admin, name=f"Karaoke {i}")

    first = listing(client, admin, page=1, page_size=2, sort="name")
    last = listing(client, admin, page=3, page_size=2, sort="name")

    assert [e["name"] for e in first.get_json()] == ["Karaoke 0", "Karaoke 1"]
    assert [e["name"] for e in last.get_json()] == ["Karaoke 4"]
    info = json.loads(first.headers["X-Pagination"])
    assert info["total"] == 5
    assert info["total_pages"] == 3


def test_pagination_total_counts_filtered_results(client, admin, three):
    assert total(client, admin, district_code="116", page_size=1) == 2


def test_page_size_over_the_limit_is_422_naming_page_size(client, admin):
    response = client.get(BASE, query_string={"page_size": 10000}, headers=admin)

    assert_problem(response, 422, "page_size")


# 3. validation ---------------------------------------------------------------------------------------------


@pytest.fixture
def unchanged(client, admin, registry):
    """Asserts, at the end of the test, that nothing was stored: same list total, no new events."""
    register(client, admin, name="Cơ sở có sẵn")
    before = (total(client, admin), len(outbox(registry)))
    yield
    assert (total(client, admin), len(outbox(registry))) == before


def test_missing_name_is_422_naming_name(client, admin, unchanged):
    body = details()
    del body["name"]

    response = client.post(BASE, json=body, headers=admin)

    assert_problem(response, 422, "name")


def test_blank_name_is_422_naming_name(client, admin, unchanged):
    response = client.post(BASE, json=details(name="   "), headers=admin)

    assert_problem(response, 422, "name")


def test_unknown_field_is_422_naming_it(client, admin, unchanged):
    response = client.post(BASE, json=details(nickname="HH"), headers=admin)

    assert_problem(response, 422, "nickname")


def test_badly_formatted_commune_code_is_422(client, admin, unchanged):
    response = client.post(BASE, json=details(commune_code="3646"), headers=admin)

    assert_problem(response, 422, "commune_code")


def test_unknown_commune_code_is_422(client, admin, unchanged):
    response = client.post(BASE, json=details(commune_code="99999"), headers=admin)

    assert_problem(response, 422, "commune_code")


def test_commune_outside_son_la_is_422(client, admin, unchanged):
    response = client.post(BASE, json=details(commune_code=HA_NOI_COMMUNE), headers=admin)

    assert_problem(response, 422, "commune_code")


def test_unknown_business_type_is_422(client, admin, unchanged):
    response = client.post(BASE, json=details(business_type="casino"), headers=admin)

    assert_problem(response, 422, "business_type")


def test_negative_employees_is_422(client, admin, unchanged):
    response = client.post(BASE, json=details(employees=-1), headers=admin)

    assert_problem(response, 422, "employees")


def test_malformed_json_is_400_problem(client, admin, unchanged):
    response = client.post(BASE, data='{"name": "Karaoke', content_type="application/json", headers=admin)

    assert_problem(response, 400)


def test_json_list_body_is_422(client, admin, unchanged):
    response = client.post(BASE, json=[details()], headers=admin)

    assert_problem(response, 422)


def test_validation_problem_names_every_offending_field(client, admin, unchanged):
    response = client.post(BASE, json=details(commune_code="x", employees=-5, risk_level="extreme"), headers=admin)

    body = assert_problem(response, 422)
    assert {"commune_code", "employees", "risk_level"} <= fields_named(response)
    assert all(e["location"] == "json" and e["message"] for e in body["errors"])


def test_body_over_the_size_limit_is_413_problem(client, admin, unchanged):
    response = client.post(BASE, json=details(address="x" * 1_100_000), headers=admin)

    assert_problem(response, 413)


def test_duplicate_licence_number_is_409(client, admin):
    register(client, admin, licence_number="116/GPKD-2020-0001")

    response = client.post(BASE, json=details(name="Khác", licence_number="116/GPKD-2020-0001"), headers=admin)

    assert_problem(response, 409, "licence_number")
    assert total(client, admin) == 1


# 4. authentication and roles -------------------------------------------------------------------------------


def test_no_token_is_401_with_www_authenticate(client):
    response = client.get(BASE)

    assert_problem(response, 401)
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_garbage_token_is_401(client):
    response = client.get(BASE, headers={"Authorization": "Bearer not.a.jwt"})

    assert_problem(response, 401)
    assert "WWW-Authenticate" in response.headers


def test_token_signed_with_another_secret_is_401(client):
    from chassis.auth import Authenticator

    forged = Authenticator("another-secret-0123456789-abcdefghijkl", None, "lanhmanh").issue("mallory", ["admin"])

    response = client.post(BASE, json=details(), headers={"Authorization": f"Bearer {forged}"})

    assert_problem(response, 401)


def test_expired_token_is_401(client):
    from datetime import timedelta

    from chassis.auth import Authenticator
    from tests.conftest import TEST_SECRET

    expired = Authenticator(TEST_SECRET, None, "lanhmanh").issue("late", ["admin"], ttl=-timedelta(hours=1))

    assert_problem(client.get(BASE, headers={"Authorization": f"Bearer {expired}"}), 401)


def test_unauthenticated_post_stores_nothing(client, admin):
    response = client.post(BASE, json=details())

    assert response.status_code == 401
    assert total(client, admin) == 0


@pytest.mark.parametrize("role", ["social_worker", "reporting_consumer"])
def test_read_only_roles_cannot_register(client, token, admin, role):
    response = client.post(BASE, json=details(), headers=token(role))

    assert_problem(response, 403)
    assert total(client, admin) == 0


@pytest.mark.parametrize("role", ["social_worker", "reporting_consumer"])
def test_read_only_roles_can_read(client, token, admin, role):
    created = register(client, admin)
    reader = token(role)

    assert client.get(BASE, headers=reader).status_code == 200
    assert client.get(f"{BASE}/{created['id']}", headers=reader).status_code == 200


@pytest.mark.parametrize("role", ["social_worker", "reporting_consumer"])
def test_read_only_roles_do_not_see_owner_name(client, token, admin, role):
    created = register(client, admin)
    reader = token(role)

    one = client.get(f"{BASE}/{created['id']}", headers=reader).get_json()
    many = client.get(BASE, headers=reader).get_json()

    assert "owner_name" not in one
    assert all("owner_name" not in e for e in many)
    assert one["name"] == "Karaoke Hoa Hồng"


def test_police_sees_owner_name(client, token, admin):
    created = register(client, admin)

    one = client.get(f"{BASE}/{created['id']}", headers=token("police")).get_json()

    assert one["owner_name"] == "Lò Văn Thành"


@pytest.mark.parametrize("role", ["social_worker", "reporting_consumer"])
def test_read_only_roles_cannot_change_status_or_record_reviews(client, token, admin, role):
    created = register(client, admin)
    reader = token(role)

    status = client.post(f"{BASE}/{created['id']}/status", json={"status": "suspended", "reason": "x"}, headers=reader)
    review = client.post(f"{BASE}/{created['id']}/reviews", headers=reader,
                         json={"period": "2020S1", "reviewed_on": "2020-06-15", "outcome": "compliant"})

    assert_problem(status, 403)
    assert_problem(review, 403)
    after = client.get(f"{BASE}/{created['id']}", headers=admin).get_json()
    assert after["status"] == "active" and after["reviews"] == []


# 5. district scope -----------------------------------------------------------------------------------------


@pytest.fixture
def police_116(token):
    return token("police", district="116")


def test_district_police_can_register_in_their_district(client, police_116):
    response = client.post(BASE, json=details(commune_code=CHIENG_LE), headers=police_116)

    assert response.status_code == 201
    assert response.get_json()["district_code"] == "116"


def test_district_police_cannot_register_in_another_district(client, police_116, admin):
    response = client.post(BASE, json=details(commune_code=OTHER_COMMUNE), headers=police_116)

    assert_problem(response, 403)
    assert total(client, admin) == 0


def test_district_police_list_only_their_district(client, police_116, admin, three):
    listed = listing(client, police_116, page_size=200)

    assert sorted(e["name"] for e in listed.get_json()) == ["Karaoke Hoa Hồng", "Quán bar Ánh Dương"]
    assert json.loads(listed.headers["X-Pagination"])["total"] == 2
    assert names(client, police_116, district_code=OTHER_DISTRICT) == []


def test_district_police_get_of_another_district_is_404(client, police_116, admin, three):
    response = client.get(f"{BASE}/{three['binh_minh']['id']}", headers=police_116)

    assert_problem(response, 404)


def test_district_police_cannot_patch_another_district(client, police_116, admin, registry, three):
    target = three["binh_minh"]["id"]
    before = client.get(f"{BASE}/{target}", headers=admin)
    events_before = len(outbox(registry))

    response = client.patch(f"{BASE}/{target}", json={"name": "Đổi tên"}, headers={
        **police_116, "If-Match": before.headers["ETag"]})

    assert 400 <= response.status_code < 500 and response.status_code in (403, 404)
    assert response.mimetype == PROBLEM
    assert client.get(f"{BASE}/{target}", headers=admin).get_json() == before.get_json()
    assert len(outbox(registry)) == events_before


def test_district_police_cannot_change_status_in_another_district(client, police_116, admin, registry, three):
    target = three["binh_minh"]["id"]
    before = client.get(f"{BASE}/{target}", headers=admin).get_json()
    events_before = len(outbox(registry))

    response = client.post(f"{BASE}/{target}/status", json={"status": "suspended", "reason": "x"}, headers=police_116)

    assert response.status_code in (403, 404)
    assert response.mimetype == PROBLEM
    assert client.get(f"{BASE}/{target}", headers=admin).get_json() == before
    assert len(outbox(registry)) == events_before


def test_district_police_cannot_record_review_in_another_district(client, police_116, admin, registry, three):
    target = three["binh_minh"]["id"]
    before = client.get(f"{BASE}/{target}", headers=admin).get_json()
    events_before = len(outbox(registry))

    response = client.post(f"{BASE}/{target}/reviews", headers=police_116,
                           json={"period": "2020S1", "reviewed_on": "2020-06-15", "outcome": "compliant"})

    assert response.status_code in (403, 404)
    assert response.mimetype == PROBLEM
    assert client.get(f"{BASE}/{target}", headers=admin).get_json() == before
    assert len(outbox(registry)) == events_before


def test_district_police_cannot_move_an_establishment_out_of_their_district(client, police_116, admin):
    created = register(client, admin, commune_code=CHIENG_LE)
    etag = etag_of(client, police_116, created["id"])

    response = client.patch(f"{BASE}/{created['id']}", json={"commune_code": OTHER_COMMUNE},
                            headers={**police_116, "If-Match": etag})

    assert response.status_code in (403, 404)
    assert client.get(f"{BASE}/{created['id']}", headers=admin).get_json()["commune_code"] == CHIENG_LE


# 6. optimistic concurrency ---------------------------------------------------------------------------------


def test_patch_without_if_match_is_428(client, admin):
    created = register(client, admin)

    response = client.patch(f"{BASE}/{created['id']}", json={"employees": 9}, headers=admin)

    assert_problem(response, 428)
    assert client.get(f"{BASE}/{created['id']}", headers=admin).get_json()["employees"] == 8


def test_patch_with_stale_etag_is_412(client, admin):
    created = register(client, admin)
    stale = etag_of(client, admin, created["id"])
    first = client.patch(f"{BASE}/{created['id']}", json={"employees": 9}, headers={**admin, "If-Match": stale})
    assert first.status_code == 200

    response = client.patch(f"{BASE}/{created['id']}", json={"employees": 20}, headers={**admin, "If-Match": stale})

    assert_problem(response, 412)
    assert client.get(f"{BASE}/{created['id']}", headers=admin).get_json()["employees"] == 9


def test_patch_with_current_etag_succeeds_with_a_new_etag(client, admin):
    created = register(client, admin)
    etag = etag_of(client, admin, created["id"])

    response = client.patch(f"{BASE}/{created['id']}", json={"name": "Karaoke Hoa Hồng Mới", "employees": 12},
                            headers={**admin, "If-Match": etag})

    assert response.status_code == 200
    assert response.headers["ETag"] and response.headers["ETag"] != etag
    after = client.get(f"{BASE}/{created['id']}", headers=admin)
    assert after.get_json()["name"] == "Karaoke Hoa Hồng Mới"
    assert after.get_json()["employees"] == 12
    assert after.headers["ETag"] == response.headers["ETag"]


def test_patch_changes_only_the_fields_sent(client, admin):
    created = register(client, admin, risk_level="high", licence_number="116/GPKD-2020-0007")
    etag = etag_of(client, admin, created["id"])

    response = client.patch(f"{BASE}/{created['id']}", json={"employees": 3}, headers={**admin, "If-Match": etag})

    assert response.status_code == 200, response.get_json()
    after = client.get(f"{BASE}/{created['id']}", headers=admin).get_json()
    assert after["employees"] == 3
    assert (after["risk_level"], after["licence_number"], after["name"]) == (
        "high", "116/GPKD-2020-0007", "Karaoke Hoa Hồng")


def test_patch_to_another_commune_resolves_its_district(client, admin):
    created = register(client, admin)
    etag = etag_of(client, admin, created["id"])

    response = client.patch(f"{BASE}/{created['id']}", json={"commune_code": OTHER_COMMUNE},
                            headers={**admin, "If-Match": etag})

    assert response.status_code == 200, response.get_json()
    assert response.get_json()["district_code"] == OTHER_DISTRICT
    assert response.get_json()["commune_name"] == units().communes[OTHER_COMMUNE].name


def test_patched_name_is_found_by_search(client, admin):
    created = register(client, admin)
    etag = etag_of(client, admin, created["id"])
    client.patch(f"{BASE}/{created['id']}", json={"name": "Karaoke Sao Mai"}, headers={**admin, "If-Match": etag})

    assert names(client, admin, q="sao mai") == ["Karaoke Sao Mai"]
    assert names(client, admin, q="hoa hong") == []


def test_patch_with_invalid_field_is_422_and_changes_nothing(client, admin):
    created = register(client, admin)
    etag = etag_of(client, admin, created["id"])

    response = client.patch(f"{BASE}/{created['id']}", json={"employees": -3}, headers={**admin, "If-Match": etag})

    assert_problem(response, 422, "employees")
    assert etag_of(client, admin, created["id"]) == etag


def test_patch_of_a_closed_establishment_is_409(client, admin):
    created = register(client, admin)
    client.post(f"{BASE}/{created['id']}/status", json={"status": "closed", "reason": "ngừng"}, headers=admin)
    etag = etag_of(client, admin, created["id"])

    response = client.patch(f"{BASE}/{created['id']}", json={"employees": 1}, headers={**admin, "If-Match": etag})

    assert_problem(response, 409)


# 7. Idempotency-Key ----------------------------------------------------------------------------------------


def test_same_idempotency_key_replays_the_first_response(client, admin):
    headers = {**admin, "Idempotency-Key": "dang-ky-hoa-hong-1"}

    first = client.post(BASE, json=details(), headers=headers)
    second = client.post(BASE, json=details(), headers=headers)

    assert first.status_code == second.status_code == 201
    assert second.get_json() == first.get_json()
    assert second.get_json()["id"] == first.get_json()["id"]
    assert second.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert second.headers["Location"] == first.headers["Location"]
    assert total(client, admin) == 1


def test_same_idempotency_key_stores_one_event(client, admin, registry):
    headers = {**admin, "Idempotency-Key": "dang-ky-hoa-hong-1"}

    client.post(BASE, json=details(), headers=headers)
    client.post(BASE, json=details(), headers=headers)

    assert outbox_types(registry) == [events.ESTABLISHMENT_REGISTERED.type]


def test_same_idempotency_key_with_a_different_body_is_422(client, admin):
    headers = {**admin, "Idempotency-Key": "dang-ky-1"}
    client.post(BASE, json=details(), headers=headers)

    response = client.post(BASE, json=details(name="Karaoke Khác"), headers=headers)

    assert_problem(response, 422, "Idempotency-Key")
    assert names(client, admin) == ["Karaoke Hoa Hồng"]


def test_different_idempotency_keys_create_two_records(client, admin):
    first = client.post(BASE, json=details(), headers={**admin, "Idempotency-Key": "k-1"})
    second = client.post(BASE, json=details(), headers={**admin, "Idempotency-Key": "k-2"})

    assert first.status_code == second.status_code == 201
    assert first.get_json()["id"] != second.get_json()["id"]
    assert total(client, admin) == 2


def test_idempotency_keys_belong_to_each_user(client, token, admin):
    first = client.post(BASE, json=details(), headers={**token("police"), "Idempotency-Key": "k-1"})
    second = client.post(BASE, json=details(), headers={**token("police"), "Idempotency-Key": "k-1"})

    assert first.status_code == second.status_code == 201
    assert "Idempotent-Replayed" not in second.headers
    assert total(client, admin) == 2


def claim_left_by_an_attempt(registry, principal: str, key: str, body: bytes, age_seconds: float) -> None:
    """What a request of an earlier version (claims committed before the view) left behind while
    running, or when killed: a claim without a response."""
    import hashlib
    from datetime import timedelta
    from sqlalchemy import insert

    fingerprint = hashlib.sha256(b"POST" + BASE.encode() + body).hexdigest()
    with registry.engine.begin() as conn:
        conn.execute(insert(registry.service.tables["idempotency_keys"]).values(
            principal=principal, key=key, fingerprint=fingerprint, completed=False,
            created_at=datetime.now(timezone.utc) - timedelta(seconds=age_seconds)))


def test_an_earlier_versions_claim_of_a_running_attempt_is_409(client, token, registry):
    body = json.dumps(details()).encode()
    claim_left_by_an_attempt(registry, "officer-7", "k-busy", body, age_seconds=1)

    response = client.post(BASE, data=body, content_type="application/json",
                           headers={**token("admin", sub="officer-7"), "Idempotency-Key": "k-busy"})

    assert response.status_code == 409 and response.headers["Retry-After"] == "1"
    assert total(client, token("admin")) == 0


def test_an_earlier_versions_claim_of_an_attempt_that_died_is_taken_over(client, token, registry):
    body = json.dumps(details()).encode()
    claim_left_by_an_attempt(registry, "officer-7", "k-dead", body, age_seconds=600)
    headers = {**token("admin", sub="officer-7"), "Idempotency-Key": "k-dead"}

    first = client.post(BASE, data=body, content_type="application/json", headers=headers)
    again = client.post(BASE, data=body, content_type="application/json", headers=headers)

    assert first.status_code == again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    assert total(client, token("admin")) == 1


def test_a_retry_while_the_first_attempt_runs_waits_for_it_and_replays_its_answer(client, token, registry):
    import threading

    from sqlalchemy import insert

    body = json.dumps(details()).encode()
    answer = {"id": "first-attempt"}
    fingerprint = __import__("hashlib").sha256(b"POST" + BASE.encode() + body).hexdigest()
    first = registry.engine.connect()  # the first attempt's transaction, not yet committed
    first.begin()
    first.execute(insert(registry.service.tables["idempotency_keys"]).values(
        principal="officer-7", key="k-running", fingerprint=fingerprint, completed=True, status_code=201,
        headers=json.dumps({"Content-Type": "application/json"}), body=json.dumps(answer),
        created_at=datetime.now(timezone.utc)))
    answered = []
    retry = threading.Thread(target=lambda: answered.append(client.post(
        BASE, data=body, content_type="application/json",
        headers={**token("admin", sub="officer-7"), "Idempotency-Key": "k-running"})))
    retry.start()
    retry.join(0.5)
    assert retry.is_alive(), "the retry answered while the first attempt was still running"
    first.commit()
    first.close()
    retry.join(30)

    assert answered[0].status_code == 201 and answered[0].get_json() == answer
    assert answered[0].headers["Idempotent-Replayed"] == "true"
    assert total(client, token("admin")) == 0


def test_an_attempt_that_fails_after_its_change_leaves_nothing_and_its_retry_records_once(
        client, admin, registry, monkeypatch):
    from services.registry.resources.establishments import schemas

    headers = {**admin, "Idempotency-Key": "k-crash"}
    real_dump = schemas.EstablishmentSchema.dump
    monkeypatch.setattr(schemas.EstablishmentSchema, "dump", lambda *a, **k: 1 / 0)  # the answer fails

    failed = client.post(BASE, json=details(), headers=headers)

    assert failed.status_code == 500
    monkeypatch.setattr(schemas.EstablishmentSchema, "dump", real_dump)
    assert total(client, admin) == 0 and outbox_types(registry) == []
    retried = client.post(BASE, json=details(), headers=headers)
    assert retried.status_code == 201 and "Idempotent-Replayed" not in retried.headers
    assert total(client, admin) == 1
    assert outbox_types(registry) == [events.ESTABLISHMENT_REGISTERED.type]


def test_when_the_answer_cannot_be_stored_nothing_is_recorded(client, admin, registry):
    import sqlite3

    from sqlalchemy import event

    def refuse(conn, cursor, statement, parameters, context, executemany):
        if statement.startswith("UPDATE idempotency_keys"):
            raise sqlite3.OperationalError("disk I/O error")

    event.listen(registry.engine, "before_cursor_execute", refuse)
    try:
        response = client.post(BASE, json=details(), headers={**admin, "Idempotency-Key": "k-lost"})
    finally:
        event.remove(registry.engine, "before_cursor_execute", refuse)

    assert_problem(response, 503)
    assert total(client, admin) == 0 and outbox_types(registry) == []
    assert client.post(BASE, json=details(), headers={**admin, "Idempotency-Key": "k-lost"}).status_code == 201


def test_idempotency_key_replays_a_rejected_request_without_storing(client, admin):
    headers = {**admin, "Idempotency-Key": "k-invalid"}
    body = details(commune_code="99999")

    first = client.post(BASE, json=body, headers=headers)
    second = client.post(BASE, json=body, headers=headers)

    assert first.status_code == second.status_code == 422
    assert second.get_json() == first.get_json()
    assert total(client, admin) == 0


# 8. status changes -----------------------------------------------------------------------------------------


def test_suspend_with_reason_is_201_and_adds_to_the_history(client, admin):
    created = register(client, admin)

    response = client.post(f"{BASE}/{created['id']}/status", json={"status": "suspended", "reason": "Vi phạm giờ mở cửa"},
                           headers=admin)

    assert response.status_code == 201
    body = response.get_json()
    assert body["status"] == "suspended"
    assert body["status_reason"] == "Vi phạm giờ mở cửa"
    assert len(body["status_history"]) == len(created["status_history"]) + 1
    last = body["status_history"][-1]
    assert (last["previous_status"], last["status"], last["reason"]) == ("active", "suspended", "Vi phạm giờ mở cửa")
    assert response.headers["Location"].endswith(f"{BASE}/{created['id']}")
    assert client.get(f"{BASE}/{created['id']}", headers=admin).get_json()["status"] == "suspended"


def test_status_change_without_reason_is_422_naming_reason(client, admin):
    created = register(client, admin)

    response = client.post(f"{BASE}/{created['id']}/status", json={"status": "suspended"}, headers=admin)

    assert_problem(response, 422, "reason")
    assert client.get(f"{BASE}/{created['id']}", headers=admin).get_json()["status"] == "active"


def test_status_change_with_blank_reason_is_422_naming_reason(client, admin):
    created = register(client, admin)

    response = client.post(f"{BASE}/{created['id']}/status", json={"status": "suspended", "reason": "  "},
                           headers=admin)

    assert_problem(response, 422, "reason")


def test_unknown_status_is_422_naming_status(client, admin):
    created = register(client, admin)

    response = client.post(f"{BASE}/{created['id']}/status", json={"status": "paused", "reason": "x"}, headers=admin)

    assert_problem(response, 422, "status")


def test_reopening_a_closed_establishment_is_409(client, admin):
    created = register(client, admin)
    closed = client.post(f"{BASE}/{created['id']}/status", json={"status": "closed", "reason": "Ngừng kinh doanh"},
                         headers=admin)
    assert closed.status_code == 201

    response = client.post(f"{BASE}/{created['id']}/status", json={"status": "active", "reason": "Mở lại"},
                           headers=admin)

    assert_problem(response, 409)
    assert client.get(f"{BASE}/{created['id']}", headers=admin).get_json()["status"] == "closed"


def test_status_change_effective_in_the_future_is_422(client, admin):
    created = register(client, admin)

    response = client.post(f"{BASE}/{created['id']}/status", headers=admin,
                           json={"status": "suspended", "reason": "x", "effective_on": "2999-01-01"})

    assert_problem(response, 422, "effective_on")


def test_status_change_of_unknown_establishment_is_404(client, admin):
    response = client.post(f"{BASE}/{uuid.uuid4()}/status", json={"status": "suspended", "reason": "x"}, headers=admin)

    assert_problem(response, 404)


def test_get_of_unknown_establishment_is_404_problem(client, admin):
    assert_problem(client.get(f"{BASE}/{uuid.uuid4()}", headers=admin), 404)


def test_get_with_a_malformed_id_is_404_problem(client, admin):
    assert_problem(client.get(f"{BASE}/not-a-uuid", headers=admin), 404)


# 9. reviews ------------------------------------------------------------------------------------------------


def review(**overrides) -> dict:
    return {"period": "2020S1", "reviewed_on": "2020-06-15", "outcome": "compliant", **overrides}


def test_record_review_is_201_and_listed_on_the_establishment(client, admin):
    created = register(client, admin)

    response = client.post(f"{BASE}/{created['id']}/reviews", json=review(risk_level="high"), headers=admin)

    assert response.status_code == 201
    body = response.get_json()
    assert [(r["period"], r["reviewed_on"], r["outcome"]) for r in body["reviews"]] == [
        ("2020S1", "2020-06-15", "compliant")]
    assert body["risk_level"] == "high"
    assert client.get(f"{BASE}/{created['id']}", headers=admin).get_json()["reviews"][0]["period"] == "2020S1"


def test_second_review_for_the_same_period_is_409(client, admin):
    created = register(client, admin)
    client.post(f"{BASE}/{created['id']}/reviews", json=review(), headers=admin)

    response = client.post(f"{BASE}/{created['id']}/reviews", json=review(reviewed_on="2020-06-20"), headers=admin)

    assert_problem(response, 409)
    assert len(client.get(f"{BASE}/{created['id']}", headers=admin).get_json()["reviews"]) == 1


def test_review_for_a_quarter_is_422_naming_period(client, admin):
    created = register(client, admin)

    response = client.post(f"{BASE}/{created['id']}/reviews", json=review(period="2020Q1", reviewed_on="2020-03-15"),
                           headers=admin)

    assert_problem(response, 422, "period")


def test_review_with_an_unparseable_period_is_422_naming_period(client, admin):
    created = register(client, admin)

    response = client.post(f"{BASE}/{created['id']}/reviews", json=review(period="S1-2020"), headers=admin)

    assert_problem(response, 422, "period")


def test_review_dated_before_its_period_is_422_naming_reviewed_on(client, admin):
    created = register(client, admin)

    response = client.post(f"{BASE}/{created['id']}/reviews", json=review(reviewed_on="2019-12-31"), headers=admin)

    assert_problem(response, 422, "reviewed_on")
    assert client.get(f"{BASE}/{created['id']}", headers=admin).get_json()["reviews"] == []


def test_review_with_a_malformed_date_is_422_naming_reviewed_on(client, admin):
    created = register(client, admin)

    response = client.post(f"{BASE}/{created['id']}/reviews", json=review(reviewed_on="15/06/2020"), headers=admin)

    assert_problem(response, 422, "reviewed_on")


def test_review_dated_in_the_future_is_422_naming_reviewed_on(client, admin):
    created = register(client, admin)

    response = client.post(f"{BASE}/{created['id']}/reviews", json=review(reviewed_on="2999-01-01"), headers=admin)

    assert_problem(response, 422, "reviewed_on")


def test_review_of_a_closed_establishment_is_409(client, admin):
    created = register(client, admin)
    client.post(f"{BASE}/{created['id']}/status", json={"status": "closed", "reason": "ngừng"}, headers=admin)

    response = client.post(f"{BASE}/{created['id']}/reviews", json=review(), headers=admin)

    assert_problem(response, 409)


def test_review_of_unknown_establishment_is_404(client, admin):
    assert_problem(client.post(f"{BASE}/{uuid.uuid4()}/reviews", json=review(), headers=admin), 404)


# 10. events (transactional outbox) -------------------------------------------------------------------------


def test_register_adds_one_registered_event(client, admin, registry):
    created = register(client, admin)

    rows = outbox(registry)
    assert [r.event_type for r in rows] == [events.ESTABLISHMENT_REGISTERED.type]
    assert rows[0].message_key == created["id"]


def test_registered_event_does_not_carry_the_owner_name(client, admin, registry):
    register(client, admin)

    payload = json.loads(outbox(registry)[0].payload)
    assert payload["data"]["name"] == "Karaoke Hoa Hồng"
    assert "owner_name" not in payload["data"]
    assert "Lò Văn Thành" not in outbox(registry)[0].payload


def test_patch_adds_one_updated_event(client, admin, registry):
    created = register(client, admin)
    etag = etag_of(client, admin, created["id"])

    client.patch(f"{BASE}/{created['id']}", json={"employees": 10}, headers={**admin, "If-Match": etag})

    assert outbox_types(registry)[1:] == [events.ESTABLISHMENT_UPDATED.type]
    assert json.loads(outbox(registry)[-1].payload)["data"]["changed"] == ["employees"]


def test_status_change_adds_one_status_changed_event(client, admin, registry):
    created = register(client, admin)

    client.post(f"{BASE}/{created['id']}/status", json={"status": "suspended", "reason": "x"}, headers=admin)

    assert outbox_types(registry)[1:] == [events.ESTABLISHMENT_STATUS_CHANGED.type]


def test_review_adds_one_reviewed_event(client, admin, registry):
    created = register(client, admin)

    client.post(f"{BASE}/{created['id']}/reviews", json=review(), headers=admin)

    assert outbox_types(registry)[1:] == [events.ESTABLISHMENT_REVIEWED.type]


def test_rejected_writes_add_no_events(client, admin, token, registry):
    created = register(client, admin)
    etag = etag_of(client, admin, created["id"])
    url = f"{BASE}/{created['id']}"

    rejected = [
        client.post(BASE, json=details(commune_code="99999"), headers=admin),
        client.post(BASE, json=details(), headers=token("social_worker")),
        client.patch(url, json={"employees": -1}, headers={**admin, "If-Match": etag}),
        client.patch(url, json={"employees": 3}, headers={**admin, "If-Match": '"stale"'}),
        client.post(f"{url}/status", json={"status": "active", "reason": "x"}, headers=admin),
        client.post(f"{url}/reviews", json=review(period="2020Q1"), headers=admin),
    ]

    assert [r.status_code for r in rejected] == [422, 403, 422, 412, 409, 422]
    assert outbox_types(registry) == [events.ESTABLISHMENT_REGISTERED.type]


def test_request_id_becomes_the_event_correlation_id_and_is_echoed(client, admin, registry):
    response = client.post(BASE, json=details(), headers={**admin, "X-Request-ID": "req-hoa-hong-42"})

    assert response.status_code == 201
    assert response.headers["X-Request-ID"] == "req-hoa-hong-42"
    assert json.loads(outbox(registry)[0].payload)["correlationid"] == "req-hoa-hong-42"


def test_a_request_id_is_generated_when_none_is_sent(client, admin, registry):
    response = client.post(BASE, json=details(), headers=admin)

    generated = response.headers["X-Request-ID"]
    assert generated
    assert json.loads(outbox(registry)[0].payload)["correlationid"] == generated


def test_problem_carries_the_request_id(client, admin):
    response = client.post(BASE, json=details(commune_code="99999"), headers={**admin, "X-Request-ID": "req-bad-1"})

    assert response.get_json()["request_id"] == "req-bad-1"
    assert response.headers["X-Request-ID"] == "req-bad-1"


# 11. docs and operations -----------------------------------------------------------------------------------


def test_openapi_document_lists_the_paths_and_bearer_auth(client):
    response = client.get("/registry/openapi.json")

    assert response.status_code == 200
    spec = response.get_json()
    assert spec["openapi"].startswith("3.")
    assert {
        "/registry/v1/establishments",
        "/registry/v1/establishments/{establishment_id}",
        "/registry/v1/establishments/{establishment_id}/status",
        "/registry/v1/establishments/{establishment_id}/reviews",
    } <= set(spec["paths"])
    assert spec["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"


def test_docs_page_is_html_and_its_assets_are_served_locally(client):
    page = client.get("/registry/docs")

    assert page.status_code == 200
    assert page.mimetype == "text/html"
    assert "/registry/docs/assets/swagger-ui-bundle.js" in page.get_data(as_text=True)
    asset = client.get("/registry/docs/assets/swagger-ui-bundle.js")
    assert asset.status_code == 200
    assert len(asset.get_data()) > 1000


def test_healthz_is_200(client):
    response = client.get("/registry/healthz")

    assert response.status_code == 200
    assert response.get_json()["status"] == "ok"


def test_readyz_reports_database_and_events(client):
    response = client.get("/registry/readyz")

    assert response.status_code == 200
    assert response.get_json()["checks"] == {"database": True, "events": True}


def test_metrics_count_http_requests(client, admin):
    client.get(BASE, headers=admin)

    response = client.get("/metrics")

    assert response.status_code == 200
    assert "lanhmanh_http_requests_total" in response.get_data(as_text=True)
    assert 'route="/registry/v1/establishments"' in response.get_data(as_text=True)


def test_every_response_carries_nosniff(client, admin):
    created = client.post(BASE, json=details(), headers=admin)
    responses = [
        created,
        client.get(created.headers["Location"], headers=admin),
        client.get(BASE, headers=admin),
        client.get(BASE),  # 401
        client.post(BASE, json={}, headers=admin),  # 422
        client.get(f"{BASE}/{uuid.uuid4()}", headers=admin),  # 404
        client.get("/registry/openapi.json"),
        client.get("/registry/docs"),
        client.get("/registry/docs/assets/swagger-ui-bundle.js"),
        client.get("/registry/healthz"),
        client.get("/registry/readyz"),
        client.get("/metrics"),
        client.get("/nowhere"),
    ]

    assert [r.headers.get("X-Content-Type-Options") for r in responses] == ["nosniff"] * len(responses)


def test_api_responses_are_not_cached(client, admin):
    response = client.get(BASE, headers=admin)

    assert response.headers["Cache-Control"] == "no-store"
