"""The cases service's business actions. Each runs in one unit of work: the change and its
events commit together or not at all.

Actions from the API: receive, verify, classify and handle tips; open cases, move them through
their stages, record suspects and refer victims; detect, eliminate and report recurring hotspots.
Actions on other services' events (the table is in bootstrap.py): an inspection's referral to
the police becomes a tip; the registry's establishments are copied, so that what is linked to a
tip, a case or a hotspot is an establishment the registry knows.

No event carries a suspect's or a victim's identity: victims travel as random referral ids.
"""
from __future__ import annotations

import os
import uuid
from datetime import date, datetime, time, timezone
from functools import cache
from pathlib import Path

from chassis.auth import Principal
from chassis.envelope import ReceivedEvent
from contracts.events import cases as events
from contracts.refdata import NotServed, units
from services.cases.domain import (
    HANDLED, LOCAL_TIME, VERDICT, Case, Conflict, Establishment, Hotspot, InvalidChange, NotFound, StageChange, Tip,
    TimeLimits, local_date,
)
from services.cases.repository import CasesUnitOfWork

TIME_LIMITS = Path(__file__).with_name("time_limits.json")


def now() -> datetime:
    return datetime.now(timezone.utc)


@cache
def time_limits() -> TimeLimits:
    """The statutory time limits: ``time_limits.json`` beside this module, or the file ``CASES_TIME_LIMITS`` names."""
    return TimeLimits.load(os.environ.get("CASES_TIME_LIMITS") or TIME_LIMITS)


def locate(commune_code: str, provinces: tuple[str, ...]) -> dict:
    """District and province of a commune, checked against the GSO list and this deployment's provinces."""
    try:
        return units().locate(commune_code, provinces)
    except NotServed as exc:
        raise InvalidChange(str(exc), field="commune_code") from None


def _linked(repository, item_id, actor: Principal, field: str):
    """A tip, case or hotspot named in a request: unknown, or outside the caller's district, is a 422 on ``field``."""
    try:
        item = repository.get(str(item_id))
    except NotFound:
        item = None
    if item is None or not actor.may_access_district(item.district_code):
        raise InvalidChange(f"no {field.removesuffix('_id').removesuffix('_ids')} {item_id}", field=field)
    return item


def _known_establishments(uow: CasesUnitOfWork, ids, field: str) -> None:
    """Establishments linked to a tip, case or hotspot are ones the registry has published."""
    unknown = [str(i) for i in ids if i and uow.establishments.find(str(i)) is None]
    if unknown:
        raise InvalidChange(f"the registry has no establishment {', '.join(unknown)} (or it has not arrived yet)",
                            field=field)


# -- the registry's establishments -----------------------------------------------------------------------------

def copy_establishment(uow: CasesUnitOfWork, event: ReceivedEvent) -> None:
    """Registered, updated or status changed in the registry: keep this service's copy up to date."""
    data = event.payload or event.data
    with uow:
        found = uow.establishments.find(str(data["establishment_id"]))
        if found is None and data.get("name"):
            found = Establishment(str(data["establishment_id"]), data["name"], data["business_type"],
                                  data["commune_code"], data["district_code"], data["status"], now())
            uow.establishments.add(found)
        elif found is not None:
            found.take(data, now())
        uow.commit()


# -- tips ------------------------------------------------------------------------------------------------------

def receive_tip(uow: CasesUnitOfWork, actor: Principal, details: dict, provinces: tuple[str, ...],
                limits: TimeLimits | None = None) -> Tip:
    location = locate(details["commune_code"], provinces)
    actor.require_district(location["district_code"])
    at = now()
    with uow:
        _known_establishments(uow, [details.get("establishment_id")], "establishment_id")
        tip = Tip.receive(str(uuid.uuid4()), limits=limits or time_limits(), by=actor.sub, at=at, **{
            **details, **_ids(details, "establishment_id", "inspection_id"), **location,
            "received_at": details.get("received_at") or at})
        uow.tips.add(tip)
        _tip_received(uow, tip)
        uow.commit()
    return tip


def receive_police_referral(uow: CasesUnitOfWork, event: ReceivedEvent, limits: TimeLimits | None = None) -> None:
    """An inspection found signs of prostitution: its referral becomes a tip, linked to the establishment and inspection."""
    data = event.payload or event.data
    with uow:
        if uow.tips.by_referral(data["referral_id"]) is None:  # a re-sent referral is one tip
            received_at = _referred_at(event)
            tip = Tip.receive(str(uuid.uuid4()), source="inspection_referral", limits=limits or time_limits(),
                              received_at=received_at, summary=data["summary"], by="inspection",
                              at=max(now(), received_at), referral_id=str(data["referral_id"]),
                              commune_code=data["commune_code"], **_ids(data, "establishment_id", "inspection_id"),
                              **_area(data))
            uow.tips.add(tip)
            _tip_received(uow, tip)
        uow.commit()


def _referred_at(event: ReceivedEvent) -> datetime:
    """When the police had the referral: when it was published, but no later than the end of the working day on
    which the inspection found the signs (the verification clock runs from then)."""
    detected_on = date.fromisoformat(str((event.payload or event.data)["detected_on"]))
    return min(event.time or now(), datetime.combine(detected_on, time(17), LOCAL_TIME))


def start_verification(uow: CasesUnitOfWork, actor: Principal, tip_id: str, started_at: datetime | None) -> Tip:
    with uow:
        tip = _tip(uow, actor, tip_id)
        at = now()
        tip.start_verification(actor.sub, started_at or at, at)
        uow.commit()
    return tip


def classify_tip(uow: CasesUnitOfWork, actor: Principal, tip_id: str, classification: str, note: str | None,
                 classified_at: datetime | None) -> Tip:
    with uow:
        tip = _tip(uow, actor, tip_id)
        at = now()
        tip.classify(classification, note, actor.sub, classified_at or at, at)
        uow.publish(events.TIP_CLASSIFIED, tip.id, {**_tip_data(tip), "classification": tip.classification,
                                                     "classified_at": tip.classified_at})
        uow.commit()
    return tip


def handle_tip(uow: CasesUnitOfWork, actor: Principal, tip_id: str, note: str | None, handled_at: datetime | None,
               case_id: str | None = None) -> Tip:
    with uow:
        tip = _tip(uow, actor, tip_id)
        if case_id:
            _linked(uow.cases, case_id, actor, "case_id")
        at = now()
        tip.handle(note, handled_at or at, at, str(case_id) if case_id else None)
        _tip_handled(uow, tip)
        uow.commit()
    return tip


def _tip(uow: CasesUnitOfWork, actor: Principal, tip_id: str) -> Tip:
    tip = uow.tips.get(tip_id)
    actor.require_district(tip.district_code)
    return tip


def _tip_data(tip: Tip) -> dict:
    return {"tip_id": tip.id, "commune_code": tip.commune_code, "district_code": tip.district_code,
            "establishment_id": tip.establishment_id}


def _tip_received(uow: CasesUnitOfWork, tip: Tip) -> None:
    uow.publish(events.TIP_RECEIVED, tip.id, {**_tip_data(tip), "source": tip.source, "received_at": tip.received_at,
                                              "inspection_id": tip.inspection_id})


def _tip_handled(uow: CasesUnitOfWork, tip: Tip) -> None:
    uow.publish(events.TIP_HANDLED, tip.id, {**_tip_data(tip), "handled_at": tip.handled_at, "case_id": tip.case_id})


# -- cases -----------------------------------------------------------------------------------------------------

def open_case(uow: CasesUnitOfWork, actor: Principal, details: dict, provinces: tuple[str, ...],
              limits: TimeLimits | None = None) -> Case:
    location = locate(details["commune_code"], provinces)
    actor.require_district(location["district_code"])
    with uow:
        if uow.cases.number_taken(details["case_number"]):
            raise Conflict("this case number is already recorded", field="case_number")
        for hotspot_id in details.get("hotspot_ids") or ():
            _linked(uow.hotspots, hotspot_id, actor, "hotspot_ids")
        _known_establishments(uow, details.get("establishment_ids") or (), "establishment_ids")
        tip = _source_tip(uow, actor, details.get("tip_id"))
        case = Case.open(str(uuid.uuid4()), limits=limits or time_limits(), by=actor.sub, at=now(),
                         **{**details, **location, **_ids(details, "tip_id")})
        uow.cases.add(case)
        _case_opened(uow, case)
        if tip:
            _handle_tip_by_case(uow, tip, case)
        uow.commit()
    return case


def _source_tip(uow: CasesUnitOfWork, actor: Principal, tip_id) -> Tip | None:
    """The tip a case comes from: known, in the caller's district, criminal, not yet handled."""
    if not tip_id:
        return None
    tip = _linked(uow.tips, tip_id, actor, "tip_id")
    if tip.status == HANDLED:
        raise Conflict(f"the tip is already handled{' by case ' + tip.case_id if tip.case_id else ''}", field="tip_id")
    if tip.classification != "criminal":
        raise InvalidChange("a case comes from a tip classified as criminal", field="tip_id")
    return tip


def _handle_tip_by_case(uow: CasesUnitOfWork, tip: Tip, case: Case) -> None:
    """The criminal tip a case came from is handled by opening it."""
    opened_at = max(datetime.combine(case.opened_on, time(12), LOCAL_TIME), tip.classified_at)
    tip.handle(f"Khởi tố vụ án {case.case_number}", min(opened_at, now()), now(), case.id)
    _tip_handled(uow, tip)


def change_stage(uow: CasesUnitOfWork, actor: Principal, case_id: str, move: dict,
                 limits: TimeLimits | None = None) -> Case:
    with uow:
        case = _case(uow, actor, case_id)
        at = now()
        change = case.move(move["stage"], move.get("on") or local_date(at), limits or time_limits(), actor.sub, at,
                           **{k: v for k, v in move.items() if k not in ("stage", "on")})
        _stage_changed(uow, case, change)
        if change.stage == VERDICT and case.operator_convicted:
            uow.publish(events.OPERATOR_CONVICTED, case.id, {
                **_case_data(case), "establishment_ids": case.convicted_establishment_ids,
                "verdict_on": case.verdict_on, "articles": case.articles})
        uow.commit()
    return case


def add_suspect(uow: CasesUnitOfWork, actor: Principal, case_id: str, identity: dict) -> Case:
    """Record a suspect's identity on the case: no event (identities never leave this service)."""
    with uow:
        case = _case(uow, actor, case_id)
        case.add_suspect(identity, actor.sub, now())
        uow.commit()
    return case


def refer_victims(uow: CasesUnitOfWork, actor: Principal, case_id: str, count: int, identified_on: date | None,
                  minor: bool = False) -> Case:
    """Victims identified in a case: each is referred to support under a new random id, never a name."""
    with uow:
        case = _case(uow, actor, case_id)
        at = now()
        referral_ids = [str(uuid.uuid4()) for _ in range(count)]
        for victim in case.identify_victims(referral_ids, identified_on or local_date(at), minor, actor.sub, at):
            uow.publish(events.VICTIM_REFERRED, victim.referral_id, {
                **_case_data(case), "referral_id": victim.referral_id, "referred_on": victim.identified_on})
        uow.commit()
    return case


def _case(uow: CasesUnitOfWork, actor: Principal, case_id: str) -> Case:
    case = uow.cases.get(case_id)
    actor.require_district(case.district_code)
    return case


def _case_data(case: Case) -> dict:
    return {"case_id": case.id, "commune_code": case.commune_code, "district_code": case.district_code}


def _case_opened(uow: CasesUnitOfWork, case: Case) -> None:
    uow.publish(events.CASE_OPENED, case.id, {
        **_case_data(case), "articles": case.articles, "opened_on": case.opened_on, "tip_id": case.tip_id,
        "establishment_ids": case.establishment_ids, "suspects_count": case.suspects_count})


def _stage_changed(uow: CasesUnitOfWork, case: Case, change: StageChange) -> None:
    uow.publish(events.CASE_STAGE_CHANGED, case.id, {
        **_case_data(case), "previous_stage": change.previous_stage, "stage": change.stage, "on": change.on,
        "mobile_trial": case.mobile_trial if change.stage in ("trial", VERDICT) else False,
        "correction": change.correction})


# -- hotspots --------------------------------------------------------------------------------------------------

def detect_hotspot(uow: CasesUnitOfWork, actor: Principal, details: dict, provinces: tuple[str, ...]) -> Hotspot:
    location = locate(details["commune_code"], provinces)
    actor.require_district(location["district_code"])
    with uow:
        _hotspot_links(uow, actor, details)
        hotspot = Hotspot.detect(str(uuid.uuid4()), by=actor.sub, at=now(), **{
            **details, **location, **_ids(details, "establishment_id", "tip_id", "case_id", "inspection_id")})
        uow.hotspots.add(hotspot)
        uow.publish(events.HOTSPOT_DETECTED, hotspot.id, {
            **_hotspot_data(hotspot), "kind": hotspot.kind, "detected_on": hotspot.detected_on,
            "found_by": hotspot.found_by, "establishment_id": hotspot.establishment_id})
        uow.commit()
    return hotspot


def _hotspot_links(uow: CasesUnitOfWork, actor: Principal, details: dict) -> None:
    for name, repository in (("tip_id", uow.tips), ("case_id", uow.cases)):
        if details.get(name):
            _linked(repository, details[name], actor, name)
    _known_establishments(uow, [details.get("establishment_id")], "establishment_id")


def eliminate_hotspot(uow: CasesUnitOfWork, actor: Principal, hotspot_id: str, on: date | None, how: str) -> Hotspot:
    with uow:
        hotspot = _hotspot(uow, actor, hotspot_id)
        at = now()
        change = hotspot.eliminate(on or local_date(at), how, actor.sub, at)
        uow.publish(events.HOTSPOT_ELIMINATED, hotspot.id, {**_hotspot_data(hotspot), "eliminated_on": change.on})
        uow.commit()
    return hotspot


def report_recurrence(uow: CasesUnitOfWork, actor: Principal, hotspot_id: str, on: date | None,
                      note: str | None) -> Hotspot:
    with uow:
        hotspot = _hotspot(uow, actor, hotspot_id)
        at = now()
        change = hotspot.recur(on or local_date(at), note, actor.sub, at)
        uow.publish(events.HOTSPOT_RECURRED, hotspot.id, {**_hotspot_data(hotspot), "recurred_on": change.on})
        uow.commit()
    return hotspot


def _hotspot(uow: CasesUnitOfWork, actor: Principal, hotspot_id: str) -> Hotspot:
    hotspot = uow.hotspots.get(hotspot_id)
    actor.require_district(hotspot.district_code)
    return hotspot


def _hotspot_data(hotspot: Hotspot) -> dict:
    return {"hotspot_id": hotspot.id, "commune_code": hotspot.commune_code, "district_code": hotspot.district_code}


# -- helpers ---------------------------------------------------------------------------------------------------

def _ids(details: dict, *names: str) -> dict:
    """Ids as strings (the API hands over UUIDs)."""
    return {n: str(details[n]) for n in names if details.get(n)}


def _area(data: dict) -> dict:
    """District and province of a commune named by another service's event (trusted: it was checked there)."""
    district = units().district_of(data["commune_code"]) or data["district_code"]
    return {"district_code": district, "province_code": units().province_of_district(district) or ""}
