"""Demo data for `make run`: the communes' own reports for 2020 (a quarter each), filed,
submitted and approved through the same business actions as the API. The indicators from
the other services come from their demo events, through the embedded transport."""
from __future__ import annotations

import random

from chassis.auth import ADMIN, CULTURE_INSPECTOR, SOCIAL_WORKER, Principal
from contracts.refdata import SON_LA, units
from services.reporting import handlers

#: Plan 33/KH-UBND: 193 of 204 communes are to stay healthy; in the demo 11 are not recognised.
NOT_HEALTHY = 11
NOTES = ["Tổ chức nói chuyện chuyên đề tại nhà văn hóa bản", "Lồng ghép tuyên truyền trong sinh hoạt chi hội phụ nữ",
         "Phát thanh trên loa truyền thanh xã", "Tuyên truyền tại chợ phiên", None, None]


def load(container, seed: int = 2020) -> int:
    """File the 2020 quarterly reports of every commune of Sơn La, unless reports exist already."""
    from services.reporting import views

    admin = Principal(sub="demo-province", roles=frozenset({ADMIN}))
    with container.session_factory() as session:
        if views.reports(session, admin, {}, 1, 1)[1] > 0:
            return 0
    rng = random.Random(seed)
    communes = sorted((c for d in units().districts_in(SON_LA) for c in units().communes_in(d.code)),
                      key=lambda c: c.code)
    unhealthy = set(c.code for c in rng.sample(communes, NOT_HEALTHY))
    silent = set(c.code for c in rng.sample(communes, 6))  # no communication activity this year
    provinces = container.config.provinces
    added = 0
    for quarter in range(1, 5):
        for commune in communes:
            district = commune.parent_code
            officer = Principal(f"cb-vhxh-{commune.code}", frozenset({CULTURE_INSPECTOR}), district=district)
            approver = Principal(f"phong-ldtbxh-{district}", frozenset({SOCIAL_WORKER}), district=district)
            active = commune.code not in silent and rng.random() > 0.08
            activities = rng.randint(1, 6) if active else 0
            report = handlers.create_report(container.uow(), officer, {
                "commune_code": commune.code, "period": f"2020Q{quarter}",
                "activities_count": activities, "audience": activities * rng.randint(30, 180),
                "media_items": rng.randint(0, 5) if active else 0,
                "establishments_counted": rng.choices(range(5), weights=[30, 30, 20, 12, 8])[0] if quarter == 4 else None,
                "registered_healthy": True, "recognised_healthy": commune.code not in unhealthy,
                "notes": rng.choice(NOTES),
            }, provinces)
            if quarter == 4 and rng.random() < 0.04:
                added += 1
                continue  # still a draft: a few communes are late with the year-end report
            handlers.submit_report(container.uow(), officer, report.id)
            if quarter < 4 or rng.random() > 0.03:
                handlers.approve_report(container.uow(), approver, report.id)
            added += 1
    return added
