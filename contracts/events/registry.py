"""Events published by the registry service on topic ``lanhmanh.registry.establishments``
(key: establishment id). They carry what consumers need to inspect and to count
establishments: never the owner's name."""
from marshmallow import fields, validate

from contracts import topics
from contracts.events import Payload, define

BUSINESS_TYPES = (
    "karaoke", "dance_hall", "massage", "sauna_spa", "accommodation", "bar",
    "hair_salon_massage", "other",
)
STATUSES = ("active", "suspended", "revoked", "closed")
RISK_LEVELS = ("low", "medium", "high")


class _Establishment(Payload):
    establishment_id = fields.UUID(required=True)
    name = fields.String(required=True)
    business_type = fields.String(required=True, validate=validate.OneOf(BUSINESS_TYPES))
    licence_number = fields.String(allow_none=True)
    address = fields.String(required=True)
    commune_code = fields.String(required=True)
    district_code = fields.String(required=True)
    province_code = fields.String(required=True)
    employees = fields.Integer(allow_none=True)
    operating_since = fields.Date(allow_none=True)
    status = fields.String(required=True, validate=validate.OneOf(STATUSES))
    risk_level = fields.String(required=True, validate=validate.OneOf(RISK_LEVELS))


class EstablishmentRegisteredV1(_Establishment):
    registered_at = fields.DateTime(required=True)


class EstablishmentUpdatedV1(_Establishment):
    updated_at = fields.DateTime(required=True)
    changed = fields.List(fields.String(), required=True)


class EstablishmentReviewedV1(Payload):
    establishment_id = fields.UUID(required=True)
    period = fields.String(required=True)  # DHIS2 notation: 2020S1 or 2020
    reviewed_on = fields.Date(required=True)
    outcome = fields.String(required=True)
    risk_level = fields.String(required=True, validate=validate.OneOf(RISK_LEVELS))
    commune_code = fields.String(required=True)
    district_code = fields.String(required=True)


class EstablishmentStatusChangedV1(Payload):
    establishment_id = fields.UUID(required=True)
    previous_status = fields.String(required=True, validate=validate.OneOf(STATUSES))
    status = fields.String(required=True, validate=validate.OneOf(STATUSES))
    reason = fields.String(required=True)
    effective_on = fields.Date(required=True)
    commune_code = fields.String(required=True)
    district_code = fields.String(required=True)


ESTABLISHMENT_REGISTERED = define(
    "registry.establishment.registered", 1, topics.REGISTRY_ESTABLISHMENTS,
    EstablishmentRegisteredV1, "An establishment entered the register.",
)
ESTABLISHMENT_UPDATED = define(
    "registry.establishment.updated", 1, topics.REGISTRY_ESTABLISHMENTS,
    EstablishmentUpdatedV1, "Registered details changed; carries the new snapshot and the changed fields.",
)
ESTABLISHMENT_REVIEWED = define(
    "registry.establishment.reviewed", 1, topics.REGISTRY_ESTABLISHMENTS,
    EstablishmentReviewedV1, "A periodic (half-year or year) review was recorded.",
)
ESTABLISHMENT_STATUS_CHANGED = define(
    "registry.establishment.status_changed", 1, topics.REGISTRY_ESTABLISHMENTS,
    EstablishmentStatusChangedV1, "Suspended, revoked, closed or re-activated, with the reason.",
)
