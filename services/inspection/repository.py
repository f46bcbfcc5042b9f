"""Where the inspection service's unit of work finds establishments, tips, plans and inspections."""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from chassis.db import among
from chassis.uow import UnitOfWork
from services.inspection.domain import Establishment, Inspection, InvalidChange, NotFound, Plan, Tip


class Repository:
    model: type
    what: str

    def __init__(self, session: Session):
        self.session = session

    def add(self, item) -> None:
        self.session.add(item)

    def find(self, item_id: str):
        return self.session.get(self.model, str(item_id))

    def find_many(self, item_ids) -> dict:
        """Those of ``item_ids`` that exist, by id, in one query."""
        ids = sorted({str(i) for i in item_ids})  # a poll's: up to a thousand (`among`)
        found = self.session.execute(select(self.model).where(among(self.session, self.model.id, ids))).scalars()
        return {item.id: item for item in found}

    def get(self, item_id: str):
        found = self.find(item_id)
        if found is None:
            raise NotFound(f"no {self.what} {item_id}")
        return found


class EstablishmentRepository(Repository):
    model, what = Establishment, "establishment"

    def known(self, establishment_id: str) -> Establishment:
        """An establishment the local copy holds; otherwise the request is refused (422), not 'not found'."""
        found = self.find(establishment_id)
        if found is None:
            raise InvalidChange(f"establishment {establishment_id} is not known here (yet): it must be registered "
                                "in the registry first", field="establishment_id")
        return found


class TipRepository(Repository):
    model, what = Tip, "tip"


class PlanRepository(Repository):
    model, what = Plan, "plan"


class InspectionRepository(Repository):
    model, what = Inspection, "inspection"

    def find(self, item_id: str) -> Inspection | None:
        """The inspection with its team and results in one query (joined), not one for each (the mapping's
        ``selectin``, right for lists): a result's request reads all three."""
        return self.session.get(Inspection, str(item_id),
                                options=[joinedload(Inspection.members), joinedload(Inspection.results)])

    def planned_reinspection(self, inspection_id: str) -> Inspection | None:
        query = select(Inspection).where(Inspection.reinspection_of == inspection_id, Inspection.status == "planned")
        return self.session.execute(query.limit(1)).scalars().first()


class InspectionUnitOfWork(UnitOfWork):
    def _start(self) -> None:
        self.establishments = EstablishmentRepository(self.session)
        self.tips = TipRepository(self.session)
        self.plans = PlanRepository(self.session)
        self.inspections = InspectionRepository(self.session)
