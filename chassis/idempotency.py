"""``Idempotency-Key`` on POST: a retried request creates one record and gets the same response.

A POST with a key runs in one transaction, the request transaction: the key is claimed (a row
inserted), the view's units of work join that transaction (chassis/uow.py), and the answer is
stored on the row before it commits. So the claim, the change, its events and the answer
commit together or not at all: a request that dies half-way leaves nothing behind, and its
retry runs afresh.

A retry with the same key and the same body replays the stored answer (header
``Idempotent-Replayed: true``); the same key with a different body is a 422. A retry that comes
while the first attempt is still running waits for it (the database holds the claim's row
until that transaction ends) and then replays its answer. An error answer records nothing of
the attempt; a 4xx is kept for replays, a 5xx not (the client may try again).

Rows written by versions before the request transaction hold a claim without an answer while
their request ran: such a claim answers 409 with ``Retry-After``, and is taken over once older
than two minutes (its attempt died).

A view that commits as it goes (a long operation, e.g. reporting's rebuild) is marked with
`commits_as_it_goes`: a key on it is not claimed, and repeating it must be harmless.
"""
from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from flask import Response, current_app, g, request
from sqlalchemy import bindparam, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from chassis import errors
from chassis.db import insert_unless_present
from chassis.errors import Problem
from chassis.uow import REQUEST_TRANSACTION

log = logging.getLogger(__name__)

HEADER = "Idempotency-Key"
STALE_CLAIM = timedelta(minutes=2)


def commits_as_it_goes(view):
    """Mark a view that commits as it goes: no request transaction around it, so an
    ``Idempotency-Key`` on it is not claimed (repeating the request must be harmless)."""
    view._lanhmanh_commits_as_it_goes = True
    return view


@dataclass
class _Attempt:
    session: Session  # the request transaction
    claim: dict


class Idempotency:
    def __init__(self, table, session_factory):
        self.table = table
        self.session_factory = session_factory
        # built once and run with each request's values (building a statement with its values
        # costs more CPU than the database spends on it)
        with session_factory() as session:  # names the database's dialect; connects to nothing
            self._claim = insert_unless_present(session, table).returning(table.c.key)
        self._answer = update(table).where(table.c.principal == bindparam("claim_principal"),
                                           table.c.key == bindparam("claim_key"))

    def before(self, principal_sub: str) -> Response | None:
        """Claim the key and open the request transaction; or answer a retry from what is stored."""
        REQUEST_TRANSACTION.set(None)  # nothing carried over from a previous request on this thread
        key = request.headers.get(HEADER)
        if request.method != "POST" or not key:
            return None
        if len(key) > 200:
            raise Problem(400, "Idempotency-Key is longer than 200 characters", field=HEADER, location="headers")
        if _commits_as_it_goes():
            return None
        fingerprint = hashlib.sha256(request.method.encode() + request.path.encode() + request.get_data()).hexdigest()
        claim = {"principal": principal_sub, "key": key, "fingerprint": fingerprint, "completed": False,
                 "created_at": datetime.now(timezone.utc)}
        session = self.session_factory()
        try:
            # waits while another transaction holds the same key, then finds its row
            if not self._claimed(session, claim):
                replay = self._seen_before(session, claim)
                if replay is not None:
                    session.close()
                    return replay
        except BaseException:
            session.close()
            raise
        g.idempotency_attempt = _Attempt(session, claim)
        REQUEST_TRANSACTION.set(session)
        return None

    def _claimed(self, session: Session, claim: dict) -> bool:
        return session.execute(self._claim, claim).first() is not None

    def _where(self, claim: dict):
        return (self.table.c.principal == claim["principal"]) & (self.table.c.key == claim["key"])

    def _seen_before(self, session: Session, claim: dict) -> Response | None:
        """The key was used before: replay its answer, or refuse, or take over a dead attempt's claim."""
        where = self._where(claim)
        busy = Problem(409, "a request with this Idempotency-Key is still being processed; retry shortly",
                       headers={"Retry-After": "1"})
        row = session.execute(select(self.table).where(where).with_for_update()).first()
        if row is None:  # the other attempt's transaction was rolled back in the meantime
            raise busy
        if row.fingerprint != claim["fingerprint"]:
            raise Problem(422, "this Idempotency-Key was used for a different request", field=HEADER,
                          location="headers")
        if row.completed:
            response = Response(row.body, status=row.status_code, headers=json.loads(row.headers))
            response.headers["Idempotent-Replayed"] = "true"
            return response
        created = row.created_at if row.created_at.tzinfo else row.created_at.replace(tzinfo=timezone.utc)
        if claim["created_at"] - created < STALE_CLAIM:
            raise busy
        # an earlier version's claim whose attempt died: take it over, in this request's transaction
        session.execute(update(self.table).where(where).values(created_at=claim["created_at"]))
        return None

    def after(self, response: Response) -> Response:
        """Store the answer and commit the request transaction; an error answer records nothing
        of the attempt (a 4xx is kept for replays, in a transaction of its own)."""
        attempt = g.pop("idempotency_attempt", None)
        if attempt is None:
            return response
        REQUEST_TRANSACTION.set(None)
        answer = {"completed": True, "status_code": response.status_code, "body": response.get_data(as_text=True),
                  "headers": json.dumps({k: v for k, v in response.headers.items()
                                         if k in ("Content-Type", "Location", "ETag")})}
        try:
            with attempt.session as session:
                if response.status_code < 400:
                    session.execute(self._answer, {**answer, "claim_principal": attempt.claim["principal"],
                                                   "claim_key": attempt.claim["key"]})
                    session.commit()
                    return response
                session.rollback()
                if response.status_code < 500:  # kept for replays; unless a retry answered for itself
                    with session.begin():
                        self._claimed(session, {**attempt.claim, **answer})
        except SQLAlchemyError as exc:
            log.error("request transaction failed", extra={"error": type(exc).__name__})
            return errors.problem_response(503, "The database is unavailable; nothing was recorded. Retry shortly.",
                                           headers={"Retry-After": "5"})
        return response

    def release(self) -> None:
        """After an exception no answer went out: roll the request transaction back."""
        REQUEST_TRANSACTION.set(None)
        attempt = g.pop("idempotency_attempt", None)
        if attempt is not None:
            attempt.session.rollback()
            attempt.session.close()


def _commits_as_it_goes() -> bool:
    view = current_app.view_functions.get(request.endpoint)
    view_class = getattr(view, "view_class", None)
    if view_class is not None:
        view = getattr(view_class, request.method.lower(), None)
    return getattr(view, "_lanhmanh_commits_as_it_goes", False)
