"""Command-line commands of the reporting service (``lanhmanh admin reporting ...``)."""
from __future__ import annotations

import time

import click

from chassis.auth import ADMIN, Principal
from services.reporting import handlers


@click.command()
@click.option("--timeout", default=600.0, show_default=True, help="Seconds to wait for the replay to catch up.")
def rebuild(c, timeout):
    """Empty the projections and rebuild them from the start of every topic."""
    started = time.monotonic()
    group = handlers.start_rebuild(c.uow(), Principal("cli", frozenset({ADMIN})))
    spec = handlers.replay_spec(group)
    c.transport.ensure_topics(spec.topics)
    messages = handlers.replay(c.runner_for(spec), timeout=timeout)
    handlers.finish_rebuild(c.uow())
    click.echo(f"rebuilt from {messages} messages in {time.monotonic() - started:.1f} s (consumer group {group})")
