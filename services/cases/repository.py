"""Where the cases service's unit of work finds tips, cases and hotspots."""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from chassis.uow import UnitOfWork
from services.cases.domain import Case, Establishment, Hotspot, NotFound, Tip


class _Repository:
    kind: type
    noun: str

    def __init__(self, session: Session):
        self.session = session

    def add(self, item) -> None:
        self.session.add(item)

    def get(self, item_id: str):
        found = self.session.get(self.kind, str(item_id))
        if found is None:
            raise NotFound(f"no {self.noun} {item_id}")
        return found


class EstablishmentRepository(_Repository):
    kind, noun = Establishment, "establishment"

    def find(self, establishment_id: str) -> Establishment | None:
        return self.session.get(Establishment, str(establishment_id))


class TipRepository(_Repository):
    kind, noun = Tip, "tip"

    def by_referral(self, referral_id: str) -> Tip | None:
        return self.session.execute(select(Tip).where(Tip.referral_id == str(referral_id))).scalars().first()


class CaseRepository(_Repository):
    kind, noun = Case, "case"

    def number_taken(self, case_number: str) -> bool:
        return self.session.execute(
            select(Case.id).where(Case.case_number == case_number.strip()).limit(1)).first() is not None


class HotspotRepository(_Repository):
    kind, noun = Hotspot, "hotspot"


class CasesUnitOfWork(UnitOfWork):
    def _start(self) -> None:
        self.establishments = EstablishmentRepository(self.session)
        self.tips = TipRepository(self.session)
        self.cases = CaseRepository(self.session)
        self.hotspots = HotspotRepository(self.session)
