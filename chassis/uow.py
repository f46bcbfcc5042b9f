"""The unit of work: one database transaction holding a change and the events it causes.

A service subclasses `UnitOfWork` to attach its repositories to the session::

    class RegistryUnitOfWork(UnitOfWork):
        def _start(self):
            self.establishments = SqlEstablishmentRepository(self.session)

and its handlers read like the business action they perform::

    with uow:
        establishment = uow.establishments.get(id)
        establishment.suspend(reason)
        uow.publish(ESTABLISHMENT_STATUS_CHANGED, establishment.id, {...})
        uow.commit()

Leaving the block without `commit` rolls everything back, events included.
"""
from __future__ import annotations

from sqlalchemy.orm import Session, sessionmaker

from chassis.outbox import Outbox
from contracts.events import EventType


class UnitOfWork:
    session: Session

    def __init__(self, session_factory: sessionmaker, outbox: Outbox):
        self.session_factory = session_factory
        self.outbox = outbox

    def __enter__(self):
        self.session = self.session_factory()
        self._start()
        return self

    def __exit__(self, *exc_info):
        self.rollback()
        self.session.close()

    def _start(self) -> None:
        """Attach repositories to ``self.session``; services override this."""

    def publish(self, event_type: EventType, subject, data: dict) -> str:
        """Queue an event in the outbox, inside this transaction."""
        return self.outbox.add(self.session, event_type, str(subject), data)

    def commit(self) -> None:
        self.session.commit()

    def rollback(self) -> None:
        self.session.rollback()
