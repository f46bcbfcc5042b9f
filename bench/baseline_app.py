"""The baseline of benchmark 2: a bare Flask endpoint that inserts one row, under the same gunicorn.

    python -m bench.baseline_app --database-url URL --bind 127.0.0.1:PORT --workers 2

``POST /baseline/v1/items`` takes a JSON body, inserts it as one row (SQLAlchemy Core, psycopg) into
the table ``items`` of its own database, and answers 201 with the new id. No token, no validation,
no outbox, no idempotency: what a write through Flask and PostgreSQL costs at the least. It is
served exactly as ``lanhmanh serve`` serves a service (chassis/cli.py): gunicorn, the same number
of workers, 4 threads each (hence the gthread worker class), no access log, the app made in each
worker after the fork.
"""
from __future__ import annotations

import argparse
import json

from flask import Flask, jsonify, request
from sqlalchemy import Column, DateTime, Integer, MetaData, Table, Text, create_engine, func, insert

metadata = MetaData()
items = Table(
    "items", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("body", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)


def create_app(database_url: str) -> Flask:
    """The app with its own engine (made here, in the worker, never at import)."""
    engine = create_engine(database_url)
    app = Flask("baseline")

    @app.post("/baseline/v1/items")
    def create_item():
        body = request.get_json()
        with engine.begin() as conn:
            new_id = conn.execute(insert(items).values(body=json.dumps(body, ensure_ascii=False))
                                  .returning(items.c.id)).scalar_one()
        return jsonify({"id": new_id}), 201

    @app.get("/baseline/readyz")
    def ready():
        return jsonify({"status": "ok"})

    return app


def create_tables(database_url: str) -> None:
    engine = create_engine(database_url)
    metadata.create_all(engine)
    engine.dispose()


def serve(database_url: str, bind: str, workers: int) -> None:
    """gunicorn as ``lanhmanh serve`` runs it (the same function, the same worker and thread counts)."""
    from chassis.cli import serve_under_gunicorn

    serve_under_gunicorn(lambda: create_app(database_url),
                         {"bind": bind, "workers": workers, "threads": 4, "accesslog": None})


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--database-url", required=True)
    ap.add_argument("--bind", default="127.0.0.1:8099")
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    create_tables(args.database_url)
    serve(args.database_url, args.bind, args.workers)


if __name__ == "__main__":
    main()
