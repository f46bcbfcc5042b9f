"""The monthly rollup (services/reporting/rollup.py) against the rows it summarises: random event
sequences (duplicates, corrections, state changes, out of order) applied through the projection
handlers on SQLite, then every unit's monthly counts and indicators from the rollup must equal a
plain GROUP BY over the raw projection rows, and the rollup recomputed from the rows must equal
the one the handlers kept."""
from __future__ import annotations

import random
import uuid
from datetime import date, datetime, timedelta, timezone

import pytest
from sqlalchemy import and_, exists, func, or_, select

from chassis.envelope import ReceivedEvent
from contracts import periods
from contracts.events import cases, inspection, registry
from contracts.refdata import units
from services.reporting import handlers, views
from services.reporting.tables import p_establishments, p_inspections, r_monthly
from tests.conftest import make_config

YEARS = (2019, 2020)


def communes() -> list[tuple[str, str]]:
    """Two communes of one district, one of another district of Sơn La, one of Hà Nội."""
    admin = units()
    picked = ["03646", "03649", sorted(c.code for c in admin.communes_in("118"))[0],
              sorted(c.code for c in admin.communes_in("001"))[0]]
    return [(code, admin.district_of(code)) for code in picked]


@pytest.fixture
def reporting(services, tmp_path, embedded_transport):
    from chassis.service import bootstrap

    container = bootstrap(services["reporting"], make_config("reporting", tmp_path), embedded_transport)
    container.migrate()
    yield container
    container.dispose()


def received(event_type, data) -> ReceivedEvent:
    payload = event_type.schema().dump(data)
    return ReceivedEvent(str(uuid.uuid4()), event_type.type, "/lanhmanh/test", None,
                         datetime(2020, 5, 1, tzinfo=timezone.utc), payload, None, None, "1")


def apply(container, event: ReceivedEvent) -> None:
    uow = container.uow()
    with uow:
        handlers.PROJECTION_HANDLERS[event.type](uow, event)
        uow.commit()


def some_day(rng: random.Random) -> date:
    return date(2018, 10, 1) + timedelta(days=rng.randrange(0, 850))


def random_events(rng: random.Random, n_establishments=8, n_inspections=30) -> list[ReceivedEvent]:
    """Registrations and updates (moves, new opening dates), closings and re-openings, inspections
    scheduled, started, completed, corrected (new date, kind or commune) and cancelled."""
    places = communes()
    events = []
    eids = [uuid.uuid4() for _ in range(n_establishments)]
    for eid in eids:
        for _ in range(rng.randint(1, 3)):
            commune, district = rng.choice(places)
            events.append(received(registry.ESTABLISHMENT_REGISTERED, {
                "establishment_id": eid, "name": "Karaoke Hoa Hồng", "business_type": "karaoke",
                "address": "Tô Hiệu", "commune_code": commune, "district_code": district,
                "province_code": units().province_of_district(district), "status": "active", "risk_level": "low",
                "operating_since": some_day(rng), "registered_at": datetime(2018, 1, 1, tzinfo=timezone.utc)}))
        for _ in range(rng.randint(0, 2)):
            commune, district = rng.choice(places)
            status = rng.choice(("revoked", "closed", "active", "suspended"))
            events.append(received(registry.ESTABLISHMENT_STATUS_CHANGED, {
                "establishment_id": eid, "previous_status": "active", "status": status, "reason": "Tái phạm",
                "effective_on": some_day(rng), "commune_code": commune, "district_code": district}))
    for _ in range(n_inspections):
        iid, eid = uuid.uuid4(), rng.choice(eids)
        commune, district = rng.choice(places)
        base = {"inspection_id": iid, "establishment_id": eid, "kind": rng.choice(inspection.KINDS),
                "agency": "police", "commune_code": commune, "district_code": district}
        steps = [received(inspection.INSPECTION_SCHEDULED, {**base, "scheduled_on": some_day(rng)}),
                 received(inspection.INSPECTION_STARTED, {**base, "started_at": datetime(2020, 1, 2, tzinfo=timezone.utc)})]
        for revision in range(1, rng.randint(1, 3) + 1):
            corrected = {**base, "kind": rng.choice(inspection.KINDS)} if revision > 1 else base
            steps.append(received(inspection.INSPECTION_COMPLETED, {
                **corrected, "conducted_on": some_day(rng), "passed": True, "violation_codes": [], "sanctions": [],
                "fines_total_vnd": 0, "signs_of_prostitution": False, "people_identified": 0,
                "people_consenting_to_referral": 0, "result_revision": revision, "correction": revision > 1}))
        if rng.random() < 0.2:
            steps.append(received(inspection.INSPECTION_CANCELLED, {**base, "reason": "Hoãn"}))
        events += rng.sample(steps, rng.randint(1, len(steps)))
    events += [rng.choice(events) for _ in range(len(events) // 4)]  # redeliveries
    if rng.random() < 0.7:
        rng.shuffle(events)  # out of order
    return events


# -- the plain GROUP BY over the raw rows (what the rollup replaces) -----------------------------
def raw_monthly(session, unit: views.OrgUnit, year: int) -> list[dict]:
    e, i = p_establishments.c, p_inspections.c
    out = []
    for month in range(1, 13):
        period = periods.parse(f"{year}{month:02d}")
        operating = and_(e.opened_on <= period.end, or_(e.closed_on.is_(None), e.closed_on > period.end))
        done = and_(i.state == "completed", i.conducted_on >= period.start, i.conducted_on <= period.end)
        kinds = dict(session.execute(views._within(select(i.kind, func.count()).where(done), unit, i.district_code,
                                                   i.commune_code).group_by(i.kind)).all())
        count = views._within(select(func.count()).select_from(p_establishments).where(operating), unit,
                              e.district_code, e.commune_code)
        inspected = count.where(exists().where(and_(i.establishment_id == e.id, done)))
        out.append({"period": period.code, "operating": session.execute(count).scalar_one(),
                    "inspected": session.execute(inspected).scalar_one(), **kinds})
    return out


def raw_indicators(session, unit: views.OrgUnit, period: periods.Period) -> dict:
    """Per child: inspections by kind, establishments operating, those inspected, from the rows."""
    e, i = p_establishments.c, p_inspections.c
    operating = and_(e.opened_on <= period.end, or_(e.closed_on.is_(None), e.closed_on > period.end))
    done = and_(i.state == "completed", i.conducted_on >= period.start, i.conducted_on <= period.end)
    out = {}
    for child in unit.children() or [unit]:
        def count(query, table):
            return session.execute(views._within(query, child, table.c.district_code, table.c.commune_code)).scalar_one()
        out[child.code] = {
            "inspections_specialised": count(select(func.count()).where(done, i.kind == "specialised"), p_inspections),
            "inspections_inter_agency": count(select(func.count()).where(done, i.kind == "inter_agency"), p_inspections),
            "establishments_inspected": (
                count(select(func.count()).where(operating, exists().where(and_(i.establishment_id == e.id, done))),
                      p_establishments),
                count(select(func.count()).where(operating), p_establishments)),
        }
    return out


def rollup_rows(session) -> dict:
    return {(r.unit_code, r.month, r.measure): r.value for r in session.execute(select(r_monthly))}


def from_rollup(table: dict) -> dict:
    out = {}
    for child in table["children"] or [{"org_unit": table["org_unit"], "indicators": table["indicators"]}]:
        rows = {row["id"]: row for row in child["indicators"]}
        out[child["org_unit"]["code"]] = {
            "inspections_specialised": rows["inspections_specialised"]["numerator"],
            "inspections_inter_agency": rows["inspections_inter_agency"]["numerator"],
            "establishments_inspected": (rows["establishments_inspected"]["numerator"],
                                         rows["establishments_inspected"]["denominator"]),
        }
    return out


UNITS = ("VN", "14", "116", "118", "03646", "01")


@pytest.mark.parametrize("seed", range(6))
def test_the_rollup_kept_by_the_handlers_equals_the_raw_group_by_and_its_recomputation(reporting, seed):
    rng = random.Random(seed)
    for event in random_events(rng):
        apply(reporting, event)
    with reporting.session_factory() as session:
        assert session.execute(select(func.count()).select_from(p_inspections)).scalar_one() > 0
        for code in UNITS:
            unit = views.org_unit(code)
            for year in YEARS:
                expected = raw_monthly(session, unit, year)
                got = [{k: v for k, v in row.items() if v or k in ("period", "operating", "inspected")}
                       for row in views.monthly(session, unit, year)]
                assert got == expected, (code, year)
        for code in ("14", "116", "03646"):
            unit = views.org_unit(code)
            for period in ("2020", "2019S2", "2020Q1", "202003", "201911"):
                p = periods.parse(period)
                assert from_rollup(views.indicators(session, unit, p)) == raw_indicators(session, unit, p), (
                    code, period)
        kept = rollup_rows(session)
    uow = reporting.uow()
    assert handlers.finish_rebuild(uow) > 0
    with reporting.session_factory() as session:
        assert rollup_rows(session) == kept


def test_an_event_applied_twice_changes_nothing_and_a_state_change_moves_the_count_once(reporting):
    (commune, district), eid, iid = communes()[0], uuid.uuid4(), uuid.uuid4()
    apply(reporting, received(registry.ESTABLISHMENT_REGISTERED, {
        "establishment_id": eid, "name": "Nhà nghỉ Bình Minh", "business_type": "accommodation", "address": "Bản Hài",
        "commune_code": commune, "district_code": district, "province_code": "14", "status": "active",
        "risk_level": "medium", "operating_since": date(2019, 1, 1),
        "registered_at": datetime(2019, 1, 1, tzinfo=timezone.utc)}))
    base = {"inspection_id": iid, "establishment_id": eid, "kind": "specialised", "agency": "culture",
            "commune_code": commune, "district_code": district}
    scheduled = received(inspection.INSPECTION_SCHEDULED, {**base, "scheduled_on": date(2020, 3, 1)})
    completed = received(inspection.INSPECTION_COMPLETED, {
        **base, "conducted_on": date(2020, 3, 5), "passed": True, "violation_codes": [], "sanctions": [],
        "fines_total_vnd": 0, "signs_of_prostitution": False, "people_identified": 0,
        "people_consenting_to_referral": 0})

    def march(code):
        with reporting.session_factory() as session:
            row = views.monthly(session, views.org_unit(code), 2020)[2]
            return row.get("specialised", 0), row["inspected"], row["operating"]

    for event in (scheduled, scheduled):
        apply(reporting, event)
    assert march("VN") == (0, 0, 1)
    for event in (completed, completed, scheduled):
        apply(reporting, event)
    for code in (commune, district, "14", "VN"):
        assert march(code) == (1, 1, 1)


def test_the_trend_gives_each_month_the_indicators_of_that_month(reporting):
    """The trend's hotspots and trials (one query over the 12 months) and its inspections (the
    rollup) are what the indicator table says for each month on its own."""
    rng = random.Random(11)
    for event in random_events(rng, n_establishments=5, n_inspections=15):
        apply(reporting, event)
    places = communes()
    for _ in range(12):
        (commune, district), hid, cid = rng.choice(places), uuid.uuid4(), uuid.uuid4()
        where = {"commune_code": commune, "district_code": district}
        detected = some_day(rng)
        apply(reporting, received(cases.HOTSPOT_DETECTED, {**where, "hotspot_id": hid, "kind": "public_place",
                                                           "detected_on": detected, "found_by": "tip"}))
        if rng.random() < 0.6:
            apply(reporting, received(cases.HOTSPOT_ELIMINATED, {
                **where, "hotspot_id": hid, "eliminated_on": detected + timedelta(days=rng.randrange(120))}))
        opened = some_day(rng)
        apply(reporting, received(cases.CASE_OPENED, {**where, "case_id": cid, "articles": ["327"], "opened_on": opened}))
        if rng.random() < 0.6:
            apply(reporting, received(cases.CASE_STAGE_CHANGED, {
                **where, "case_id": cid, "previous_stage": "opened", "stage": rng.choice(("trial", "prosecution")),
                "on": opened + timedelta(days=rng.randrange(200))}))
    with reporting.session_factory() as session:
        for code in ("14", "116", places[0][0]):
            unit = views.org_unit(code)
            for month in views.trend(session, unit, 2020)["months"]:
                table = views.indicators(session, unit, periods.parse(month["period"]))
                expected = {row["id"]: row["value"] for row in table["indicators"] if row["id"] in month}
                assert {k: v for k, v in month.items() if k != "period"} == expected, (code, month["period"])
