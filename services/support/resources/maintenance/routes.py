"""/support/v1/maintenance: key rotation and the retention rule, for admins (no CLI needed)."""
from __future__ import annotations

from flask.views import MethodView

from chassis.api import Blueprint
from chassis.auth import ADMIN, roles_required
from chassis.web import container
from services.support import handlers
from services.support.resources.maintenance.schemas import RetentionResult, RotationResult

blp = Blueprint("maintenance", __name__, description="Key rotation and identity retention (admin).")


@blp.route("/maintenance/key-rotation")
class KeyRotation(MethodView):
    @roles_required(ADMIN)
    @blp.response(201, RotationResult)
    def post(self):
        """Re-encrypt every identity with the newest key of SUPPORT_ENCRYPTION_KEYS (then drop the old key)"""
        return handlers.rotate_keys(container().uow())


@blp.route("/maintenance/retention")
class Retention(MethodView):
    @roles_required(ADMIN)
    @blp.response(201, RetentionResult)
    def post(self):
        """Erase identities whose cases all closed longer ago than SUPPORT_RETENTION_DAYS (history stays)"""
        period = handlers.retention_period()
        return {"erased": handlers.erase_expired_identities(container().uow(), period),
                "retention_days": period.days}
