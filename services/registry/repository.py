"""Where the registry's unit of work finds establishments."""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from chassis.db import among
from chassis.uow import UnitOfWork
from services.registry.domain import Establishment, NotFound


class EstablishmentRepository:
    def __init__(self, session: Session):
        self.session = session

    def add(self, establishment: Establishment) -> None:
        self.session.add(establishment)

    def get(self, establishment_id: str) -> Establishment:
        found = self.session.get(Establishment, str(establishment_id))
        if found is None:
            raise NotFound(f"no establishment {establishment_id}")
        return found

    def find_many(self, establishment_ids) -> dict[str, Establishment]:
        """Those of ``establishment_ids`` that exist, by id, with their histories, in one query each."""
        ids = sorted({str(i) for i in establishment_ids})
        found = self.session.execute(select(Establishment).where(among(self.session, Establishment.id, ids))).scalars()
        return {establishment.id: establishment for establishment in found}

    def licence_taken(self, licence_number: str, other_than: str | None = None) -> bool:
        query = select(Establishment.id).where(Establishment.licence_number == licence_number)
        if other_than:
            query = query.where(Establishment.id != other_than)
        return self.session.execute(query.limit(1)).first() is not None


class RegistryUnitOfWork(UnitOfWork):
    def _start(self) -> None:
        self.establishments = EstablishmentRepository(self.session)
