"""/support/v1/tasks: the follow-up tasks that are due, overdue, open or done."""
from __future__ import annotations

from flask.views import MethodView

from chassis.api import Blueprint
from chassis.auth import ADMIN, SOCIAL_WORKER, current_principal, roles_required
from chassis.web import container
from services.support import views
from services.support.resources.cases.schemas import TaskSchema
from services.support.resources.tasks.schemas import TaskQuery

blp = Blueprint("tasks", __name__, description="Việc cần theo dõi — follow-up tasks: due and overdue.")


@blp.route("/tasks")
class Tasks(MethodView):
    @roles_required(ADMIN, SOCIAL_WORKER)
    @blp.arguments(TaskQuery, location="query", as_kwargs=True)
    @blp.response(200, TaskSchema(many=True))
    @blp.paginate_query()
    def get(self, pagination_parameters, **filters):
        """Follow-up tasks of open cases: open, due (within 14 days), overdue, or done"""
        items, total = container().read(views.search_tasks, current_principal(), filters,
                                        pagination_parameters.page, pagination_parameters.page_size)
        pagination_parameters.item_count = total
        return items
