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

The unit of work is re-entrant: the consumer runner opens it (to write the inbox rows) and
hands it to an event handler that opens it again; the inner block joins the outer
transaction and its `commit` only flushes, so the handler's effect and the inbox row
commit together, when the runner commits.

In the same way a unit of work made while a request transaction is open (`REQUEST_TRANSACTION`:
a POST with an ``Idempotency-Key``, see chassis/idempotency.py) joins it: the claim of the key,
the change, its events and the stored answer commit together, after the view has answered.
"""
from __future__ import annotations

from contextvars import ContextVar

from sqlalchemy.orm import Session, sessionmaker

from chassis.outbox import Outbox
from contracts.events import EventType

#: The session of the request being served, when its writes must commit as one transaction.
REQUEST_TRANSACTION: ContextVar[Session | None] = ContextVar("lanhmanh_request_transaction", default=None)


class UnitOfWork:
    session: Session

    def __init__(self, session_factory: sessionmaker, outbox: Outbox):
        self.session_factory = session_factory
        self.outbox = outbox
        self._depth = 0
        surrounding = REQUEST_TRANSACTION.get()
        if surrounding is not None:  # opened by the request: its blocks only flush, the request commits
            self.session = surrounding
            self._depth = 1
            self._start()

    def __enter__(self):
        if self._depth == 0:
            self.session = self.session_factory()
            self._start()
        self._depth += 1
        return self

    def __exit__(self, *exc_info):
        self._depth -= 1
        if self._depth == 0:
            self.rollback()
            self.session.close()

    def _start(self) -> None:
        """Attach repositories to ``self.session``; services override this."""

    def publish(self, event_type: EventType, subject, data: dict) -> str:
        """Queue an event in the outbox, inside this transaction."""
        return self.outbox.add(self.session, event_type, str(subject), data)

    def commit(self) -> None:
        """Commit the transaction; inside an outer block (an event handler run by the consumer
        runner, or a request transaction), only flush: the outermost block commits, so a batch
        of events and their inbox rows (or a request's change and its stored answer) commit
        together or not at all."""
        if self._depth > 1:
            self.session.flush()
            return
        self.session.commit()

    def rollback(self) -> None:
        self.session.rollback()
