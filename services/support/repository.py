"""Where the support service's unit of work finds people, referrals, cases and the audit log.

The unit of work also carries the identity vault (`services.support.vault`): the handlers seal
and open identities through ``uow.vault``, so a fake unit of work can bring its own keys.
"""
from __future__ import annotations

from typing import Callable

from sqlalchemy import Text, select, type_coerce, update
from sqlalchemy.orm import Session

from chassis.uow import UnitOfWork
from services.support import tables, vault
from services.support.domain import (
    ACTIVE, OPEN, AuditEntry, MatchKey, NotFound, Person, Referral, SupportCase,
)


class PersonRepository:
    def __init__(self, session: Session):
        self.session = session

    def add(self, person: Person) -> None:
        self.session.add(person)

    def get(self, person_id: str) -> Person:
        found = self.session.get(Person, str(person_id))
        if found is None:
            raise NotFound(f"no person {person_id}")
        return found

    def matching(self, digests: list[str], other_than: str | None = None) -> list[tuple[Person, str]]:
        """Active people who share a keyed hash with these: ``[(person, kind)]``."""
        if not digests:
            return []
        query = (select(Person, MatchKey.kind).join(MatchKey, MatchKey.person_id == Person.id)
                 .where(MatchKey.digest.in_(digests), Person.status == ACTIVE))
        if other_than:
            query = query.where(Person.id != other_than)
        seen: dict[str, tuple[Person, str]] = {}
        for person, kind in self.session.execute(query.order_by(Person.registered_at)):
            seen.setdefault(person.id, (person, kind))
        return list(seen.values())

    def all_sealed(self, batch: int = 500):
        """Every person whose identity is still kept (for key rotation)."""
        return self.session.execute(select(Person).where(Person.sealed_identity.is_not(None))
                                    .execution_options(yield_per=batch)).scalars()

    def with_identity(self) -> list[Person]:
        return list(self.session.execute(select(Person).where(Person.sealed_identity.is_not(None))).scalars())


class ReferralRepository:
    def __init__(self, session: Session):
        self.session = session

    def add(self, referral: Referral) -> None:
        self.session.add(referral)

    def get(self, referral_id: str) -> Referral:
        found = self.find(referral_id)
        if found is None:
            raise NotFound(f"no referral {referral_id}")
        return found

    def find(self, referral_id: str) -> Referral | None:
        return self.session.get(Referral, str(referral_id))


class CaseRepository:
    def __init__(self, session: Session):
        self.session = session

    def add(self, case: SupportCase) -> None:
        self.session.add(case)

    def get(self, case_id: str) -> SupportCase:
        found = self.session.get(SupportCase, str(case_id))
        if found is None:
            raise NotFound(f"no support case {case_id}")
        return found

    def open_for(self, person_id: str) -> SupportCase | None:
        return self.session.execute(select(SupportCase).where(
            SupportCase.person_id == person_id, SupportCase.status == OPEN)).scalars().first()

    def of_person(self, person_id: str) -> list[SupportCase]:
        return list(self.session.execute(select(SupportCase).where(SupportCase.person_id == person_id)).scalars())


class AuditLog:
    """Append-only: there is no method to change or remove an entry."""

    def __init__(self, session: Session):
        self.session = session

    def append(self, entry: AuditEntry) -> None:
        self.session.add(entry)


class SealedTexts:
    """The encrypted free-text columns, handled as stored tokens (for key rotation)."""

    def __init__(self, session: Session):
        self.session = session

    def reseal(self, reseal: Callable[[str], str]) -> int:
        count = 0
        for table, column in tables.SEALED_TEXT:
            key = next(iter(table.primary_key.columns))
            token = type_coerce(column, Text)  # the stored token, not the opened text
            for row_key, sealed in self.session.execute(select(key, token).where(column.is_not(None))).all():
                self.session.execute(update(table).where(key == row_key)
                                     .values({column.name: type_coerce(reseal(sealed), Text)}))
                count += 1
        return count


class SupportUnitOfWork(UnitOfWork):
    def _start(self) -> None:
        self.vault = vault.current()
        self.persons = PersonRepository(self.session)
        self.referrals = ReferralRepository(self.session)
        self.cases = CaseRepository(self.session)
        self.audit = AuditLog(self.session)
        self.sealed_texts = SealedTexts(self.session)
