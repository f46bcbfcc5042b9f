"""The reporting service's business actions (commune reports, plans, rebuild) and the
projection handlers of the events it consumes.

A projection handler runs inside the consumer runner's unit of work (with its inbox row):
it writes through ``uow.projections`` and never commits itself. Every write sets state,
so an event applied twice (a replay racing the live consumer) leaves the same rows.
"""
from __future__ import annotations

import time
import uuid
from datetime import date, datetime, timezone

from prometheus_client import Gauge

from chassis.auth import Forbidden, Principal
from chassis.consumer import ConsumerSpec
from chassis.envelope import ReceivedEvent
from contracts import topics
from contracts.events import cases, inspection, registry, support
from contracts.refdata import NotServed, units
from services.reporting import domain
from services.reporting.domain import CASE_STAGES, CommuneReport, Conflict, InvalidChange
from services.reporting.repository import ReportingUnitOfWork
from services.reporting.tables import (
    p_cases, p_establishments, p_hotspots, p_inspections, p_reviews, p_support, p_tips,
)

PROJECTION_LAG = Gauge(
    "lanhmanh_reporting_projection_lag_seconds",
    "Seconds between an event's time and its landing in the reporting projections (last event applied)",
    ["consumer"], multiprocess_mode="livemax")


def now() -> datetime:
    return datetime.now(timezone.utc)


def locate(commune_code: str, provinces: tuple[str, ...]) -> dict:
    """District and province of a commune, checked against the GSO list and this deployment's provinces."""
    try:
        return units().locate(commune_code, provinces)
    except NotServed as exc:
        raise InvalidChange(str(exc), field="commune_code") from None


# -- commune reports ---------------------------------------------------------------------------
def create_report(uow: ReportingUnitOfWork, actor: Principal, values: dict, provinces: tuple[str, ...]) -> CommuneReport:
    location = locate(values.pop("commune_code"), provinces)
    actor.require_district(location["district_code"])
    with uow:
        report = CommuneReport.create(str(uuid.uuid4()), period=values.pop("period"), by=actor.sub, at=now(),
                                      **location, **values)
        clash = uow.reports.overlapping(report.commune_code, report.period_start, report.period_end)
        if clash is not None:
            raise Conflict(f"the commune already reported for {clash.period}, which overlaps {report.period}",
                           field="period")
        uow.reports.add(report)
        uow.commit()
    return report


def update_report(uow: ReportingUnitOfWork, actor: Principal, report_id: str, values: dict, precondition) -> CommuneReport:
    with uow:
        report = uow.reports.get(report_id)
        actor.require_district(report.district_code)
        precondition(report)
        report.update(values, actor.sub, now())
        uow.commit()
    return report


def submit_report(uow: ReportingUnitOfWork, actor: Principal, report_id: str) -> CommuneReport:
    with uow:
        report = uow.reports.get(report_id)
        actor.require_district(report.district_code)
        report.submit(actor.sub, now())
        uow.commit()
    return report


def approve_report(uow: ReportingUnitOfWork, actor: Principal, report_id: str) -> CommuneReport:
    """The commune's district approves (a user of that district, or the province); the report locks."""
    with uow:
        report = uow.reports.get(report_id)
        actor.require_district(report.district_code)
        report.approve(actor.sub, now())
        uow.commit()
    return report


def unlock_report(uow: ReportingUnitOfWork, actor: Principal, report_id: str, reason: str) -> CommuneReport:
    """Only the level above the approving district (a province-level user) unlocks, with a reason."""
    with uow:
        report = uow.reports.get(report_id)
        if actor.district is not None:
            raise Forbidden("a locked report is unlocked by the province, the level above the district")
        report.unlock(reason, actor.sub, now())
        uow.commit()
    return report


# -- plans -------------------------------------------------------------------------------------
def put_plan(uow: ReportingUnitOfWork, actor: Principal, plan_id: str, document: dict, expected_version: int) -> dict:
    """Store a plan's targets; ``expected_version`` is the version read (0: not stored yet)."""
    if document.get("id") != plan_id:
        raise InvalidChange("the plan's id must match the URL", field="id")
    domain.check_plan(document)
    with uow:
        version = uow.plans.save(document, expected_version, actor.sub, now())
        uow.commit()
    return {**document, "version": version}


# -- projections: the registry -----------------------------------------------------------------
def _project(uow, event: ReceivedEvent) -> None:
    """Record when the projection last moved, for the lag metric and the status endpoint."""
    applied = now()
    uow.projections.touch(event.time, applied)
    if event.time is not None:
        PROJECTION_LAG.labels(LIVE_GROUP).set(max(0.0, (applied - event.time).total_seconds()))


def establishment_values(event: ReceivedEvent, known: bool) -> dict:
    """What a registration or update sets on the establishment's row (a new row needs an opening day)."""
    d = event.data
    opened = _day(d.get("operating_since")) or _day(d.get("registered_at") or d.get("updated_at"))
    values = {"commune_code": d["commune_code"], "district_code": d["district_code"],
              "business_type": d["business_type"], "status": d["status"]}
    if opened:
        values["opened_on"] = opened
    return values if known else {**values, "opened_on": opened or date.today()}


def on_establishment(uow, event: ReceivedEvent) -> None:
    key = {"id": event.data["establishment_id"]}
    known = uow.projections.row(p_establishments, key) is not None
    uow.projections.upsert(p_establishments, key, establishment_values(event, known))
    _project(uow, event)


def on_establishments(uow, events: list[ReceivedEvent]) -> None:
    """A run of registrations or updates at once (batch handler): what `on_establishment` leaves."""
    existing = uow.projections.rows(p_establishments, [e.data["establishment_id"] for e in events])
    known = {row.id for row in existing}
    changes: dict[str, dict] = {}
    for event in events:
        key = event.data["establishment_id"]
        changes.setdefault(key, {}).update(establishment_values(event, key in known))
        known.add(key)
    uow.projections.upsert_many(p_establishments, changes, existing)
    _project(uow, events[-1])


def on_establishment_status(uow, event: ReceivedEvent) -> None:
    d = event.data
    closed = _day(d["effective_on"]) if d["status"] in ("revoked", "closed") else None
    uow.projections.change(p_establishments, {"id": d["establishment_id"]},
                           {"status": d["status"], "closed_on": closed})
    _project(uow, event)


def on_establishment_reviewed(uow, event: ReceivedEvent) -> None:
    d = event.data
    uow.projections.upsert(p_reviews, {"establishment_id": d["establishment_id"], "period": d["period"]}, {
        "reviewed_on": _day(d["reviewed_on"]), "commune_code": d["commune_code"], "district_code": d["district_code"]})
    _project(uow, event)


# -- projections: inspection -------------------------------------------------------------------
INSPECTION_STATES = {inspection.INSPECTION_SCHEDULED.type: "scheduled", inspection.INSPECTION_STARTED.type: "started",
                     inspection.INSPECTION_COMPLETED.type: "completed", inspection.INSPECTION_CANCELLED.type: "cancelled"}


def inspection_values(event: ReceivedEvent, current_state: str | None) -> dict:
    """What an inspection event sets on its row, given the row's state so far."""
    d = event.data
    state = INSPECTION_STATES[event.type]
    if current_state == "completed" and state != "completed":
        state = "completed"  # a late-arriving earlier step does not undo a completed inspection
    values = {"establishment_id": d["establishment_id"], "kind": d["kind"], "agency": d["agency"],
              "commune_code": d["commune_code"], "district_code": d["district_code"], "state": state}
    if event.type == inspection.INSPECTION_COMPLETED.type:
        values.update(conducted_on=_day(d["conducted_on"]), passed=d["passed"],
                      signs_of_prostitution=d["signs_of_prostitution"], fines_total_vnd=d["fines_total_vnd"])
    return values


def on_inspection(uow, event: ReceivedEvent) -> None:
    key = {"id": event.data["inspection_id"]}
    existing = uow.projections.row(p_inspections, key)
    uow.projections.upsert(p_inspections, key, inspection_values(event, existing.state if existing else None))
    _project(uow, event)


def on_inspections(uow, events: list[ReceivedEvent]) -> None:
    """A run of inspection events at once (the consumer's batch handler): the rows `on_inspection`
    leaves after each in turn, written in a few statements instead of a few per event."""
    ids = [e.data["inspection_id"] for e in events]
    existing = uow.projections.rows(p_inspections, ids)
    state = {row.id: row.state for row in existing}
    changes: dict[str, dict] = {}
    for event in events:
        values = inspection_values(event, state.get(event.data["inspection_id"]))
        state[event.data["inspection_id"]] = values["state"]
        changes.setdefault(event.data["inspection_id"], {}).update(values)
    uow.projections.upsert_many(p_inspections, changes, existing)
    _project(uow, events[-1])


# -- projections: cases, hotspots, tips ---------------------------------------------------------
def on_tip(uow, event: ReceivedEvent) -> None:
    d = event.data
    values = {"commune_code": d["commune_code"], "district_code": d["district_code"]}
    if event.type == cases.TIP_RECEIVED.type:
        values["received_on"] = _day(d["received_at"])
    if event.type == cases.TIP_CLASSIFIED.type:
        values["classification"] = d["classification"]
    uow.projections.upsert(p_tips, {"id": d["tip_id"]}, values)
    _project(uow, event)


def on_case_opened(uow, event: ReceivedEvent) -> None:
    d = event.data
    existing = uow.projections.row(p_cases, {"id": d["case_id"]})
    values = {"commune_code": d["commune_code"], "district_code": d["district_code"], "opened_on": _day(d["opened_on"])}
    uow.projections.upsert(p_cases, {"id": d["case_id"]}, values if existing else {**values, "stage": "opened"})
    _project(uow, event)


def on_case_stage(uow, event: ReceivedEvent) -> None:
    d = event.data
    stage, on = d["stage"], _day(d["on"])
    row = uow.projections.row(p_cases, {"id": d["case_id"]})
    values = {"stage": stage, "commune_code": d["commune_code"], "district_code": d["district_code"]}
    if stage in CASE_STAGES:
        reached = CASE_STAGES.index(stage)
        for i, name in enumerate(CASE_STAGES[1:], start=1):
            current = getattr(row, f"{name}_on", None) if row is not None else None
            if i <= reached:  # a stage reached implies the ones before it
                values[f"{name}_on"] = on if (name == stage or current is None) else current
            elif d.get("correction"):  # a correction back to an earlier stage undoes the later ones
                values[f"{name}_on"] = None
        values["ended_on"] = None
        if stage == "trial" and d.get("mobile_trial"):
            values["mobile_trial"] = True
    else:  # suspended or dismissed
        values["ended_on"] = on
    uow.projections.upsert(p_cases, {"id": d["case_id"]}, values)
    _project(uow, event)


def on_hotspot(uow, event: ReceivedEvent) -> None:
    d = event.data
    values = {"commune_code": d["commune_code"], "district_code": d["district_code"]}
    if event.type == cases.HOTSPOT_DETECTED.type:
        values["detected_on"] = _day(d["detected_on"])
    elif event.type == cases.HOTSPOT_ELIMINATED.type:
        values["eliminated_on"] = _day(d["eliminated_on"])
    else:  # recurred: open again
        values.update(recurred_on=_day(d["recurred_on"]), eliminated_on=None)
    uow.projections.upsert(p_hotspots, {"id": d["hotspot_id"]}, values)
    _project(uow, event)


# -- projections: support (a pseudonymous ref, a district, an age band and a sex: nothing more) --
SUPPORT_FACTS = {support.SUPPORT_CASE_OPENED.type: ("opened", "opened_on"),
                 support.SERVICE_DELIVERED.type: ("service", "delivered_on"),
                 support.SUPPORT_CASE_CLOSED.type: ("closed", "closed_on")}


def on_support(uow, event: ReceivedEvent) -> None:
    d = event.data
    fact, day_field = SUPPORT_FACTS[event.type]
    uow.projections.upsert(p_support, {"event_id": event.id}, {
        "fact": fact, "person_ref": str(d["person_ref"]), "district_code": d["district_code"],
        "age_band": d["age_band"], "sex": d["sex"], "service_type": d.get("service_type"),
        "completed": d.get("completed", True) if fact == "service" else None, "outcome": d.get("outcome"), "happened_on": _day(d[day_field]),
    })
    _project(uow, event)


PROJECTION_HANDLERS = {
    registry.ESTABLISHMENT_REGISTERED.type: on_establishment,
    registry.ESTABLISHMENT_UPDATED.type: on_establishment,
    registry.ESTABLISHMENT_STATUS_CHANGED.type: on_establishment_status,
    registry.ESTABLISHMENT_REVIEWED.type: on_establishment_reviewed,
    **{t: on_inspection for t in INSPECTION_STATES},
    cases.TIP_RECEIVED.type: on_tip,
    cases.TIP_CLASSIFIED.type: on_tip,
    cases.CASE_OPENED.type: on_case_opened,
    cases.CASE_STAGE_CHANGED.type: on_case_stage,
    cases.HOTSPOT_DETECTED.type: on_hotspot,
    cases.HOTSPOT_ELIMINATED.type: on_hotspot,
    cases.HOTSPOT_RECURRED.type: on_hotspot,
    **{t: on_support for t in SUPPORT_FACTS},
}


# -- rebuild -----------------------------------------------------------------------------------
#: Every topic of the other services: reporting is the read side of all of them.
TOPICS = [t for t in topics.ALL if t != topics.DEAD_LETTERS]
LIVE_GROUP = "reporting-projections"


#: Runs of these types are applied at once (same result as one by one; much faster in a replay).
BATCH_HANDLERS = {**{t: on_inspections for t in INSPECTION_STATES},
                  registry.ESTABLISHMENT_REGISTERED.type: on_establishments,
                  registry.ESTABLISHMENT_UPDATED.type: on_establishments}


#: The fields the inspection handlers read (`inspection_values`): of the 19 of a completed
#: inspection's payload, only these are checked and kept (a tolerant reader: a break in a field
#: reporting does not use does not hold its figures back; the contract check of the busiest type
#: costs a third less, and the consumer applies ~20 % more events a second, docs/benchmarks.md).
_INSPECTION_FIELDS = ("inspection_id", "establishment_id", "kind", "agency", "commune_code", "district_code")
READS = {**{t: _INSPECTION_FIELDS for t in INSPECTION_STATES},
         inspection.INSPECTION_COMPLETED.type: (*_INSPECTION_FIELDS, "conducted_on", "passed",
                                                "signs_of_prostitution", "fines_total_vnd")}


def projection_spec() -> ConsumerSpec:
    """The live consumer (bootstrap.py)."""
    return ConsumerSpec(LIVE_GROUP, PROJECTION_HANDLERS, TOPICS, BATCH_HANDLERS, READS)


def replay_group(generation: int, started: datetime) -> str:
    """The consumer group of a rebuild: ``reporting-projections-g<N>``, stamped with the time the
    rebuild started, because a broker's groups outlive a database restored or created afresh (whose
    generations start again at 1): a group seen before would resume at its old offsets."""
    return f"{LIVE_GROUP}-g{generation}-{started.astimezone(timezone.utc):%Y%m%dT%H%M%S%f}"


def replay_spec(group: str) -> ConsumerSpec:
    """A rebuild's consumer: a group never used before, so it reads every topic from its start."""
    return ConsumerSpec(group, PROJECTION_HANDLERS, TOPICS, BATCH_HANDLERS, READS)


def start_rebuild(uow: ReportingUnitOfWork, actor: Principal) -> str:
    """Empty the projections and move to the next generation; return its consumer group."""
    if actor.district is not None:
        raise Forbidden("only a province-level administrator rebuilds the projections")
    with uow:
        generation, at = uow.projections.state().generation + 1, now()
        uow.projections.truncate(generation, actor.sub, at)
        uow.commit()
    return replay_group(generation, at)


def finish_rebuild(uow: ReportingUnitOfWork) -> int:
    """After a rebuild's replay, recompute the monthly rollup from the projection rows (the
    handlers kept it during the replay; this makes it exact whatever happened in between, and
    fills the rollup of projections restored or loaded without the handlers). Its row count."""
    with uow:
        rows = uow.projections.recompute_rollup()
        uow.commit()
    return rows


def replay(runner, timeout: float = 120.0, quiet: float = 10.0) -> int:
    """Run a fresh consumer (a new group: it reads from the start of the topics) until it has
    caught up with the end of every partition (or, if it never gets partitions, ``quiet`` seconds);
    return how many messages it handled."""
    handled, started, last_seen = 0, time.monotonic(), time.monotonic()
    while time.monotonic() - started < timeout:
        got = runner.run_once(timeout=0.5, max_records=500)
        handled += got
        if got:
            last_seen = time.monotonic()
            continue
        lag = runner.consumer.lag()  # None until the group has its partitions
        if lag == 0 or (lag is None and time.monotonic() - last_seen >= quiet):
            break
    runner.consumer.close()
    return handled


def _day(value) -> date | None:
    if value is None or isinstance(value, date) and not isinstance(value, datetime):
        return value
    if isinstance(value, datetime):
        return domain.local_date(value if value.tzinfo else value.replace(tzinfo=timezone.utc))
    text = str(value)
    if "T" in text:
        return _day(datetime.fromisoformat(text.replace("Z", "+00:00")))
    return date.fromisoformat(text[:10])
