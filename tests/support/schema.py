"""What a migrated database lacks, or has too much of, compared with the tables a service declares."""
from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from chassis import db
from chassis.migrations import _render_item, upgrade


def drift(service, url: str) -> list:
    """Upgrade a fresh database at ``url`` to head; return Alembic's differences from the models."""
    if service.setup:
        service.setup()
    engine = db.make_engine(url)
    try:
        upgrade(service, engine)
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={
                "compare_type": True, "render_item": _render_item})
            return compare_metadata(context, service.metadata)
    finally:
        engine.dispose()
