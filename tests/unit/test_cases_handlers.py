"""The cases service's business actions and its consumer, run against an in-memory unit of work;
and the police-referral consumer through the chassis's ConsumerRunner on the embedded transport."""
from __future__ import annotations

import uuid
from datetime import date, datetime, timezone

import pytest
from sqlalchemy import select

from chassis.auth import POLICE, Forbidden, Principal
from chassis import envelope
from chassis.envelope import ReceivedEvent
from chassis.service import bootstrap
from chassis.transport import Outgoing
from contracts import topics
from contracts.events import cases as events
from contracts.events import inspection
from contracts.events import registry as registry_events
from services.cases import handlers
from services.cases.domain import Conflict, Establishment, InvalidChange, NotFound, TimeLimits
from tests.conftest import make_config

SON_LA = ("14",)
OFFICER = Principal("officer-1", frozenset({POLICE}))
CITY_OFFICER = Principal("officer-116", frozenset({POLICE}), district="116")
QUYNH_NHAI_OFFICER = Principal("officer-118", frozenset({POLICE}), district="118")
CHIENG_LE = "03646"  # district 116
MUONG_CHIEN = "03682"  # district 118
LIMITS = TimeLimits(20, {"opened": 3, "investigation": 120, "prosecution": 120, "trial": 15})
NAMES = ("Lò Văn Thành", "Cầm Thị Hoa")


class FakeRepository:
    def __init__(self, noun: str):
        self.noun, self.rows = noun, {}

    def add(self, item) -> None:
        self.rows[item.id] = item

    def get(self, item_id):
        try:
            return self.rows[str(item_id)]
        except KeyError:
            raise NotFound(f"no {self.noun} {item_id}") from None

    def find(self, item_id):
        return self.rows.get(str(item_id))

    def by_referral(self, referral_id):
        return next((t for t in self.rows.values() if t.referral_id == str(referral_id)), None)

    def number_taken(self, case_number):
        return any(c.case_number == case_number for c in self.rows.values())


class FakeUnitOfWork:
    def __init__(self):
        self.tips, self.cases, self.hotspots = FakeRepository("tip"), FakeRepository("case"), FakeRepository("hotspot")
        self.establishments = FakeRepository("establishment")
        for n in (1, 7):  # known from the registry's events
            self.establishments.add(Establishment(str(uuid.UUID(int=n)), f"Nhà nghỉ {n}", "accommodation", CHIENG_LE,
                                                  "116", "active", datetime.now(timezone.utc)))
        self.published: list[tuple] = []
        self.committed = False

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        pass

    def publish(self, event_type, subject, data):
        self.published.append((event_type, str(subject), data))

    def commit(self):
        self.committed = True

    def rollback(self):
        pass

    def take(self) -> list[tuple]:
        published, self.published, self.committed = self.published, [], False
        return published


def names(published) -> list[str]:
    return [t.name for t, _, _ in published]


def assert_meets_contract(published):
    for event_type, _, data in published:
        schema = event_type.schema()
        assert schema.validate(schema.dump(data)) == {}, event_type.type


def at(day: str) -> datetime:
    return datetime.fromisoformat(f"{day}T10:00:00+07:00")


def receive(uow, actor=OFFICER, **overrides):
    details = {"source": "hotline", "commune_code": CHIENG_LE, "summary": "Nhà nghỉ có dấu hiệu chứa mại dâm",
               "received_at": at("2020-03-02"), **overrides}
    return handlers.receive_tip(uow, actor, details, SON_LA, LIMITS)


def criminal_tip(uow):
    tip = receive(uow)
    handlers.classify_tip(uow, OFFICER, tip.id, "criminal", None, at("2020-03-05"))
    uow.take()
    return tip


def open_case(uow, actor=OFFICER, **overrides):
    details = {"case_number": f"{uuid.uuid4().hex[:4]}/2020", "articles": ["327"], "commune_code": CHIENG_LE,
               "summary": "Chứa mại dâm", "opened_on": date(2020, 3, 10),
               "establishment_ids": [uuid.UUID(int=1)],
               "suspects": [{"full_name": NAMES[0], "role": "operator", "id_number": "040123456789"}],
               **overrides}
    return handlers.open_case(uow, actor, details, SON_LA, LIMITS)


def stage(uow, case, name, on, actor=OFFICER, **extra):
    return handlers.change_stage(uow, actor, case.id, {"stage": name, "on": date.fromisoformat(on), **extra}, LIMITS)


# -- tips -----------------------------------------------------------------------------------------------------

def test_receiving_a_tip_publishes_tip_received_within_its_contract():
    uow = FakeUnitOfWork()
    tip = receive(uow, establishment_id=uuid.UUID(int=7))
    (event_type, subject, data), = uow.published
    assert (event_type, subject) == (events.TIP_RECEIVED, tip.id)
    assert (data["source"], data["district_code"], data["establishment_id"]) == ("hotline", "116", str(uuid.UUID(int=7)))
    assert_meets_contract(uow.published)
    assert uow.committed and tip.verification_due_on == date(2020, 3, 22)


def test_a_district_officer_cannot_receive_a_tip_for_another_district():
    uow = FakeUnitOfWork()
    with pytest.raises(Forbidden):
        receive(uow, actor=CITY_OFFICER, commune_code=MUONG_CHIEN)
    assert uow.published == [] and not uow.committed


def test_unknown_commune_is_refused_naming_it():
    with pytest.raises(InvalidChange) as exc:
        receive(FakeUnitOfWork(), commune_code="99999")
    assert exc.value.field == "commune_code"


def test_classifying_and_handling_publish_their_events():
    uow = FakeUnitOfWork()
    tip = receive(uow)
    uow.take()
    handlers.start_verification(uow, OFFICER, tip.id, at("2020-03-03"))
    assert uow.take() == []  # verification starts quietly
    handlers.classify_tip(uow, OFFICER, tip.id, "administrative", "Chuyển Đội 178", at("2020-03-05"))
    handlers.handle_tip(uow, OFFICER, tip.id, "Đã xử phạt hành chính", at("2020-03-09"))
    published = uow.take()
    assert names(published) == ["cases.tip.classified", "cases.tip.handled"]
    assert published[0][2]["classification"] == "administrative"
    assert published[1][2]["case_id"] is None
    assert_meets_contract(published)


def test_another_districts_officer_cannot_classify():
    uow = FakeUnitOfWork()
    tip = receive(uow)
    uow.take()
    with pytest.raises(Forbidden):
        handlers.classify_tip(uow, QUYNH_NHAI_OFFICER, tip.id, "unfounded", None, None)
    assert tip.status == "received" and uow.published == []


# -- the consumer: an inspection's police referral becomes a tip ---------------------------------------------------

def referral_event(referral_id=None, published=datetime(2020, 5, 4, 8, tzinfo=timezone.utc)) -> ReceivedEvent:
    data = {"referral_id": str(referral_id or uuid.uuid4()), "inspection_id": str(uuid.UUID(int=11)),
            "establishment_id": str(uuid.UUID(int=12)), "commune_code": CHIENG_LE, "district_code": "116",
            "detected_on": "2020-05-04", "summary": "Kiểm tra liên ngành phát hiện dấu hiệu mua bán dâm"}
    return ReceivedEvent(str(uuid.uuid4()), inspection.POLICE_REFERRAL.type, "/lanhmanh/inspection",
                         data["referral_id"], published, data, None, None, "1")


def test_a_police_referral_becomes_a_tip_linked_to_establishment_and_inspection():
    uow = FakeUnitOfWork()
    event = referral_event()
    handlers.receive_police_referral(uow, event, LIMITS)
    (tip,) = uow.tips.rows.values()
    assert (tip.source, tip.status, tip.district_code) == ("inspection_referral", "received", "116")
    assert (tip.establishment_id, tip.inspection_id, tip.referral_id) == (
        str(uuid.UUID(int=12)), str(uuid.UUID(int=11)), event.data["referral_id"])
    (event_type, _, data), = uow.published
    assert event_type is events.TIP_RECEIVED and data["inspection_id"] == str(uuid.UUID(int=11))
    assert_meets_contract(uow.published)


def test_a_referral_published_days_later_is_received_on_the_day_the_signs_were_found():
    uow = FakeUnitOfWork()
    handlers.receive_police_referral(uow, referral_event(published=datetime(2020, 5, 9, 3, tzinfo=timezone.utc)), LIMITS)
    (tip,) = uow.tips.rows.values()
    assert tip.received_at == datetime.fromisoformat("2020-05-04T17:00:00+07:00")
    assert tip.verification_due_on == date(2020, 5, 24)


def test_a_referral_received_the_same_day_keeps_its_time():
    uow = FakeUnitOfWork()
    handlers.receive_police_referral(uow, referral_event(), LIMITS)
    (tip,) = uow.tips.rows.values()
    assert tip.received_at == datetime(2020, 5, 4, 8, tzinfo=timezone.utc)


def test_the_same_referral_sent_twice_makes_one_tip():
    uow = FakeUnitOfWork()
    referral_id = uuid.uuid4()
    handlers.receive_police_referral(uow, referral_event(referral_id), LIMITS)
    handlers.receive_police_referral(uow, referral_event(referral_id), LIMITS)  # a new event id, same referral
    assert len(uow.tips.rows) == 1 and len(uow.published) == 1


@pytest.fixture
def cases_service(services, tmp_path, embedded_transport):
    container = bootstrap(services["cases"], make_config("cases", tmp_path, consumer_max_attempts=2),
                          embedded_transport)
    container.migrate()
    embedded_transport.ensure_topics(container.topics())
    yield container
    container.dispose()


def test_the_consumer_runner_turns_a_referral_on_its_topic_into_one_tip(cases_service, embedded_transport):
    event = referral_event()
    _, payload = envelope.build(inspection.POLICE_REFERRAL, event.data["referral_id"],
                                {**event.data, "detected_on": date(2020, 5, 4)}, "/lanhmanh/inspection")
    producer = embedded_transport.producer()
    for _ in range(2):  # delivered twice: applied once
        producer.send([Outgoing(topics.INSPECTION_REFERRALS, event.data["referral_id"], payload, {})], timeout=5)
    (runner,) = [r for r in cases_service.consumer_runners() if r.spec.name == "cases-police-referrals"]
    for _ in range(3):
        runner.run_once(timeout=0.01)
    tips_table = cases_service.service.metadata.tables["tips"]
    with cases_service.engine.connect() as conn:
        rows = conn.execute(select(tips_table.c.source, tips_table.c.referral_id, tips_table.c.inspection_id)).all()
    assert rows == [("inspection_referral", event.data["referral_id"], str(uuid.UUID(int=11)))]


# -- cases ----------------------------------------------------------------------------------------------------

def test_opening_a_case_from_a_criminal_tip_handles_the_tip():
    uow = FakeUnitOfWork()
    tip = criminal_tip(uow)
    case = open_case(uow, tip_id=uuid.UUID(tip.id))
    assert names(uow.published) == ["cases.case.opened", "cases.tip.handled"]
    opened, handled = (d for _, _, d in uow.published)
    assert (opened["tip_id"], opened["suspects_count"], opened["articles"]) == (tip.id, 1, ["327"])
    assert handled["case_id"] == case.id and tip.status == "handled"
    assert_meets_contract(uow.published)


def test_no_event_carries_a_suspects_identity():
    uow = FakeUnitOfWork()
    case = open_case(uow)
    handlers.add_suspect(uow, OFFICER, case.id, {"full_name": NAMES[1], "role": "broker"})
    for name, on, extra in (("investigation", "2020-03-11", {}), ("prosecution", "2020-06-01", {}),
                            ("trial", "2020-07-01", {"court": "TAND huyện Mai Sơn"}),
                            ("verdict", "2020-07-01", {"operator_convicted": True})):
        stage(uow, case, name, on, **extra)
    handlers.refer_victims(uow, OFFICER, case.id, 2, date(2020, 3, 10))
    text = repr([d for _, _, d in uow.published])
    assert not any(n in text for n in NAMES) and "040123456789" not in text
    assert len(case.suspects) == 2


def test_a_case_from_a_tip_that_is_not_criminal_is_refused():
    uow = FakeUnitOfWork()
    tip = receive(uow)
    handlers.classify_tip(uow, OFFICER, tip.id, "unfounded", None, at("2020-03-05"))
    with pytest.raises(InvalidChange) as exc:
        open_case(uow, tip_id=uuid.UUID(tip.id))
    assert exc.value.field == "tip_id" and tip.status == "classified"


def test_an_unknown_tip_or_hotspot_is_refused_naming_the_field():
    with pytest.raises(InvalidChange) as exc:
        open_case(FakeUnitOfWork(), tip_id=uuid.uuid4())
    assert exc.value.field == "tip_id"
    with pytest.raises(InvalidChange) as exc:
        open_case(FakeUnitOfWork(), hotspot_ids=[uuid.uuid4()])
    assert exc.value.field == "hotspot_ids"


def test_a_duplicate_case_number_is_a_conflict():
    uow = FakeUnitOfWork()
    open_case(uow, case_number="01/2020")
    uow.take()
    with pytest.raises(Conflict) as exc:
        open_case(uow, case_number="01/2020")
    assert exc.value.field == "case_number" and uow.published == []


def test_each_stage_publishes_stage_changed_and_a_verdict_against_the_operator_publishes_operator_convicted():
    uow = FakeUnitOfWork()
    case = open_case(uow)
    uow.take()
    stage(uow, case, "investigation", "2020-03-11")
    stage(uow, case, "prosecution", "2020-06-01")
    stage(uow, case, "trial", "2020-07-01", court="Tòa án nhân dân huyện Mai Sơn", mobile_trial=True)
    stage(uow, case, "verdict", "2020-07-01", operator_convicted=True, sentence="4 năm tù")
    published = uow.take()
    assert names(published) == ["cases.case.stage_changed"] * 4 + ["cases.case.operator_convicted"]
    assert [(d["previous_stage"], d["stage"], d["mobile_trial"]) for _, _, d in published[:4]] == [
        ("opened", "investigation", False), ("investigation", "prosecution", False),
        ("prosecution", "trial", True), ("trial", "verdict", True)]
    convicted = published[-1][2]
    assert convicted["establishment_ids"] == [str(uuid.UUID(int=1))]
    assert (convicted["verdict_on"], convicted["articles"]) == (date(2020, 7, 1), ["327"])
    assert_meets_contract(published)


def test_a_verdict_not_against_an_operator_publishes_no_conviction():
    uow = FakeUnitOfWork()
    case = open_case(uow)
    for name, on, extra in (("investigation", "2020-03-11", {}), ("prosecution", "2020-06-01", {}),
                            ("trial", "2020-07-01", {"court": "TAND"}), ("verdict", "2020-07-01", {})):
        stage(uow, case, name, on, **extra)
    assert "cases.case.operator_convicted" not in names(uow.published)


def test_an_illegal_move_publishes_nothing():
    uow = FakeUnitOfWork()
    case = open_case(uow)
    uow.take()
    with pytest.raises(Conflict):
        stage(uow, case, "trial", "2020-04-01", court="TAND")
    assert uow.published == [] and not uow.committed and case.stage == "opened"


def test_a_correction_is_published_as_such():
    uow = FakeUnitOfWork()
    case = open_case(uow)
    stage(uow, case, "investigation", "2020-03-11")
    uow.take()
    stage(uow, case, "opened", "2020-03-10", correction=True, reason="Ghi nhầm")
    (_, _, data), = uow.published
    assert (data["stage"], data["correction"]) == ("opened", True)


def test_victims_are_referred_one_random_id_each():
    uow = FakeUnitOfWork()
    case = open_case(uow)
    uow.take()
    handlers.refer_victims(uow, OFFICER, case.id, 3, date(2020, 3, 12), minor=True)
    assert names(uow.published) == ["cases.referral.victim"] * 3
    ids = [s for _, s, _ in uow.published]
    assert len(set(ids)) == 3 and all(uuid.UUID(i).version == 4 for i in ids)
    assert [d["referral_id"] for _, _, d in uow.published] == ids == [v.referral_id for v in case.victims]
    assert_meets_contract(uow.published)


def test_another_districts_officer_cannot_move_a_case():
    uow = FakeUnitOfWork()
    case = open_case(uow)
    uow.take()
    with pytest.raises(Forbidden):
        stage(uow, case, "investigation", "2020-03-11", actor=QUYNH_NHAI_OFFICER)
    assert case.stage == "opened" and uow.published == []


# -- hotspots -------------------------------------------------------------------------------------------------

def test_hotspot_detected_eliminated_recurred():
    uow = FakeUnitOfWork()
    case = open_case(uow)
    uow.take()
    hotspot = handlers.detect_hotspot(uow, OFFICER, {
        "commune_code": CHIENG_LE, "description": "Ven hồ", "kind": "public_place", "found_by": "case",
        "case_id": uuid.UUID(case.id), "detected_on": date(2020, 3, 15)}, SON_LA)
    handlers.eliminate_hotspot(uow, OFFICER, hotspot.id, date(2020, 5, 1), "Triệt xóa")
    handlers.report_recurrence(uow, OFFICER, hotspot.id, date(2020, 8, 1), None)
    assert names(uow.published) == ["cases.hotspot.detected", "cases.hotspot.eliminated", "cases.hotspot.recurred"]
    assert uow.published[0][2]["found_by"] == "case"
    assert_meets_contract(uow.published)


def test_a_hotspot_found_by_an_unknown_case_is_refused():
    with pytest.raises(InvalidChange) as exc:
        handlers.detect_hotspot(FakeUnitOfWork(), OFFICER, {
            "commune_code": CHIENG_LE, "description": "Ven hồ", "kind": "public_place", "found_by": "case",
            "case_id": uuid.uuid4(), "detected_on": date(2020, 3, 15)}, SON_LA)
    assert exc.value.field == "case_id"


# -- the consumer: the registry's establishments ---------------------------------------------------------------

def registry_event(event_type, **data) -> ReceivedEvent:
    return ReceivedEvent(str(uuid.uuid4()), event_type.type, "/lanhmanh/registry", data["establishment_id"],
                         datetime.now(timezone.utc), data, None, None, "1")


def test_the_registry_s_establishments_are_copied_and_kept_up_to_date():
    uow = FakeUnitOfWork()
    new = str(uuid.uuid4())
    handlers.copy_establishment(uow, registry_event(
        registry_events.ESTABLISHMENT_REGISTERED, establishment_id=new, name="Karaoke Hoa Hồng",
        business_type="karaoke", commune_code=MUONG_CHIEN, district_code="118", status="active"))
    handlers.copy_establishment(uow, registry_event(
        registry_events.ESTABLISHMENT_STATUS_CHANGED, establishment_id=new, previous_status="active",
        status="suspended", commune_code=MUONG_CHIEN, district_code="118"))
    copy = uow.establishments.find(new)
    assert (copy.name, copy.district_code, copy.status) == ("Karaoke Hoa Hồng", "118", "suspended")
    handlers.copy_establishment(uow, registry_event(
        registry_events.ESTABLISHMENT_STATUS_CHANGED, establishment_id=str(uuid.uuid4()), previous_status="active",
        status="revoked", commune_code=MUONG_CHIEN, district_code="118"))  # never registered here: ignored
    assert len(uow.establishments.rows) == 3 and uow.published == []


def test_links_to_establishments_the_registry_never_published_are_refused():
    stranger = uuid.uuid4()
    with pytest.raises(InvalidChange) as exc:
        open_case(FakeUnitOfWork(), establishment_ids=[uuid.UUID(int=1), stranger])
    assert exc.value.field == "establishment_ids" and str(stranger) in str(exc.value)
    with pytest.raises(InvalidChange) as exc:
        receive(FakeUnitOfWork(), establishment_id=stranger)
    assert exc.value.field == "establishment_id"
    with pytest.raises(InvalidChange) as exc:
        handlers.detect_hotspot(FakeUnitOfWork(), OFFICER, {
            "commune_code": CHIENG_LE, "description": "Phòng nghỉ", "kind": "inside_establishment",
            "establishment_id": stranger, "found_by": "inspection", "inspection_id": uuid.uuid4(),
            "detected_on": date(2020, 3, 15)}, SON_LA)
    assert exc.value.field == "establishment_id"
