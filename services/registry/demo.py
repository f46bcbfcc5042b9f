"""Demo data for `make run`: a few hundred establishments across Sơn La's 12 districts,
registered through the same business actions as the API (so their events flow too)."""
from __future__ import annotations

import random
from datetime import date

from chassis.auth import ADMIN, Principal
from contracts.refdata import SON_LA, units
from services.registry import handlers

NAMES = {
    "karaoke": ["Karaoke Hoa Hồng", "Karaoke Ánh Dương", "Karaoke Sao Mai", "Karaoke Tình Ca", "Karaoke Hương Rừng"],
    "dance_hall": ["Vũ trường Ngôi Sao", "Vũ trường Hoàng Gia"],
    "massage": ["Massage Thảo Mộc", "Xoa bóp Bấm huyệt Phúc An", "Massage Thư Giãn"],
    "sauna_spa": ["Spa Ngọc Lan", "Xông hơi Bạch Dương", "Spa Hoa Ban"],
    "accommodation": ["Nhà nghỉ Bình Minh", "Nhà nghỉ Mường Thanh", "Khách sạn Sơn La Xanh", "Nhà nghỉ Hoa Đào",
                      "Nhà nghỉ Thảo Nguyên"],
    "bar": ["Quán bar Đêm Trắng", "Bar Cao Nguyên"],
    "hair_salon_massage": ["Cắt tóc gội đầu Thanh Hương", "Salon tóc Mai Anh"],
    "other": ["Quán cà phê Đồi Chè", "Câu lạc bộ Giải trí Tây Bắc"],
}
OWNERS = ["Lò Văn", "Cầm Thị", "Quàng Văn", "Nguyễn Thị", "Trần Văn", "Lường Thị", "Hà Văn", "Vì Thị", "Giàng A",
          "Sùng Thị"]
GIVEN = ["Thành", "Hoa", "Dũng", "Lan", "Minh", "Xuân", "Páo", "Mỷ", "Khánh", "Ngọc"]
WEIGHTS = {"karaoke": 5, "dance_hall": 1, "massage": 3, "sauna_spa": 2, "accommodation": 6, "bar": 2,
           "hair_salon_massage": 3, "other": 1}


def load(container, count: int = 360, seed: int = 33) -> int:
    """Register ``count`` establishments unless the register already has some; return how many were added."""
    from services.registry import views

    admin = Principal(sub="demo-loader", roles=frozenset({ADMIN}))
    with container.session_factory() as session:
        if views.search(session, admin, {}, 1, 1)[1] > 0:
            return 0
    rng = random.Random(seed)
    communes = [c for d in units().districts_in(SON_LA) for c in units().communes_in(d.code)]
    types = list(WEIGHTS)
    added = 0
    for i in range(count):
        business_type = rng.choices(types, weights=[WEIGHTS[t] for t in types])[0]
        commune = rng.choice(communes)
        name = f"{rng.choice(NAMES[business_type])} {i + 1}"
        establishment = handlers.register_establishment(container.uow(), admin, {
            "name": name, "business_type": business_type,
            "licence_number": f"{commune.parent_code}/GPKD-{2015 + i % 6}-{i + 1:04d}",
            "owner_name": f"{rng.choice(OWNERS)} {rng.choice(GIVEN)}",
            "address": f"Bản {rng.randint(1, 20)}, {commune.name}",
            "commune_code": commune.code, "employees": rng.randint(1, 25),
            "operating_since": date(rng.randint(2010, 2019), rng.randint(1, 12), rng.randint(1, 28)),
            "risk_level": rng.choices(["low", "medium", "high"], weights=[5, 4, 1])[0],
        }, container.config.provinces)
        if i % 3 == 0:
            handlers.record_review(container.uow(), admin, establishment.id, {
                "period": "2020S1", "reviewed_on": date(2020, 6, rng.randint(1, 28)),
                "outcome": rng.choice(["compliant", "compliant", "issues_found"]),
            })
        if i % 29 == 0:
            handlers.change_status(container.uow(), admin, establishment.id, "suspended",
                                   "Vi phạm quy định về phòng cháy chữa cháy (demo)", None)
        added += 1
    return added
