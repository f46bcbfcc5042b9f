"""The inspection service's business actions. Each runs in one unit of work: the change and its
events commit together or not at all.

Actions from the API: create a plan; schedule, change, start or cancel an inspection; record (or
correct) its result. Actions on other services' events (the table is in bootstrap.py): keep the
local copy of the registry's establishments, and the open tips of the cases service.
"""
from __future__ import annotations

import uuid
from datetime import datetime, timezone
from typing import Callable

from chassis.auth import Forbidden, Principal
from chassis.envelope import ReceivedEvent
from contracts.events import cases as case_events
from contracts.events import inspection as events
from contracts.refdata import units
from services.inspection.domain import (
    CANCELLED, IN_PROGRESS, PLANNED, Establishment, Inspection, InvalidChange, Plan, Result, Tip,
)
from services.inspection.repository import InspectionUnitOfWork


def now() -> datetime:
    return datetime.now(timezone.utc)


def new_id() -> str:
    return str(uuid.uuid4())


# -- plans --------------------------------------------------------------------------------------------


def create_plan(uow: InspectionUnitOfWork, actor: Principal, details: dict, provinces: tuple[str, ...]) -> Plan:
    details = {**details, **plan_area(details, provinces)}
    if details["scope"] == "province" and actor.district:
        raise Forbidden(f"your account is limited to district {actor.district}: plan for it, not the province")
    actor.require_district(details.get("district_code") or actor.district)
    with uow:
        plan = Plan.create(new_id(), by=actor.sub, at=now(), **details)
        uow.plans.add(plan)
        uow.commit()
    return plan


def plan_area(details: dict, provinces: tuple[str, ...]) -> dict:
    """The plan's province and district, from its communes or district, checked against the GSO list."""
    admin, communes = units(), details.get("commune_codes") or []
    if details["scope"] == "province" and (communes or details.get("district_code")):
        raise InvalidChange("a province plan names no district or communes", field="district_code")
    for i, code in enumerate(communes):
        if code not in admin.communes:
            raise InvalidChange(f"{code!r} is not a commune code in the GSO list", field=f"commune_codes.{i}")
    districts = {admin.district_of(c) for c in communes}
    if len(districts) > 1:
        raise InvalidChange("the communes of a plan lie in one district", field="commune_codes")
    district = details.get("district_code") or next(iter(districts), None)
    if communes and district not in districts:
        raise InvalidChange("the communes are not in this district", field="commune_codes")
    if district and district not in admin.districts:
        raise InvalidChange(f"{district!r} is not a district code in the GSO list", field="district_code")
    province = admin.province_of_district(district) if district else (details.get("province_code") or provinces[0])
    if province not in provinces:
        raise InvalidChange(f"province {province} is not served by this system", field="province_code")
    return {"province_code": province, "district_code": district, "commune_codes": list(communes)}


# -- inspections ----------------------------------------------------------------------------------------


def schedule_inspection(uow: InspectionUnitOfWork, actor: Principal, details: dict) -> Inspection:
    with uow:
        establishment = uow.establishments.known(details["establishment_id"])
        actor.require_district(establishment.district_code)
        plan = uow.plans.get(details["plan_id"]) if details.get("plan_id") else None
        agency = details.get("agency") or (plan.agency if plan else None)
        if agency is None:
            raise InvalidChange("which agency inspects? give agency or a plan", field="agency")
        kind = details.get("kind") or (plan.kind if plan else "inter_agency" if agency == "inter_agency"
                                       else "specialised")
        inspection = Inspection.schedule(new_id(), establishment, by=actor.sub, at=now(), kind=kind, agency=agency,
                                         scheduled_on=details["scheduled_on"], team=details.get("team") or [],
                                         plan=plan, notes=details.get("notes"))
        uow.inspections.add(inspection)
        _publish_scheduled(uow, inspection)
        uow.commit()
    return inspection


def update_inspection(uow: InspectionUnitOfWork, actor: Principal, inspection_id: str, changes: dict,
                      precondition: Callable[[Inspection], None]) -> Inspection:
    """Reschedule, change the team or notes, start (status=in_progress) or cancel (status=cancelled)."""
    changes = dict(changes)
    status, reason = changes.pop("status", None), changes.pop("cancel_reason", None)
    with uow:
        inspection = uow.inspections.get(inspection_id)
        actor.require_district(inspection.district_code)
        precondition(inspection)
        inspection.update(changes, now())
        if status == IN_PROGRESS:
            _start(uow, inspection, now())
        elif status == CANCELLED:
            _cancel(uow, inspection, reason)
        uow.commit()
    return inspection


def record_result(uow: InspectionUnitOfWork, actor: Principal, inspection_id: str, draft: dict) -> Inspection:
    """The result in one call: completes the inspection, publishes the outcome, referrals, the new risk
    and, when it failed, schedules the re-inspection. With ``correction_reason``: a new revision."""
    with uow:
        inspection = uow.inspections.get(inspection_id)
        actor.require_district(inspection.district_code)
        establishment = uow.establishments.get(inspection.establishment_id)
        was_planned, previous = inspection.status == PLANNED, inspection.result
        result = inspection.record_result(draft, establishment.risk_level, actor.sub, now(), new_id)
        if was_planned:  # the result started it, on the day it was conducted
            _publish_started(uow, inspection)
        _follow_up(uow, inspection, establishment, actor.sub)
        establishment.note_result(result, previous)
        _refer(uow, inspection, establishment, result, previous)
        _publish_outcome(uow, inspection, establishment, result)
        uow.commit()
    return inspection


def _follow_up(uow: InspectionUnitOfWork, inspection: Inspection, establishment: Establishment, by: str) -> None:
    """A failed result schedules a re-inspection; a correction to a pass cancels the one still planned."""
    if not inspection.result.passed and inspection.reinspection_id is None and establishment.status != "closed":
        again = inspection.follow_up(new_id(), establishment, by, now())
        uow.inspections.add(again)
        _publish_scheduled(uow, again)
    elif inspection.result.passed and inspection.reinspection_id:
        planned = uow.inspections.planned_reinspection(inspection.id)
        if planned is not None:
            _cancel(uow, planned, f"Kết quả kiểm tra ngày {inspection.result.conducted_on:%d/%m/%Y} đã được "
                                  "đính chính: không còn vi phạm")
            inspection.reinspection_id = None


def _refer(uow: InspectionUnitOfWork, inspection: Inspection, establishment: Establishment, result: Result,
           previous: Result | None) -> None:
    """Signs of prostitution → the police (a tip); consenting people → support: a count and random ids only.
    A correction refers only what the earlier revision had not referred yet (the domain decides)."""
    area = {"commune_code": inspection.commune_code, "district_code": inspection.district_code}
    if result.police_referral_id and result.police_referral_id != (previous and previous.police_referral_id):
        uow.publish(events.POLICE_REFERRAL, result.police_referral_id, {
            "referral_id": result.police_referral_id, "inspection_id": inspection.id,
            "establishment_id": establishment.id, "detected_on": result.conducted_on, **area,
            "summary": f"Đoàn kiểm tra phát hiện dấu hiệu hoạt động mại dâm tại {establishment.name} "
                       f"({establishment.address}) ngày {result.conducted_on:%d/%m/%Y}; vi phạm: "
                       f"{', '.join(result.violation_codes) or 'chưa xác định'}.",
        })
    if result.support_referral_batch_id:
        count = result.people_consenting_to_referral - (previous.people_consenting_to_referral if previous else 0)
        uow.publish(events.SUPPORT_REFERRAL, result.support_referral_batch_id, {
            "referral_batch_id": result.support_referral_batch_id, "inspection_id": inspection.id,
            "referred_on": result.conducted_on, "count": count, "referral_ids": [new_id() for _ in range(count)],
            **area,
        })


def _publish_outcome(uow: InspectionUnitOfWork, inspection: Inspection, establishment: Establishment,
                     result: Result) -> None:
    uow.publish(events.INSPECTION_COMPLETED, inspection.id, {
        **ref(inspection), "conducted_on": result.conducted_on, "passed": result.passed,
        "violation_codes": result.violation_codes, "sanctions": [s["kind"] for s in result.sanctions],
        "fines_total_vnd": result.fines_total_vnd, "suspension_days": result.suspension_days,
        "signs_of_prostitution": result.signs_of_prostitution, "people_identified": result.people_identified,
        "people_consenting_to_referral": result.people_consenting_to_referral,
        "reinspection_id": inspection.reinspection_id, "result_revision": result.revision,
        "correction": result.revision > 1,
    })
    uow.publish(events.RISK_ASSESSED, establishment.id, {
        "establishment_id": establishment.id, "inspection_id": inspection.id, "risk_level": result.risk_level,
        "assessed_on": result.conducted_on, "suspension_days": result.suspension_days,
        "revocation_proposed": result.revocation_proposed,
        "commune_code": establishment.commune_code, "district_code": establishment.district_code,
    })


def _publish_scheduled(uow: InspectionUnitOfWork, inspection: Inspection) -> None:
    uow.publish(events.INSPECTION_SCHEDULED, inspection.id, {
        **ref(inspection), "scheduled_on": inspection.scheduled_on, "reinspection_of": inspection.reinspection_of})


def _start(uow: InspectionUnitOfWork, inspection: Inspection, at: datetime) -> None:
    inspection.start(at)
    _publish_started(uow, inspection)


def _publish_started(uow: InspectionUnitOfWork, inspection: Inspection) -> None:
    uow.publish(events.INSPECTION_STARTED, inspection.id, {**ref(inspection), "started_at": inspection.started_at})


def _cancel(uow: InspectionUnitOfWork, inspection: Inspection, reason: str | None) -> None:
    inspection.cancel(reason, now())
    uow.publish(events.INSPECTION_CANCELLED, inspection.id, {**ref(inspection), "reason": inspection.cancel_reason})


def ref(inspection: Inspection) -> dict:
    """The fields every inspection event carries."""
    return {
        "inspection_id": inspection.id, "establishment_id": inspection.establishment_id,
        "plan_id": inspection.plan_id, "kind": inspection.kind, "agency": inspection.agency,
        "commune_code": inspection.commune_code, "district_code": inspection.district_code,
    }


# -- consumed events: the registry's establishments ---------------------------------------------------------


# The consumer runner gives each handler a unit of work that is already open (with the event's inbox
# row in it) and commits it after the handler: handlers neither open nor commit it.


def _payload(event: ReceivedEvent) -> dict:
    """The event's data, typed through its contract (the runner has loaded it; a bare event is loaded here)."""
    return event.payload if event.payload is not None else event.event_type.schema().load(event.data)


def apply_establishment_snapshot(uow: InspectionUnitOfWork, event: ReceivedEvent) -> None:
    """registered / updated: the establishment as the registry now describes it."""
    data = _payload(event)
    establishment = uow.establishments.find(data["establishment_id"])
    if establishment is None:
        uow.establishments.add(Establishment.from_snapshot(data, now()))
    else:
        establishment.apply_snapshot(data, now())


def apply_establishment_snapshots(uow: InspectionUnitOfWork, events: list[ReceivedEvent]) -> None:
    """A run of registrations / updates at once (the consumer's batch handler): what
    `apply_establishment_snapshot` leaves after each in turn, with one query for those already known
    instead of one per event (and the new rows inserted together at commit)."""
    snapshots = [_payload(event) for event in events]
    known = uow.establishments.find_many(data["establishment_id"] for data in snapshots)
    for data in snapshots:
        establishment = known.get(str(data["establishment_id"]))
        if establishment is None:
            establishment = known[str(data["establishment_id"])] = Establishment.from_snapshot(data, now())
            uow.establishments.add(establishment)
        else:
            establishment.apply_snapshot(data, now())


def preload_establishments(uow: InspectionUnitOfWork, events: list[ReceivedEvent]) -> dict[str, Establishment]:
    """A poll's status changes and reviews: their establishments loaded at once (the consumer's preload),
    so that each handler finds its own in the unit of work instead of querying it."""
    return uow.establishments.find_many(_payload(event)["establishment_id"] for event in events)


def apply_establishment_status(uow: InspectionUnitOfWork, event: ReceivedEvent) -> None:
    data = _payload(event)
    establishment = uow.establishments.find(data["establishment_id"])
    if establishment is not None:  # its registration comes first on the same key; nothing to do otherwise
        establishment.apply_snapshot({"status": data["status"]}, now())


def apply_establishment_review(uow: InspectionUnitOfWork, event: ReceivedEvent) -> None:
    data = _payload(event)
    establishment = uow.establishments.find(data["establishment_id"])
    if establishment is not None:
        establishment.apply_snapshot({"risk_level": data["risk_level"]}, now())


# -- consumed events: the cases service's tips ----------------------------------------------------------------


def apply_tip(uow: InspectionUnitOfWork, event: ReceivedEvent) -> None:
    """received / classified / handled: keep whether each tip about an establishment is still open."""
    data = _payload(event)
    tip = uow.tips.find(data["tip_id"])
    if tip is None:
        tip = Tip(id=str(data["tip_id"]), commune_code=data["commune_code"], district_code=data["district_code"])
        uow.tips.add(tip)
    if data.get("establishment_id"):
        tip.establishment_id = str(data["establishment_id"])
    if event.type == case_events.TIP_RECEIVED.type:
        tip.received_at = data["received_at"]
    elif event.type == case_events.TIP_CLASSIFIED.type:
        tip.classification = data["classification"]
    else:
        tip.handled_at = data["handled_at"]

