"""The shared contracts: reporting periods, text folding, GSO reference data, the event catalogue."""
from __future__ import annotations

import uuid
from datetime import date

import pytest
from marshmallow import fields

from contracts import periods
from contracts.events import CATALOGUE, TYPE_PREFIX, lookup
from contracts.refdata import SON_LA, units
from contracts.text import fold

# --- periods ------------------------------------------------------------------------------


@pytest.mark.parametrize("code,kind,start,end", [
    ("2020", "year", date(2020, 1, 1), date(2020, 12, 31)),
    ("2020S1", "half_year", date(2020, 1, 1), date(2020, 6, 30)),
    ("2020S2", "half_year", date(2020, 7, 1), date(2020, 12, 31)),
    ("2020Q1", "quarter", date(2020, 1, 1), date(2020, 3, 31)),
    ("2020Q2", "quarter", date(2020, 4, 1), date(2020, 6, 30)),
    ("2020Q3", "quarter", date(2020, 7, 1), date(2020, 9, 30)),
    ("2020Q4", "quarter", date(2020, 10, 1), date(2020, 12, 31)),
    ("202002", "month", date(2020, 2, 1), date(2020, 2, 29)),
    ("202102", "month", date(2021, 2, 1), date(2021, 2, 28)),
    ("202012", "month", date(2020, 12, 1), date(2020, 12, 31)),
])
def test_period_codes_parse_to_their_dates(code, kind, start, end):
    assert periods.parse(code) == periods.Period(code, kind, start, end)


@pytest.mark.parametrize("code", [
    "", None, "20", "20201", "2020S0", "2020S3", "2020Q0", "2020Q5", "202000", "202013", "2020s1",
    "2020-01", " 2020", "1899", "abcd", "2020H1",
])
def test_invalid_period_codes_raise_value_error(code):
    with pytest.raises(ValueError):
        periods.parse(code)


@pytest.mark.parametrize("code", ["2020S1\n", "２０２０S1"], ids=["trailing-newline", "fullwidth-digits"])
def test_lookalike_period_codes_are_refused(code):
    # Either would be stored as a different code than 2020S1: a second review of the same half-year.
    with pytest.raises(ValueError):
        periods.parse(code)


def test_period_contains_its_first_and_last_day_only():
    s1 = periods.parse("2020S1")
    assert s1.contains(date(2020, 1, 1)) and s1.contains(date(2020, 6, 30))
    assert not s1.contains(date(2019, 12, 31)) and not s1.contains(date(2020, 7, 1))


@pytest.mark.parametrize("day,expected", [
    (date(2020, 1, 1), "2020S1"), (date(2020, 6, 30), "2020S1"),
    (date(2020, 7, 1), "2020S2"), (date(2020, 12, 31), "2020S2"),
])
def test_half_year_of(day, expected):
    assert periods.half_year_of(day) == expected


# --- text ---------------------------------------------------------------------------------

@pytest.mark.parametrize("text,expected", [
    ("Karaoke Hoa Hồng", "karaoke hoa hong"),
    ("Đ", "d"),
    ("đ", "d"),
    ("Nhà nghỉ Đồi Thông", "nha nghi doi thong"),
    ("  Massage \t  Thư   giãn\n", "massage thu gian"),
    ("Karaoke Hoa Ho\u0302\u0300ng", "karaoke hoa hong"),  # decomposed input
    (None, ""),
    ("", ""),
])
def test_fold(text, expected):
    assert fold(text) == expected


# --- reference data -----------------------------------------------------------------------

def test_son_la_has_12_districts_and_204_communes():
    admin = units()
    districts = admin.districts_in(SON_LA)
    assert SON_LA == "14" and admin.provinces["14"].name == "Tỉnh Sơn La"
    assert len(districts) == 12
    assert sum(len(admin.communes_in(d.code)) for d in districts) == 204


def test_country_has_63_provinces_and_10767_communes():
    admin = units()
    assert len(admin.provinces) == 63
    assert len(admin.communes) == 10_767


def test_commune_is_located_in_its_district_and_province():
    admin = units()
    assert admin.district_of("03646") == "116"
    assert admin.province_of_district("116") == "14"
    assert admin.district_of("99999") is None


# --- event catalogue ----------------------------------------------------------------------

EVENT_TYPES = sorted(CATALOGUE.values(), key=lambda t: t.type)


def test_catalogue_is_not_empty():
    assert {t.name for t in EVENT_TYPES} >= {
        "registry.establishment.registered", "registry.establishment.updated",
        "registry.establishment.reviewed", "registry.establishment.status_changed",
    }


@pytest.mark.parametrize("event_type", EVENT_TYPES, ids=lambda t: t.type)
def test_event_type_is_namespaced_and_versioned(event_type):
    assert event_type.type.startswith("vn.lanhmanh.") and TYPE_PREFIX == "vn.lanhmanh."
    assert event_type.type.endswith(f".v{event_type.version}")
    assert lookup(event_type.type) is event_type


def _sample(field: fields.Field):
    if isinstance(field, fields.UUID):
        return str(uuid.uuid4())
    if isinstance(field, fields.DateTime):
        return "2020-06-01T08:00:00+00:00"
    if isinstance(field, fields.Date):
        return "2020-06-01"
    if isinstance(field, fields.Integer):
        return 1
    if isinstance(field, fields.Boolean):
        return True
    if isinstance(field, fields.List):
        return []
    choices = next((v.choices for v in field.validators if hasattr(v, "choices")), None)
    return next(iter(choices)) if choices else "x"


@pytest.mark.parametrize("event_type", EVENT_TYPES, ids=lambda t: t.type)
def test_payload_schema_ignores_unknown_fields(event_type):
    schema = event_type.schema()
    payload = {name: _sample(f) for name, f in schema.fields.items()}
    assert schema.validate(payload) == {}, "the generated sample should be a valid payload"
    loaded = schema.load({**payload, "added_in_a_later_version": "ignored"})
    assert "added_in_a_later_version" not in loaded
    assert set(loaded) == set(payload)


def test_locate_gives_a_served_commune_s_district_and_province_and_refuses_the_others():
    from contracts.refdata import NotServed, units

    assert units().locate("03646", ("14",)) == {"commune_code": "03646", "district_code": "116", "province_code": "14"}
    with pytest.raises(NotServed, match="GSO list"):
        units().locate("99999", ("14",))
    with pytest.raises(NotServed, match="outside the provinces"):
        units().locate("00001", ("14",))  # Hà Nội


def test_a_consumer_reading_a_field_or_type_the_catalogue_lacks_is_refused_when_declared():
    from chassis.consumer import ConsumerSpec

    completed = "vn.lanhmanh.inspection.inspection.completed.v1"
    with pytest.raises(ValueError, match="conducted_at"):
        ConsumerSpec("c", {}, reads={completed: ("inspection_id", "conducted_at")})
    with pytest.raises(ValueError, match="unknown event type"):
        ConsumerSpec("c", {}, reads={"vn.lanhmanh.nothing.v1": ("id",)})
    reader = lookup(completed).reader(("inspection_id", "conducted_on"))
    loaded = reader.load({"inspection_id": str(uuid.uuid4()), "conducted_on": "2020-02-02", "sanctions": ["x"]})
    assert set(loaded) == {"inspection_id", "conducted_on"} and loaded["conducted_on"] == date(2020, 2, 2)
