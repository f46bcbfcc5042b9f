"""Demo data for `make run`: a year (2020) of inspection plans, inspections and results over the
registry's demo establishments, created through the same business actions as the API.

This service cannot read the registry's database: its establishments reach the local copy as events.
`make run` loads the services' demo data one after the other, so the registry's may not have been
loaded yet when this runs; the loader then waits on a thread (bounded) for the copy to fill and settle.
"""
from __future__ import annotations

import logging
import random
import threading
import time
from datetime import date, timedelta

from chassis.auth import ADMIN, Principal
from contracts.refdata import SON_LA, units
from services.inspection import domain, handlers, views

log = logging.getLogger(__name__)
WAIT_SECONDS = 60.0
ADMIN_USER = Principal(sub="demo-loader", roles=frozenset({ADMIN}))
TEAMS = ["ct-lo-van-hung", "ct-cam-thi-thu", "vh-quang-van-nam", "vh-lo-thi-hien", "ldtbxh-ha-van-long",
         "yt-vi-thi-mai", "ct-nguyen-duc-anh", "vh-tran-thi-lan"]
SIGNS_RATE, CANCEL_RATE = 0.05, 0.05


def load(container, seed: int = 2020) -> int:
    """Load the demo year unless there are plans already; wait for the establishments on a thread if needed."""
    with container.session_factory() as session:
        if views.search_plans(session, ADMIN_USER, {}, 1, 1)[1] > 0:
            return 0
        known = views.establishments_known(session)
    if known:
        return _load_when_settled(container, seed)
    threading.Thread(target=_load_when_settled, args=(container, seed), name="inspection-demo", daemon=True).start()
    return 0


def _load_when_settled(container, seed: int) -> int:
    """Wait (at most WAIT_SECONDS) until the local copy holds establishments and stops growing, then load."""
    deadline, last, steady = time.monotonic() + WAIT_SECONDS, -1, 0
    while time.monotonic() < deadline and steady < 3:
        with container.session_factory() as session:
            count = views.establishments_known(session)
        steady = steady + 1 if count and count == last else 0
        last = count
        time.sleep(1.0)
    if last <= 0:
        log.warning("inspection demo: no establishments arrived from the registry; nothing loaded")
        return 0
    added = _load_year(container, random.Random(seed))
    log.info("inspection demo loaded", extra={"inspections": added})
    return added


def _load_year(container, rng: random.Random) -> int:
    provinces = container.config.provinces
    plans = [handlers.create_plan(container.uow(), ADMIN_USER, {
        "name": "Kế hoạch kiểm tra liên ngành (Đội 178) các cơ sở kinh doanh dịch vụ nhạy cảm năm 2020",
        "kind": "inter_agency", "agency": "inter_agency", "scope": "province", "province_code": SON_LA,
        "period_start": date(2020, 3, 1), "period_end": date(2020, 11, 30),
        "notes": "Thực hiện Kế hoạch số 33/KH-UBND năm 2020 của UBND tỉnh Sơn La.",
    }, provinces)]
    for district in units().districts_in(SON_LA):
        for half, agency, start, end in (("6 tháng đầu năm", "culture", date(2020, 1, 1), date(2020, 6, 30)),
                                         ("6 tháng cuối năm", "police", date(2020, 7, 1), date(2020, 12, 31))):
            who = "Phòng Văn hóa và Thông tin" if agency == "culture" else "Công an"
            plans.append(handlers.create_plan(container.uow(), ADMIN_USER, {
                "name": f"Kiểm tra chuyên ngành {half} 2020 — {who} {district.name}",
                "kind": "specialised", "agency": agency, "scope": "district", "district_code": district.code,
                "period_start": start, "period_end": end,
            }, provinces))
    added = 0
    for plan in plans:
        added += _inspect_plan(container, plan, rng)
    return added


def _inspect_plan(container, plan, rng: random.Random) -> int:
    with container.session_factory() as session:
        rows, total = views.visits(session, ADMIN_USER, plan, {"pending": True}, plan.period_start, 1, 1000)
    # Risk levels and tips reach the local copy from other services at their own pace while this runs:
    # choose by name and seed, not by score, so that the same register always gives the same year.
    in_scope = sorted(rows, key=lambda r: r.visit.establishment.name_key)
    share = 0.15 if plan.scope == "province" else 0.45
    chosen = rng.sample(in_scope, k=max(1, round(total * share))) if in_scope else []
    added = 0
    for row in chosen:
        span = (plan.period_end - plan.period_start).days - 40
        scheduled = plan.period_start + timedelta(days=rng.randint(0, max(0, span)))
        inspection = handlers.schedule_inspection(container.uow(), ADMIN_USER, {
            "establishment_id": row.visit.establishment.id, "plan_id": plan.id, "scheduled_on": scheduled,
            "team": rng.sample(TEAMS, k=rng.randint(2, 4)),
        })
        added += 1
        if rng.random() < CANCEL_RATE:
            handlers.update_inspection(container.uow(), ADMIN_USER, inspection.id, {
                "status": "cancelled", "cancel_reason": "Cơ sở tạm nghỉ kinh doanh, chủ cơ sở vắng mặt"},
                precondition=lambda _found: None)
            continue
        done = handlers.record_result(container.uow(), ADMIN_USER, inspection.id,
                                      _result(rng, row.visit.establishment, scheduled))
        if done.reinspection_id and rng.random() < 0.8:
            _reinspect(container, done, rng)
    return added


def _result(rng: random.Random, establishment, day: date) -> dict:
    items = domain.checklist(establishment.business_type)
    signs = rng.random() < SIGNS_RATE
    failing = [i for i in items if not i.get("signs_of_prostitution") and rng.random() < 0.06]
    answers = [{"item": i["code"], "answer": _answer(i, i in failing or (signs and i.get("signs_of_prostitution")))}
               for i in items]
    codes = list(dict.fromkeys(i["suggests"] for i in failing))
    if signs:
        codes.append(rng.choice(["MD-01", "MD-02", "MD-03"]))
    codes = list(dict.fromkeys(codes))
    sanctions = [_sanction(rng, code, day) for code in codes]
    identified = rng.randint(1, 4) if signs else 0
    return {
        "conducted_on": day, "checklist": answers,
        "violations": [{"code": c, "note": None} for c in codes], "sanctions": sanctions,
        "signs_of_prostitution": signs, "people_identified": identified,
        "people_consenting_to_referral": rng.randint(0, identified),
        "notes": "Lập biên bản vi phạm hành chính tại chỗ." if codes else "Cơ sở chấp hành tốt các quy định.",
    }


def _answer(item: dict, failing: bool) -> str:
    wrong = "yes" if item["expected"] == "no" else "no"
    return wrong if failing else item["expected"]


def _sanction(rng: random.Random, code: str, day: date) -> dict:
    entry, basis = domain.violation_catalogue()[code], domain.legal_basis_on(code, day)
    if "revocation_proposal" in entry["additional_sanctions"] and rng.random() < 0.2:
        return {"kind": "revocation_proposal", "violation_code": code}
    if "licence_suspension" in entry["additional_sanctions"] and rng.random() < 0.25:
        return {"kind": "licence_suspension", "violation_code": code, "days": rng.choice([30, 60, 90])}
    if not entry["serious"] and rng.random() < 0.3:
        return {"kind": "warning", "violation_code": code}
    steps = (basis["fine_max_vnd"] - basis["fine_min_vnd"]) // 500_000
    return {"kind": "fine", "violation_code": code,
            "amount_vnd": basis["fine_min_vnd"] + 500_000 * rng.randint(0, max(0, steps))}


def _reinspect(container, failed, rng: random.Random) -> None:
    with container.session_factory() as session:
        again = views.inspection(session, ADMIN_USER, failed.reinspection_id)
        day, establishment = again.scheduled_on, session.get(domain.Establishment, again.establishment_id)
    if day > date(2020, 12, 31):
        return
    handlers.record_result(container.uow(), ADMIN_USER, again.id, {
        "conducted_on": day, "checklist": [{"item": i["code"], "answer": i["expected"]}
                                           for i in domain.checklist(establishment.business_type)],
        "notes": "Kiểm tra lại: cơ sở đã khắc phục các vi phạm.",
    })
