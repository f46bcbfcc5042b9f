"""Demo data for `make run`: Sơn La's year 2020 in social affairs. Referrals arrive from
inspections and criminal cases (as the consumers receive them), from walk-ins and NGOs; case
workers record first contacts (Thái, H'Mông, Mường, Dao, Kinh names), consent, accept or
decline, assess needs, deliver services, follow up and close cases. Everything goes through the
service's own business actions, deterministically (seeded), so the events flow like any other.
Names are invented."""
from __future__ import annotations

import random
import uuid
from datetime import date, timedelta
from types import SimpleNamespace

from chassis.auth import SOCIAL_WORKER, Principal
from contracts.events import cases as case_events
from contracts.events import inspection as inspection_events
from contracts.refdata import SON_LA, units
from services.support import handlers

NAMES = {  # ethnicity: (family names, given names of women, given names of men)
    "Thái": (["Lò", "Cầm", "Quàng", "Lường", "Vì", "Tòng", "Điêu", "Hà"],
             ["Thị Xuân", "Thị Ánh", "Thị Hương", "Thị Lả", "Thị Ơn", "Thị Bún", "Thị Ngọc", "Thị Én", "Thị Pản"],
             ["Văn Thành", "Văn Khiên"]),
    "H'Mông": (["Giàng", "Sùng", "Vàng", "Thào", "Mùa", "Lầu", "Hờ"],
               ["Thị Mỷ", "Thị Dợ", "Thị Sua", "Thị Pàng", "Thị Chứ", "Thị Súa", "Thị Mai"], ["A Páo", "A Dình"]),
    "Mường": (["Đinh", "Bùi", "Quách", "Hà"], ["Thị Hoa", "Thị Thơm", "Thị Nhung", "Thị Lụa"], ["Văn Mạnh"]),
    "Dao": (["Bàn", "Triệu", "Lý", "Đặng"], ["Thị Mai", "Thị Kiều", "Thị Phấy", "Thị Làn"], ["Văn Quẩy"]),
    "Kinh": (["Nguyễn", "Trần", "Phạm", "Lê"], ["Thị Hằng", "Thị Thu", "Thị Lan", "Thị Nga"], ["Văn Hùng"]),
}
ETHNIC_WEIGHTS = {"Thái": 45, "H'Mông": 25, "Mường": 8, "Dao": 7, "Kinh": 15}
NGOS = ["Hội Liên hiệp Phụ nữ tỉnh Sơn La", "Nhóm tự lực Hoa Ban (demo)", "Trung tâm Hỗ trợ cộng đồng Tây Bắc (demo)"]
DECLINE_REASONS = ["Người được giới thiệu đã chuyển khỏi địa phương trước khi liên hệ",
                   "Người được giới thiệu không đồng ý nhận hỗ trợ",
                   "Trùng với hồ sơ đã tiếp nhận từ đợt kiểm tra trước"]
COURSES = [("May công nghiệp", "Trường Cao đẳng nghề Sơn La"), ("Chế biến món ăn", "Trung tâm GDNN-GDTX huyện"),
           ("Trồng và chăm sóc cà phê", "Trung tâm Khuyến nông tỉnh"), ("Thêu thổ cẩm", "HTX Thổ cẩm Chiềng Chung")]
EMPLOYERS = ["Công ty TNHH May Sơn La", "Nhà hàng Hương Rừng", "HTX Nông nghiệp Cò Nòi", "Công ty CP Mía đường Sơn La"]
OUTCOME_WEIGHTS = {"reintegrated": 60, "moved_away": 15, "declined_further_support": 15, "returned_to_sex_work": 10}


def _event(event_type, data: dict):
    """What the consumer runner hands a handler: the event, its JSON data and its typed payload."""
    raw = event_type.schema().dump(data)
    return SimpleNamespace(id=str(uuid.uuid4()), type=event_type.type, data=raw,
                           payload=event_type.schema().load(raw))


def _consume(container, handler, event) -> None:
    uow = container.uow()
    with uow:
        handler(uow, event)
        uow.commit()


def load(container, seed: int = 2020) -> int:
    """Play Sơn La's 2020 through the business actions, unless people are already recorded."""
    from services.support import views

    rng = random.Random(seed)
    uid = lambda: uuid.UUID(int=rng.getrandbits(128), version=4)  # noqa: E731 - deterministic ids
    admin = Principal(sub="demo-loader", roles=frozenset({"admin"}))
    with container.session_factory() as session:
        if views.search_persons(session, admin, {}, 1, 1)[1] > 0:
            return 0
    districts = sorted(units().districts_in(SON_LA), key=lambda d: d.code)
    referrals = []
    # 1. Referrals arrive: inspections (batches), criminal cases (victims), walk-ins, NGOs.
    for n in range(14):
        district = districts[n % len(districts)]
        commune = rng.choice(units().communes_in(district.code))
        count = rng.randint(1, 3)
        data = {"referral_batch_id": uid(), "inspection_id": uid(), "commune_code": commune.code,
                "district_code": district.code, "referred_on": date(2020, 2 + n % 9, rng.randint(1, 28)),
                "count": count, "referral_ids": [uid() for _ in range(count)]}
        _consume(container, handlers.receive_inspection_referral, _event(inspection_events.SUPPORT_REFERRAL, data))
        referrals += [(str(r), district.code, data["referred_on"]) for r in data["referral_ids"]]
    for n in range(5):
        district = districts[(3 * n) % len(districts)]
        data = {"referral_id": uid(), "case_id": uid(), "commune_code": rng.choice(units().communes_in(district.code)).code,
                "district_code": district.code, "referred_on": date(2020, 3 + 2 * n, rng.randint(1, 28))}
        _consume(container, handlers.receive_victim_referral, _event(case_events.VICTIM_REFERRED, data))
        referrals.append((str(data["referral_id"]), district.code, data["referred_on"]))
    for n in range(8):
        district = districts[(5 * n) % len(districts)]
        worker = Principal(f"cb-xh-{district.code}", frozenset({SOCIAL_WORKER}), district.code)
        on = date(2020, 1 + n, rng.randint(1, 28))
        ngo = n % 2 == 1
        referral = handlers.receive_referral(container.uow(), worker, {
            "source": "ngo" if ngo else "walk_in", "referred_on": on,
            "organisation": rng.choice(NGOS) if ngo else None}, container.config.provinces)
        referrals.append((referral.id, district.code, on))
    # 2. Case workers meet the people, record consent, decide, and support them through the year.
    people = 0
    for i, (referral_id, district_code, referred_on) in enumerate(referrals):
        worker = Principal(f"cb-xh-{district_code}", frozenset({SOCIAL_WORKER}), district_code)
        met_on = referred_on + timedelta(days=rng.randint(2, 12))
        if i % 7 == 6:
            handlers.decide_referral(container.uow(), worker, referral_id, {
                "accepted": False, "reason": rng.choice(DECLINE_REASONS), "decided_on": met_on})
            continue
        if i % 11 == 10:
            continue  # still waiting for a first meeting
        person = _first_contact(container, worker, rng, district_code, met_on)
        people += 1
        services = ["legal_aid", "health_care", "vocational_training", "job_placement", "livelihood_support",
                    "reintegration_follow_up"]
        handlers.record_consent(container.uow(), worker, person.id, {
            "given_on": met_on, "services": services if i % 5 else services[:3], "share_with": ["reporting", "health"]})
        referral = handlers.decide_referral(container.uow(), worker, referral_id, {
            "accepted": True, "person_id": person.id, "decided_on": met_on,
            "reason": "Đồng ý tham gia chương trình hỗ trợ hòa nhập cộng đồng"})
        _support(container, worker, rng, referral.support_case_id, met_on, i)
    _duplicate_and_withdrawal(container, rng)
    return people + len(referrals)


def _first_contact(container, worker, rng, district_code: str, on: date, name: tuple | None = None):
    ethnicity = rng.choices(list(ETHNIC_WEIGHTS), weights=list(ETHNIC_WEIGHTS.values()))[0]
    families, women, _ = NAMES[ethnicity]
    full_name, birth_year = name or (f"{rng.choice(families)} {rng.choice(women)}", rng.randint(1982, 2003))
    return handlers.register_person(container.uow(), worker, {
        "full_name": full_name, "birth_year": birth_year, "sex": "female", "ethnicity": ethnicity,
        "commune_code": rng.choice(units().communes_in(district_code)).code,
        "id_number": f"0{rng.randint(10, 99)}{rng.randint(100000000, 999999999)}" if rng.random() < 0.6 else None,
        "phone": f"09{rng.randint(10000000, 99999999)}" if rng.random() < 0.7 else None,
        "first_contact_on": on}, container.config.provinces)


def _support(container, worker, rng, case_id: str, opened_on: date, i: int) -> None:
    uow, day = container.uow, lambda n: min(opened_on + timedelta(days=n), date(2020, 12, 31))
    case = handlers.assess_case(uow(), worker, case_id, {
        "needs": ["legal_aid", "health_care", "vocational_training", "documents"], "assessed_on": day(7),
        "assessment_notes": "Cần làm lại giấy tờ tùy thân; mong muốn học nghề gần nhà.",
        "goals": [{"description": "Có việc làm ổn định", "target_on": day(270)},
                  {"description": "Tham gia sinh hoạt tại Hội Phụ nữ xã", "target_on": day(120)}]},
        precondition=lambda found: None)
    handlers.deliver_service(uow(), worker, case_id, {"service_type": "legal_aid", "delivered_on": day(10),
                                                      "provider": "Trung tâm Trợ giúp pháp lý nhà nước tỉnh Sơn La"})
    handlers.deliver_service(uow(), worker, case_id, {"service_type": "health_care", "delivered_on": day(14),
                                                      "health_kind": rng.choice(["hiv_test", "sti_test"]),
                                                      "provider": "Trung tâm Kiểm soát bệnh tật tỉnh Sơn La"})
    if i % 9 == 4:
        handlers.deliver_service(uow(), worker, case_id, {"service_type": "health_care", "delivered_on": day(20),
                                                          "health_kind": "harm_reduction", "provider": "Trung tâm Y tế huyện"})
    course, provider = rng.choice(COURSES)
    case = handlers.deliver_service(uow(), worker, case_id, {
        "service_type": "vocational_training", "delivered_on": day(30), "course": course, "provider": provider,
        "started_on": day(30)})
    training = case.services[-1]
    task_case = handlers.add_task(uow(), worker, case_id, "Thăm hỏi sau khóa học nghề", day(120))
    if opened_on > date(2020, 9, 1):
        return  # the year ends with this case still in training; its follow-up is due
    handlers.complete_service(uow(), worker, case_id, training.id, day(120))
    handlers.finish_task(uow(), worker, case_id, task_case.tasks[-1].id, day(121))
    if i % 5 == 0:  # this person's consent covers legal aid, health care and training only
        handlers.close_case(uow(), worker, case_id, {"outcome": "reintegrated", "closed_on": day(150)})
        return
    if i % 3:
        handlers.deliver_service(uow(), worker, case_id, {"service_type": "job_placement", "delivered_on": day(130),
                                                          "employer": rng.choice(EMPLOYERS), "started_on": day(130)})
    else:
        handlers.deliver_service(uow(), worker, case_id, {"service_type": "livelihood_support",
                                                          "delivered_on": day(130), "amount_vnd": 20_000_000,
                                                          "provider": "Ngân hàng Chính sách xã hội"})
    handlers.deliver_service(uow(), worker, case_id, {"service_type": "reintegration_follow_up",
                                                      "delivered_on": day(180)})
    if opened_on < date(2020, 6, 1):
        outcome = random.Random(i).choices(list(OUTCOME_WEIGHTS), weights=list(OUTCOME_WEIGHTS.values()))[0]
        handlers.close_case(uow(), worker, case_id, {"outcome": outcome, "closed_on": day(200),
                                                     "note": "Đánh giá cuối kỳ hỗ trợ"})
    else:
        handlers.add_task(uow(), worker, case_id, "Đánh giá hòa nhập 6 tháng", day(200))


def _duplicate_and_withdrawal(container, rng) -> None:
    """A person referred twice (the duplicate check proposes, a case worker confirms), and a withdrawal."""
    worker = Principal("cb-xh-116", frozenset({SOCIAL_WORKER}), "116")
    name = ("Cầm Thị Hoa", 1996)
    first = _first_contact(container, worker, rng, "116", date(2020, 4, 2), name)
    again = _first_contact(container, worker, rng, "116", date(2020, 8, 19), name)
    if again.merge_proposals:
        handlers.decide_merge(container.uow(), worker, again.id, again.merge_proposals[0].id, True)
    handlers.record_consent(container.uow(), worker, first.id, {
        "given_on": date(2020, 4, 2), "services": ["legal_aid", "health_care"], "share_with": ["reporting"]})
    case = handlers.open_case(container.uow(), worker, first.id, date(2020, 4, 2))
    handlers.deliver_service(container.uow(), worker, case.id, {"service_type": "legal_aid",
                                                                "delivered_on": date(2020, 4, 20)})
    handlers.withdraw_consent(container.uow(), worker, first.id, date(2020, 10, 5))
    handlers.close_case(container.uow(), worker, case.id, {"outcome": "declined_further_support",
                                                           "closed_on": date(2020, 10, 5)})
    handlers.read_identity(container.uow(), worker, first.id, "Xác minh hồ sơ trùng lặp")
