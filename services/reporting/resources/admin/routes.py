"""/reporting/v1/admin: the projection's state, and its rebuild from the start of the topics."""
from __future__ import annotations

import time

from flask.views import MethodView

from chassis.api import Blueprint
from chassis.auth import ADMIN, current_principal, roles_required
from chassis.idempotency import commits_as_it_goes
from chassis.web import container
from services.reporting import handlers, views
from services.reporting.resources.admin.schemas import ProjectionSchema, RebuildSchema

blp = Blueprint("admin", __name__, description=(
    "Quản trị — the projections built from every service's events: their lag, and a rebuild from the start of "
    "the topics."))


@blp.route("/admin/projection")
class Projection(MethodView):
    @roles_required()
    @blp.response(200, ProjectionSchema)
    def get(self):
        """The projection's generation and lag"""
        return container().read(views.projection)


@blp.route("/admin/rebuild")
class Rebuild(MethodView):
    @roles_required(ADMIN)
    @blp.response(200, RebuildSchema)
    @commits_as_it_goes  # the replay commits batch by batch; a repeated rebuild rebuilds again, harmlessly
    def post(self):
        """Empty the projections and replay every topic from its start, under a new consumer group
        (reporting-projections-g<N>-<time>); answers when the replay has caught up"""
        c = container()
        started = time.monotonic()
        spec = handlers.replay_spec(handlers.start_rebuild(c.uow(), current_principal()))
        c.transport.ensure_topics(spec.topics)
        messages = handlers.replay(c.runner_for(spec))
        handlers.finish_rebuild(c.uow())
        with c.session_factory() as session:
            generation = views.projection(session)["generation"]
        return {"generation": generation, "consumer_group": spec.name, "messages": messages,
                "seconds": round(time.monotonic() - started, 2)}
