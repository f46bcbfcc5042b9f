"""Alembic, driven from code: each service keeps its revisions in ``<service>/migrations``.

A service's ``migrations/env.py`` is two lines: import its metadata, call `run_env`.
"""
from __future__ import annotations

from alembic import command, context
from alembic.config import Config as AlembicConfig
from sqlalchemy.engine import Engine
from sqlalchemy.types import TypeDecorator


def alembic_config(service, connection=None) -> AlembicConfig:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(service.migrations))
    cfg.set_main_option("sqlalchemy.url", "")
    cfg.attributes["connection"] = connection
    return cfg


def upgrade(service, engine: Engine, revision: str = "head") -> None:
    with engine.begin() as connection:
        command.upgrade(alembic_config(service, connection), revision)


def revision(service, engine: Engine, message: str) -> None:
    """Autogenerate a new revision from the difference between the models and the database."""
    with engine.begin() as connection:
        command.revision(alembic_config(service, connection), message=message, autogenerate=True)


def _render_item(type_, obj, autogen_context):
    """Write the chassis's column types as the plain SQLAlchemy types they store."""
    if type_ == "type" and isinstance(obj, TypeDecorator):
        return f"sa.{obj.impl!r}"
    return False


def run_env(metadata) -> None:
    """The body of every service's ``env.py``."""
    connection = context.config.attributes["connection"]
    context.configure(connection=connection, target_metadata=metadata, render_as_batch=True,
                      compare_type=True, render_item=_render_item)
    with context.begin_transaction():
        context.run_migrations()
