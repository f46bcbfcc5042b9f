"""Demo data for `make run`: a year (2020) of tips, cases and hotspots across Sơn La's 12 districts,
recorded through the same business actions as the API (so their events flow too). Deterministic:
the same seed gives the same tips, cases, stages and hotspots (ids are random, as in production).

Cases link no establishment: the registry's demo is loaded after this one and a verdict against an
operator is only published for establishments the registry knows (see README.md)."""
from __future__ import annotations

import random
from datetime import date, datetime, time, timedelta

from chassis.auth import ADMIN, POLICE, Principal
from contracts.refdata import SON_LA, units
from services.cases import handlers
from services.cases.domain import LOCAL_TIME

YEAR_END = date(2020, 12, 31)
SOURCES = {"citizen": 5, "hotline": 3, "media": 1, "other_agency": 1}
CLASSIFICATION_WEIGHTS = {"criminal": 3, "administrative": 4, "unfounded": 3}
TIP_SUMMARIES = [
    "Người dân phản ánh nhà nghỉ trên địa bàn có dấu hiệu chứa mại dâm vào ban đêm",
    "Đường dây nóng nhận tin có đối tượng môi giới mại dâm qua mạng xã hội Zalo",
    "Phản ánh quán karaoke có nhân viên nữ ngồi tiếp khách và có hoạt động mua bán dâm",
    "Tin báo về việc một phụ nữ bị dụ dỗ sang Lào làm việc, nghi bị mua bán",
    "Báo địa phương đưa tin cơ sở xoa bóp hoạt động quá giờ, có biểu hiện mại dâm trá hình",
    "Công an xã chuyển tin: nhóm đối tượng tụ tập ven quốc lộ 6 mời chào khách",
    "Người dân tố giác quán cà phê đèn mờ có hoạt động khiêu dâm",
    "Trường học phản ánh học sinh nữ bị rủ rê đi làm tiếp viên tại nhà hàng",
]
HANDLING = {
    "administrative": "Chuyển Đội 178 kiểm tra, xử phạt vi phạm hành chính",
    "unfounded": "Xác minh không có dấu hiệu vi phạm; thông báo kết quả cho người báo tin",
}
CASE_SUMMARIES = {
    "327": "Chủ cơ sở chứa mại dâm tại phòng nghỉ, thu tiền của khách mua dâm",
    "328": "Đối tượng môi giới, dẫn khách cho người bán dâm qua mạng xã hội",
    "329": "Đối tượng mua dâm người chưa đủ 18 tuổi",
    "150": "Đường dây lừa đưa phụ nữ qua biên giới để bán",
    "151": "Lừa bán người dưới 16 tuổi sang nước ngoài",
}
FAMILY = ["Lò Văn", "Cầm Thị", "Quàng Văn", "Nguyễn Văn", "Trần Thị", "Lường Văn", "Hà Thị", "Vì Văn", "Giàng A",
          "Sùng Thị", "Đinh Văn", "Tòng Thị"]
GIVEN = ["Thành", "Hoa", "Dũng", "Lan", "Minh", "Xuân", "Páo", "Mỷ", "Khánh", "Ngọc", "Hùng", "Thoa"]
PUBLIC_PLACES = ["Khu vực ven hồ Tuổi Trẻ sau 22 giờ", "Bãi đỗ xe tải ven quốc lộ 6", "Công viên trung tâm xã",
                 "Khu nhà trọ gần chợ", "Bến xe khách cũ", "Khu vực cầu treo bản"]
ELIMINATION = ["Triệt xóa: xử lý đối tượng, bàn giao địa bàn cho công an xã tuần tra thường xuyên",
               "Truy quét, lập hồ sơ đưa đối tượng đi cơ sở, vận động người bán dâm hòa nhập cộng đồng",
               "Phối hợp Đội 178 kiểm tra, đình chỉ cơ sở, lắp đèn chiếu sáng khu vực"]


def _at(day: date, hour: int) -> datetime:
    return datetime.combine(day, time(hour), LOCAL_TIME)


def _court(district_code: str, articles: list[str]) -> str:
    if {"150", "151"} & set(articles):
        return "Tòa án nhân dân tỉnh Sơn La"
    name = units().districts[district_code].name
    return "Tòa án nhân dân " + name[0].lower() + name[1:]


def load(container, tips: int = 84, seed: int = 33) -> int:
    """Record a year of tips, cases and hotspots unless the service already has some; return how many."""
    from services.cases import views

    officer = Principal(sub="demo-loader", roles=frozenset({ADMIN, POLICE}))
    with container.session_factory() as session:
        if views.search_tips(session, officer, {}, 1, 1)[1] > 0:
            return 0
    rng = random.Random(seed)
    demo = _Demo(container, officer, rng)
    for i in range(tips):
        demo.tip(date(2020, 1, 1) + timedelta(days=int(i * 355 / tips) + rng.randint(0, 4)))
    for i, tip in enumerate(demo.criminal_tips):
        demo.case(tip, i)
    return demo.records


class _Demo:
    def __init__(self, container, officer, rng):
        self.container, self.officer, self.rng = container, officer, rng
        self.provinces = container.config.provinces
        self.communes = [c for d in units().districts_in(SON_LA) for c in units().communes_in(d.code)]
        self.criminal_tips: list = []
        self.records = 0

    def uow(self):
        return self.container.uow()

    def tip(self, received: date) -> None:
        rng = self.rng
        source = rng.choices(list(SOURCES), weights=list(SOURCES.values()))[0]
        tip = handlers.receive_tip(self.uow(), self.officer, {
            "source": source, "commune_code": rng.choice(self.communes).code, "summary": rng.choice(TIP_SUMMARIES),
            "received_at": _at(received, rng.randint(7, 13))}, self.provinces)
        self.records += 1
        if received > date(2020, 12, 20):
            return  # the last tips of the year are still waiting
        started = received + timedelta(days=rng.randint(0, 3))
        handlers.start_verification(self.uow(), self.officer, tip.id, _at(started, 14))
        if received > date(2020, 12, 5):
            return  # still being verified at the end of the year
        classification = rng.choices(list(CLASSIFICATION_WEIGHTS), weights=list(CLASSIFICATION_WEIGHTS.values()))[0]
        classified = min(started + timedelta(days=rng.randint(3, 16 if rng.random() < 0.9 else 30)), YEAR_END)
        handlers.classify_tip(self.uow(), self.officer, tip.id, classification, None, _at(classified, 16))
        if classification == "criminal":
            self.criminal_tips.append((tip, classified))
            return
        handlers.handle_tip(self.uow(), self.officer, tip.id, HANDLING[classification],
                            _at(min(classified + timedelta(days=rng.randint(1, 10)), YEAR_END), 17))
        if classification == "administrative" and rng.random() < 0.25:
            self.hotspot(tip.commune_code, classified, {"found_by": "tip", "tip_id": tip.id})

    def case(self, found, i: int) -> None:
        tip, classified = found
        rng = self.rng
        articles = rng.choices([["327"], ["328"], ["327", "328"], ["329"], ["150"], ["151"]],
                               weights=[5, 4, 3, 1, 1, 1])[0]
        opened = min(classified + timedelta(days=rng.randint(1, 5)), YEAR_END)
        suspects = [{"full_name": f"{rng.choice(FAMILY)} {rng.choice(GIVEN)}", "role": role,
                     "birth_year": rng.randint(1965, 1998)}
                    for role in (["operator"] if "327" in articles else []) + ["broker"] * rng.randint(0, 2)]
        case = handlers.open_case(self.uow(), self.officer, {
            "case_number": f"{i + 1:02d}/2020/QĐ-KTVA", "articles": articles, "commune_code": tip.commune_code,
            "summary": CASE_SUMMARIES[articles[0]], "opened_on": opened, "tip_id": tip.id,
            "suspects": suspects, "suspects_count": len(suspects) + rng.randint(0, 1)}, self.provinces)
        self.records += 1
        if rng.random() < 0.6:
            handlers.refer_victims(self.uow(), self.officer, case.id, rng.randint(1, 3), opened,
                                   minor=articles[0] in ("329", "151"))
        if rng.random() < 0.7:
            found = {"found_by": "tip", "tip_id": tip.id} if rng.random() < 0.4 else {"found_by": "case",
                                                                                       "case_id": case.id}
            self.hotspot(case.commune_code, opened, found)
        self.stages(case, opened, i)

    def stages(self, case, opened: date, i: int) -> None:
        rng = self.rng
        if i % 9 == 4:
            self.move(case, "suspended", opened + timedelta(days=20), reason="Chưa xác định được đối tượng, "
                      "tạm đình chỉ điều tra (Điều 229 BLTTHS)")
            return
        if i % 9 == 7:
            self.move(case, "investigation", opened + timedelta(days=1))
            self.move(case, "dismissed", opened + timedelta(days=45), reason="Hành vi không cấu thành tội phạm; "
                      "chuyển xử lý hành chính")
            return
        day = opened + timedelta(days=1)
        steps = [("investigation", 0), ("prosecution", rng.randint(45, 95)), ("trial", rng.randint(30, 60)),
                 ("verdict", 0)]
        for stage, gap in steps:
            day += timedelta(days=gap)
            if day > YEAR_END:
                return
            extra = {}
            if stage == "trial":
                extra = {"court": _court(case.district_code, case.articles), "mobile_trial": rng.random() < 0.35}
            if stage == "verdict":
                extra = {"sentence": f"{rng.randint(1, 7)} năm tù giam"}
            self.move(case, stage, day, **extra)

    def move(self, case, stage: str, on: date, **extra) -> None:
        if on > YEAR_END:
            return
        handlers.change_stage(self.uow(), self.officer, case.id, {"stage": stage, "on": on, **extra})

    def hotspot(self, commune_code: str, after: date, found: dict) -> None:
        rng = self.rng
        detected = min(after + timedelta(days=rng.randint(0, 10)), YEAR_END)
        inside = rng.random() < 0.3
        hotspot = handlers.detect_hotspot(self.uow(), self.officer, {
            "commune_code": commune_code, "detected_on": detected, **found,
            "description": "Phòng trọ cho thuê không đăng ký kinh doanh, dùng làm nơi mua bán dâm" if inside
            else rng.choice(PUBLIC_PLACES), "kind": "inside_establishment" if inside else "public_place"},
            self.provinces)
        self.records += 1
        eliminated = detected + timedelta(days=rng.randint(20, 90))
        if eliminated > YEAR_END:
            return
        handlers.eliminate_hotspot(self.uow(), self.officer, hotspot.id, eliminated, rng.choice(ELIMINATION))
        recurred = eliminated + timedelta(days=rng.randint(30, 60))
        if rng.random() < 0.15 and recurred <= YEAR_END:
            handlers.report_recurrence(self.uow(), self.officer, hotspot.id, recurred,
                                       "Đối tượng quay lại hoạt động sau khi bị xử lý")
