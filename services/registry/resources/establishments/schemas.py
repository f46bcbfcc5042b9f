"""Request and response schemas of /registry/v1/establishments."""
from __future__ import annotations

from marshmallow import ValidationError, fields, post_dump, validate, validates

from chassis.api import Schema, sort_field
from chassis.auth import ADMIN, CULTURE_INSPECTOR, POLICE, current_principal
from contracts import periods
from contracts.refdata import units
from services.registry import domain
from services.registry.views import SORTABLE

COMMUNE = validate.Regexp(r"^\d{5}$", error="a commune code is 5 digits (GSO)")
WRITERS = (ADMIN, POLICE, CULTURE_INSPECTOR)
DISTRICT = validate.Regexp(r"^\d{3}$", error="a district code is 3 digits (GSO)")


PERIOD_PATTERN = r"^[0-9]{4}(S[12]|Q[1-4]|0[1-9]|1[0-2])?$"


def _period(value: str) -> None:
    try:
        periods.parse(value)
    except ValueError as exc:
        raise ValidationError(str(exc)) from None


class EstablishmentInput(Schema):
    name = fields.String(required=True, validate=validate.Length(1, 300),
                         metadata={"example": "Karaoke Hoa Hồng"})
    business_type = fields.String(required=True, validate=validate.OneOf(domain.BUSINESS_TYPES))
    licence_number = fields.String(allow_none=True, validate=validate.Length(1, 100))
    owner_name = fields.String(required=True, validate=validate.Length(1, 200))
    address = fields.String(required=True, validate=validate.Length(1, 500))
    commune_code = fields.String(required=True, validate=COMMUNE, metadata={"example": "03646"})
    operating_since = fields.Date(metadata={"description": "When the business opened (default: today)."})
    employees = fields.Integer(allow_none=True, strict=True, validate=validate.Range(0, 100000))
    risk_level = fields.String(load_default="medium", validate=validate.OneOf(domain.RISK_LEVELS))

    @validates("name", "owner_name", "address")
    def not_blank(self, value, data_key=None, **kwargs):
        if not value.strip():
            raise ValidationError("must not be blank")


class EstablishmentPatch(EstablishmentInput):
    """Every field optional: only what is sent changes (routes load it with ``partial=True``)."""


class StatusChangeSchema(Schema):
    status = fields.String(required=True)
    previous_status = fields.String(dump_only=True, allow_none=True)
    reason = fields.String(required=True, validate=validate.Length(1, 2000))
    effective_on = fields.Date(load_default=None)
    changed_by = fields.String(dump_only=True)
    changed_at = fields.DateTime(dump_only=True)


class StatusChangeInput(StatusChangeSchema):
    status = fields.String(required=True, validate=validate.OneOf(domain.STATUSES))


class ReviewSchema(Schema):
    period = fields.String(required=True, validate=[validate.Regexp(PERIOD_PATTERN), _period],
                           metadata={"example": "2020S1"})
    reviewed_on = fields.Date(required=True)
    outcome = fields.String(required=True, validate=validate.OneOf(domain.REVIEW_OUTCOMES))
    risk_level = fields.String(load_default=None, validate=validate.OneOf(domain.RISK_LEVELS))
    notes = fields.String(load_default=None, validate=validate.Length(max=4000))
    reviewed_by = fields.String(dump_only=True)
    recorded_at = fields.DateTime(dump_only=True)


class EstablishmentSchema(Schema):
    id = fields.String(dump_only=True)
    name = fields.String()
    business_type = fields.String()
    licence_number = fields.String(allow_none=True)
    owner_name = fields.String()
    address = fields.String()
    commune_code = fields.String()
    commune_name = fields.Method("_commune_name")
    district_code = fields.String()
    district_name = fields.Method("_district_name")
    province_code = fields.String()
    operating_since = fields.Date()
    employees = fields.Integer(allow_none=True)
    risk_level = fields.String()
    status = fields.String()
    status_reason = fields.String(allow_none=True)
    registered_by = fields.String()
    registered_at = fields.DateTime()
    updated_at = fields.DateTime()
    version = fields.Integer()
    status_history = fields.List(fields.Nested(StatusChangeSchema))
    reviews = fields.List(fields.Nested(ReviewSchema))

    @post_dump
    def redact_owner(self, data, **kwargs):
        """Only enforcement roles (admin, police, culture inspectors) see the owner's name."""
        if not current_principal().has_any(*WRITERS):
            data.pop("owner_name", None)
        return data

    def _commune_name(self, obj):
        unit = units().communes.get(obj.commune_code)
        return unit.name if unit else None

    def _district_name(self, obj):
        unit = units().districts.get(obj.district_code)
        return unit.name if unit else None


class EstablishmentQuery(Schema):
    q = fields.String(validate=validate.Length(1, 200),
                      metadata={"description": "Name search; ignores case and Vietnamese diacritics."})
    district_code = fields.String(validate=DISTRICT)
    commune_code = fields.String(validate=COMMUNE)
    business_type = fields.String(validate=validate.OneOf(domain.BUSINESS_TYPES))
    status = fields.String(validate=validate.OneOf(domain.STATUSES))
    risk_level = fields.String(validate=validate.OneOf(domain.RISK_LEVELS))
    due_for_review = fields.String(validate=[validate.Regexp(PERIOD_PATTERN), _period], metadata={
        "description": "Only establishments due for review in this period (2020S1 or 2020)."})
    sort = sort_field(*SORTABLE, default="name")
