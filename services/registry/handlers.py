"""The registry's business actions. Each runs in one unit of work: the change and its
event commit together or not at all.

Actions from the API: register, update, change status, record a review.
Actions on other services' events (the table is in bootstrap.py):
an inspection's risk assessment, a verdict against an establishment's operator.
"""
from __future__ import annotations

import uuid
from datetime import date, datetime, timezone
from typing import Callable

from chassis.auth import Principal
from chassis.consumer import PoisonEvent
from chassis.envelope import ReceivedEvent
from contracts.events import registry as events
from contracts.refdata import NotServed, units
from services.registry.domain import (
    REVOKED, SUSPENDED, Conflict, Establishment, InvalidChange, NotFound, local_date,
)
from services.registry.repository import RegistryUnitOfWork


def now() -> datetime:
    return datetime.now(timezone.utc)


def locate(commune_code: str, provinces: tuple[str, ...]) -> dict:
    """District and province of a commune, checked against the GSO list and this deployment's provinces."""
    try:
        return units().locate(commune_code, provinces)
    except NotServed as exc:
        raise InvalidChange(str(exc), field="commune_code") from None


def register_establishment(uow: RegistryUnitOfWork, actor: Principal, details: dict,
                           provinces: tuple[str, ...]) -> Establishment:
    location = locate(details["commune_code"], provinces)
    actor.require_district(location["district_code"])
    with uow:
        if details.get("licence_number") and uow.establishments.licence_taken(details["licence_number"]):
            raise Conflict("this licence number is already registered", field="licence_number")
        establishment = Establishment.register(
            str(uuid.uuid4()), by=actor.sub, at=now(), **{**details, **location}
        )
        uow.establishments.add(establishment)
        uow.publish(events.ESTABLISHMENT_REGISTERED, establishment.id,
                    {**snapshot(establishment), "registered_at": establishment.registered_at})
        uow.commit()
    return establishment


def update_establishment(uow: RegistryUnitOfWork, actor: Principal, establishment_id: str, changes: dict,
                         provinces: tuple[str, ...], precondition: Callable[[Establishment], None]) -> Establishment:
    with uow:
        establishment = uow.establishments.get(establishment_id)
        actor.require_district(establishment.district_code)
        precondition(establishment)
        if "commune_code" in changes:
            changes = {**changes, **locate(changes["commune_code"], provinces)}
            actor.require_district(changes["district_code"])
        if changes.get("licence_number") and uow.establishments.licence_taken(changes["licence_number"], establishment.id):
            raise Conflict("this licence number is already registered", field="licence_number")
        changed = establishment.update(changes, now())
        if changed:
            uow.publish(events.ESTABLISHMENT_UPDATED, establishment.id,
                        {**snapshot(establishment), "updated_at": establishment.updated_at, "changed": changed})
        uow.commit()
    return establishment


def change_status(uow: RegistryUnitOfWork, actor: Principal, establishment_id: str, status: str, reason: str,
                  effective_on: date | None) -> Establishment:
    with uow:
        establishment = uow.establishments.get(establishment_id)
        actor.require_district(establishment.district_code)
        _change_status(uow, establishment, status, reason, effective_on, actor.sub)
        uow.commit()
    return establishment


def preload_establishments(uow: RegistryUnitOfWork, events: list[ReceivedEvent]) -> dict[str, Establishment]:
    """A poll's risk assessments: their establishments loaded at once (the consumer's preload), so that
    each handler finds its own in the unit of work instead of querying it and its two histories."""
    return uow.establishments.find_many(event.payload["establishment_id"] for event in events)


def apply_risk_assessment(uow: RegistryUnitOfWork, event: ReceivedEvent) -> None:
    """An inspection assessed the establishment: take its risk level, suspend it, or revoke it on a proposal."""
    data = event.payload
    with uow:
        establishment = _known(uow, data["establishment_id"])
        if establishment.assess_risk(data["risk_level"], now()):
            uow.publish(events.ESTABLISHMENT_UPDATED, establishment.id,
                        {**snapshot(establishment), "updated_at": establishment.updated_at, "changed": ["risk_level"]})
        inspection = f"biên bản kiểm tra {data['inspection_id']}"
        if data.get("revocation_proposed") and establishment.may_become(REVOKED):
            _change_status(uow, establishment, REVOKED, f"Đề nghị thu hồi giấy phép theo {inspection}",
                           data["assessed_on"], "inspection")
        elif data.get("suspension_days") and establishment.may_become(SUSPENDED):
            _change_status(uow, establishment, SUSPENDED,
                           f"Đình chỉ hoạt động {data['suspension_days']} ngày theo {inspection}",
                           data["assessed_on"], "inspection")
        uow.commit()


def revoke_after_verdict(uow: RegistryUnitOfWork, event: ReceivedEvent) -> None:
    """A court convicted the operator: every establishment they ran is revoked."""
    data = event.payload
    with uow:
        for establishment_id in data["establishment_ids"]:
            establishment = _known(uow, establishment_id)
            if establishment.may_become(REVOKED):
                _change_status(uow, establishment, REVOKED,
                               f"Thu hồi theo bản án vụ án {data['case_id']} (Điều {', '.join(data['articles'])} BLHS)",
                               data["verdict_on"], "cases")
        uow.commit()


def _known(uow: RegistryUnitOfWork, establishment_id) -> Establishment:
    try:
        return uow.establishments.get(str(establishment_id))
    except NotFound as exc:
        raise PoisonEvent(str(exc)) from exc


def _change_status(uow: RegistryUnitOfWork, establishment: Establishment, status: str, reason: str,
                   effective_on: date | None, by: str) -> None:
    at = now()
    change = establishment.change_status(status, reason, effective_on or local_date(at), by, at)
    uow.publish(events.ESTABLISHMENT_STATUS_CHANGED, establishment.id, {
        "establishment_id": establishment.id, "previous_status": change.previous_status,
        "status": change.status, "reason": change.reason, "effective_on": change.effective_on,
        "commune_code": establishment.commune_code, "district_code": establishment.district_code,
    })


def record_review(uow: RegistryUnitOfWork, actor: Principal, establishment_id: str, review: dict) -> Establishment:
    with uow:
        establishment = uow.establishments.get(establishment_id)
        actor.require_district(establishment.district_code)
        recorded = establishment.record_review(
            review["period"], review["reviewed_on"], review["outcome"], review.get("risk_level"),
            review.get("notes"), actor.sub, now(),
        )
        uow.publish(events.ESTABLISHMENT_REVIEWED, establishment.id, {
            "establishment_id": establishment.id, "period": recorded.period, "reviewed_on": recorded.reviewed_on,
            "outcome": recorded.outcome, "risk_level": recorded.risk_level,
            "commune_code": establishment.commune_code, "district_code": establishment.district_code,
        })
        uow.commit()
    return establishment


def snapshot(e: Establishment) -> dict:
    """What other services may know of an establishment: not its owner."""
    return {
        "establishment_id": e.id, "name": e.name, "business_type": e.business_type,
        "licence_number": e.licence_number, "address": e.address, "commune_code": e.commune_code,
        "district_code": e.district_code, "province_code": e.province_code, "employees": e.employees,
        "operating_since": e.operating_since,
        "status": e.status, "risk_level": e.risk_level,
    }
