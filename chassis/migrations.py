"""Alembic, driven from code: each service keeps its revisions in ``<service>/migrations``.

A service's ``migrations/env.py`` is two lines: import its metadata, call `run_env`.
"""
from __future__ import annotations

from alembic import command, context
from alembic.config import Config as AlembicConfig
from sqlalchemy.engine import Engine


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


def run_env(metadata) -> None:
    """The body of every service's ``env.py``."""
    connection = context.config.attributes["connection"]
    context.configure(connection=connection, target_metadata=metadata, render_as_batch=True,
                      compare_type=True)
    with context.begin_transaction():
        context.run_migrations()
