"""``Idempotency-Key`` on POST: a retried request creates one record and gets the same response.

Before the view runs, the key is claimed for the caller (a row inserted and committed on its
own: one short transaction for a new key; only a key seen before is read back).
When the view answers, the response is stored on that row; a retry with the same key
and the same body replays it (header ``Idempotent-Replayed: true``); the same key with
a different body is a 422; a retry while the first attempt is still running is a 409.
A 5xx or an exception releases the claim so that the client may try again.
"""
from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta, timezone

from flask import Response, g, request
from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from chassis.errors import Problem

HEADER = "Idempotency-Key"
STALE_CLAIM = timedelta(minutes=2)


class Idempotency:
    def __init__(self, table, session_factory):
        self.table = table
        self.session_factory = session_factory

    def before(self, principal_sub: str) -> Response | None:
        key = request.headers.get(HEADER)
        if request.method != "POST" or not key:
            return None
        if len(key) > 200:
            raise Problem(400, "Idempotency-Key is longer than 200 characters", field=HEADER, location="headers")
        fingerprint = hashlib.sha256(request.method.encode() + request.path.encode() + request.get_data()).hexdigest()
        claim = {"principal": principal_sub, "key": key, "fingerprint": fingerprint, "completed": False,
                 "created_at": datetime.now(timezone.utc)}
        try:  # the usual case, a new key: one short transaction
            with self.session_factory() as session, session.begin():
                session.execute(insert(self.table).values(**claim))
        except IntegrityError:
            replay = self._seen_before(claim)
            if replay is not None:
                return replay
        g.idempotency_claim = (principal_sub, key)
        return None

    def _seen_before(self, claim: dict) -> Response | None:
        """The key was used before: replay its response, or refuse, or take over a dead attempt's claim."""
        t = self.table
        where = (t.c.principal == claim["principal"]) & (t.c.key == claim["key"])
        busy = Problem(409, "a request with this Idempotency-Key is still being processed; retry shortly",
                       headers={"Retry-After": "1"})
        with self.session_factory() as session, session.begin():
            row = session.execute(select(t).where(where).with_for_update()).first()
            if row is None:  # released by a failed attempt in the meantime
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
            # the first attempt died: take over its claim
            session.execute(update(t).where(where).values(created_at=claim["created_at"]))
        return None

    def after(self, response: Response) -> Response:
        claim = g.pop("idempotency_claim", None)
        if claim is None:
            return response
        t = self.table
        where = (t.c.principal == claim[0]) & (t.c.key == claim[1])
        with self.session_factory() as session, session.begin():
            if response.status_code >= 500:
                session.execute(delete(t).where(where))
            else:
                headers = {k: v for k, v in response.headers.items() if k in ("Content-Type", "Location", "ETag")}
                session.execute(update(t).where(where).values(
                    completed=True, status_code=response.status_code, headers=json.dumps(headers),
                    body=response.get_data(as_text=True)))
        return response

    def release(self) -> None:
        claim = g.pop("idempotency_claim", None)
        if claim is not None:
            t = self.table
            with self.session_factory() as session, session.begin():
                session.execute(delete(t).where((t.c.principal == claim[0]) & (t.c.key == claim[1])))
