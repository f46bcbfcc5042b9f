"""`lanhmanh`: the one command line of the system.

    lanhmanh run                      every service in one process (embedded mode, `make run`)
    lanhmanh serve SERVICE            one service's web process under gunicorn (distributed mode)
    lanhmanh worker SERVICE           one service's outbox relay and consumers (distributed mode)
    lanhmanh migrate [SERVICE...]     apply database migrations
    lanhmanh demo [SERVICE...]        load demo data into empty services
    lanhmanh topics                   create the Kafka topics
    lanhmanh token --role ROLE        print a token signed with the local key
    lanhmanh dead-letters SERVICE     replay a service's dead-lettered events after a fix
    lanhmanh admin SERVICE COMMAND    a service's own commands (lanhmanh admin reporting rebuild)
"""
from __future__ import annotations

import os
import signal
import sys
import tempfile
import time
from datetime import timedelta

import click

ROLE_CHOICES = ("admin", "police", "culture_inspector", "social_worker", "reporting_consumer")


def _services(names: tuple[str, ...]):
    from chassis.service import discover

    try:
        return list(discover(names or None).values())
    except KeyError as exc:
        raise click.BadParameter(str(exc.args[0])) from None


def _containers(names: tuple[str, ...]):
    from chassis import logs
    from chassis.config import Config
    from chassis.service import bootstrap

    containers = []
    services = _services(names)
    for service in services:
        config = Config.from_env(service.name)
        # one service: its name; several in one process: each labels its own work (logs.working_for)
        logs.configure(service.name if len(services) == 1 else "lanhmanh", config.log_level)
        containers.append(bootstrap(service, config))
    return containers


@click.group()
def main() -> None:
    """Lành Mạnh — case management for the provincial plan against prostitution."""


@main.command()
@click.option("--role", "roles", multiple=True, required=True, type=click.Choice(ROLE_CHOICES))
@click.option("--district", default=None, help="GSO district code that limits the user (e.g. 116).")
@click.option("--sub", default="local-user", help="The user id (subject) of the token.")
@click.option("--hours", default=8, show_default=True, type=int, help="Validity in hours.")
def token(roles, district, sub, hours):
    """Print a bearer token signed with the configured local key (JWT_SECRET)."""
    from chassis.auth import Authenticator
    from chassis.config import Config

    click.echo(Authenticator.from_config(Config.from_env("token")).issue(sub, list(roles), district,
                                                                          timedelta(hours=hours)))


@main.command()
@click.argument("services", nargs=-1)
def migrate(services):
    """Apply every service's migrations to its database."""
    for c in _containers(services):
        c.migrate()
        click.echo(f"migrated {c.service.name}")


@main.command("makemigration")
@click.argument("service")
@click.option("-m", "--message", required=True)
def makemigration(service, message):
    """Autogenerate a migration for SERVICE from its tables (against a scratch SQLite database)."""
    from chassis import db
    from chassis.migrations import revision, upgrade

    (svc,) = _services((service,))
    if svc.setup:
        svc.setup()
    with tempfile.TemporaryDirectory() as tmp:
        engine = db.make_engine(f"sqlite:///{tmp}/scratch.db")
        upgrade(svc, engine)
        revision(svc, engine, message)


@main.command()
@click.argument("services", nargs=-1)
def demo(services):
    """Load demo data into services whose data is empty."""
    for c in sorted(_containers(services), key=lambda c: c.service.demo_order):
        if c.service.demo:
            click.echo(f"{c.service.name}: {c.service.demo(c)} demo records")


@main.command()
def topics():
    """Create every topic of every service with the configured partition count."""
    for c in _containers(()):
        c.transport.ensure_topics(c.topics())
        click.echo(f"{c.service.name}: {', '.join(c.topics())}")


class _ServiceCommands(click.Group):
    """``lanhmanh admin SERVICE COMMAND``: the commands a service declares, loaded only when asked for."""

    def list_commands(self, ctx):
        from chassis.service import installed

        return installed()

    def get_command(self, ctx, name):
        from chassis.service import installed

        if name not in installed():
            return None
        (service,) = _services((name,))
        group = click.Group(name, help=f"Commands of the {name} service.")
        for command in service.commands:
            group.add_command(_with_container(name, command))
        return group


def _with_container(service_name: str, command: click.Command) -> click.Command:
    callback = command.callback

    def run(**kwargs):
        (c,) = _containers((service_name,))
        return callback(c, **kwargs)

    command.callback = run
    return command


main.add_command(_ServiceCommands("admin", help="Commands a service offers its operators (e.g. reporting rebuild)."))


@main.command("dead-letters")
@click.argument("service")
@click.option("--consumer", default=None, help="Only this consumer's letters.")
@click.option("--dry-run", is_flag=True, help="List the letters without replaying them.")
def dead_letters(service, consumer, dry_run):
    """Replay SERVICE's dead-lettered events onto their topics (after the fix is deployed)."""
    from chassis.deadletters import replay

    (c,) = _containers((service,))
    names = [spec.name for spec in c.service.consumers]
    if consumer and consumer not in names:
        raise click.BadParameter(f"{service} has no consumer {consumer}; it has: {', '.join(names) or 'none'}")
    letters = replay(c.transport, names, consumer, dry_run, group=f"{service}-dead-letter-replay")
    for letter in letters:
        click.echo(f"{'would replay' if dry_run else 'replayed'} {letter.event_id} "
                   f"({letter.consumer}, {letter.topic}): {letter.error}")
    click.echo(f"{len(letters)} dead letter(s) {'found' if dry_run else 'replayed'}", err=True)


@main.command()
@click.argument("service")
@click.option("--metrics-port", type=int, default=None, help="Serve /metrics on this port.")
def worker(service, metrics_port):
    """Run SERVICE's outbox relay and consumers until SIGTERM or Ctrl-C."""
    from chassis.worker import Worker

    containers = _containers((service,))
    if metrics_port:
        from prometheus_client import start_http_server

        start_http_server(metrics_port, addr=os.environ.get("METRICS_ADDR", "127.0.0.1"))
    w = Worker(containers).start()
    signal.signal(signal.SIGTERM, lambda *_: w.stop_event.set())
    signal.signal(signal.SIGINT, lambda *_: w.stop_event.set())
    click.echo(f"worker for {service} running", err=True)
    w.wait()
    w.stop()


@main.command()
@click.argument("service")
@click.option("--bind", default=None, help="host:port (default 127.0.0.1:$PORT or 8000).")
@click.option("--workers", default=int(os.environ.get("WEB_CONCURRENCY", "2")), show_default=True, type=int)
def serve(service, bind, workers):
    """Serve SERVICE's HTTP API under gunicorn with several workers (distributed mode)."""
    if "PROMETHEUS_MULTIPROC_DIR" not in os.environ:  # must be set before prometheus_client is imported
        import atexit
        import shutil

        metrics_dir = tempfile.mkdtemp(prefix=f"lanhmanh-{service}-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
        master = os.getpid()  # only the gunicorn master removes it, not each worker on its way out
        atexit.register(lambda: os.getpid() == master and shutil.rmtree(metrics_dir, ignore_errors=True))
    (container,) = _containers((service,))
    bind = bind or f"127.0.0.1:{os.environ.get('PORT', '8000')}"
    serve_under_gunicorn(container.create_app, {"bind": bind, "workers": workers, "threads": 4,
                                     "child_exit": _mark_dead, "accesslog": None})


def _mark_dead(_server, worker_process):
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker_process.pid)


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=int(os.environ.get("PORT", "8000")), show_default=True, type=int)
@click.option("--no-demo", is_flag=True, help="Do not load demo data.")
def run(host, port, no_demo):
    """Run every service in one process with SQLite and the embedded event log (`make run`)."""
    from chassis import logs
    from chassis.embedded import build_wsgi
    from chassis.worker import Worker

    started = time.monotonic()
    containers = _containers(())
    for c in containers:
        c.migrate()
    state = {}

    def post_worker_init(_worker):
        # In the serving process: start the relays and consumers, then load demo data through the API's
        # own business actions so that its events flow like any other.
        state["worker"] = Worker(containers).start()
        if not no_demo:
            for c in sorted(containers, key=lambda c: c.service.demo_order):
                if c.service.demo:
                    with logs.working_for(c.service.name):
                        n = c.service.demo(c)
                    if n:
                        click.echo(f"  {c.service.name}: loaded {n} demo records", err=True)
        base = f"http://{host}:{port}"
        click.echo(
            f"\nLành Mạnh is ready in {time.monotonic() - started:.1f} s on {base}/\n"
            + "".join(f"  {c.service.name:<10} {base}/{c.service.name}/docs\n" for c in containers)
            + "".join(f"  {'dashboard':<10} {base}{c.service.ui}  ({c.service.name})\n" for c in containers if c.service.ui)
            + "  token:     .venv/bin/lanhmanh token --role admin   (then 'Authorize' in the docs)\n"
            + "  stop:      Ctrl-C (the data stays in var/)\n",
            err=True,
        )

    def worker_exit(_server, _worker):
        if "worker" in state:
            state["worker"].stop()

    serve_under_gunicorn(lambda: build_wsgi(containers), {
        "bind": f"{host}:{port}", "workers": 1, "threads": 8, "post_worker_init": post_worker_init,
        "worker_exit": worker_exit, "graceful_timeout": 10, "accesslog": None,
    })


#: Seconds an idle keep-alive connection stays open (gunicorn's default is 2). Longer than the
#: gateway keeps its idle upstream connections (nginx's ``keepalive_timeout`` 60 s, deploy/nginx) and
#: than the usual load balancers' idle timeouts (60 s): otherwise the server closes a connection just
#: as the gateway sends a request on it, and the gateway answers 502 for a request no service saw (a
#: POST is not retried). The gthread worker parks idle connections in its poller: no thread waits.
KEEPALIVE_S = 75


def serve_under_gunicorn(app_factory, options: dict) -> None:
    """Run ``app_factory()`` (called in each worker, after the fork) under gunicorn with ``options``."""
    from gunicorn.app.base import BaseApplication

    options = {"keepalive": KEEPALIVE_S, **options}

    class Application(BaseApplication):
        def load_config(self):
            for key, value in options.items():
                if value is not None:
                    self.cfg.set(key, value)

        def load(self):
            return app_factory()

    sys.argv = sys.argv[:1]  # gunicorn must not read our own options
    Application().run()
