"""Request and response schemas of /cases/v1/tips and /cases/v1/referrals."""
from __future__ import annotations

from marshmallow import ValidationError, fields, validate, validates

from chassis.api import Schema, sort_field
from chassis.auth import ADMIN, POLICE
from contracts.refdata import units
from services.cases import domain
from services.cases.handlers import now
from services.cases.views import TIP_SORTABLE

COMMUNE = validate.Regexp(r"^\d{5}$", error="a commune code is 5 digits (GSO)")
DISTRICT = validate.Regexp(r"^\d{3}$", error="a district code is 3 digits (GSO)")
#: Who reads and writes tips, cases and hotspots (in their district).
ENFORCERS = (ADMIN, POLICE)


def moment(**kwargs):
    """A date-time; without a zone it is Vietnam's time (UTC+7)."""
    return fields.AwareDateTime(default_timezone=domain.LOCAL_TIME, **kwargs)


def commune_name(obj):
    unit = units().communes.get(obj.commune_code)
    return unit.name if unit else None


def district_name(obj):
    unit = units().districts.get(obj.district_code)
    return unit.name if unit else None


class TipInput(Schema):
    source = fields.String(required=True, validate=validate.OneOf(domain.TIP_SOURCES))
    received_at = moment(metadata={"description": "When the tip came in (default: now); not in the future."})
    commune_code = fields.String(required=True, validate=COMMUNE, metadata={"example": "03646"})
    summary = fields.String(required=True, validate=validate.Length(1, 4000),
                            metadata={"example": "Người dân phản ánh có hoạt động môi giới mại dâm tại nhà nghỉ"})
    establishment_id = fields.UUID(allow_none=True)
    inspection_id = fields.UUID(allow_none=True)

    @validates("summary")
    def not_blank(self, value, data_key=None, **kwargs):
        if not value.strip():
            raise ValidationError("must not be blank")


class VerificationInput(Schema):
    started_at = moment(load_default=None)


class ClassificationInput(Schema):
    classification = fields.String(required=True, validate=validate.OneOf(domain.CLASSIFICATIONS))
    note = fields.String(load_default=None, validate=validate.Length(max=4000))
    classified_at = moment(load_default=None, metadata={"description": "Default: now."})


class HandlingInput(Schema):
    note = fields.String(load_default=None, validate=validate.Length(max=4000),
                         metadata={"description": "How an administrative or unfounded tip was dealt with."})
    handled_at = moment(load_default=None, metadata={"description": "Default: now."})
    case_id = fields.UUID(load_default=None, metadata={
        "description": "The case that handled a criminal tip (opening a case with tip_id does this by itself)."})


class TipSchema(Schema):
    id = fields.String(dump_only=True)
    source = fields.String()
    received_at = fields.DateTime()
    commune_code = fields.String()
    commune_name = fields.Function(commune_name)
    district_code = fields.String()
    district_name = fields.Function(district_name)
    province_code = fields.String()
    summary = fields.String()
    establishment_id = fields.String(allow_none=True)
    inspection_id = fields.String(allow_none=True)
    referral_id = fields.String(allow_none=True)
    status = fields.String()
    verification_due_on = fields.Date()
    overdue = fields.Method("_overdue")
    verification_started_at = fields.DateTime(allow_none=True)
    verified_by = fields.String(allow_none=True)
    classification = fields.String(allow_none=True)
    classification_note = fields.String(allow_none=True)
    classified_at = fields.DateTime(allow_none=True)
    classified_by = fields.String(allow_none=True)
    handled_at = fields.DateTime(allow_none=True)
    handling_note = fields.String(allow_none=True)
    case_id = fields.String(allow_none=True)
    recorded_by = fields.String()
    recorded_at = fields.DateTime()
    version = fields.Integer()

    def _overdue(self, obj):
        return obj.is_overdue(domain.local_date(now()))


class TipQuery(Schema):
    district_code = fields.String(validate=DISTRICT)
    commune_code = fields.String(validate=COMMUNE)
    source = fields.String(validate=validate.OneOf(domain.TIP_SOURCES))
    status = fields.String(validate=validate.OneOf(domain.TIP_STATUSES))
    classification = fields.String(validate=validate.OneOf(domain.CLASSIFICATIONS))
    establishment_id = fields.UUID()
    inspection_id = fields.UUID()
    received_from = moment(metadata={"description": "Received at or after this moment."})
    received_to = moment(metadata={"description": "Received before this moment."})
    sort = sort_field(*TIP_SORTABLE, default="-received_at")


class OverdueTipQuery(Schema):
    on = fields.Date(metadata={"description": "Overdue on this day (default: today): still unclassified after "
                                              "the verification deadline."})
    district_code = fields.String(validate=DISTRICT)
    commune_code = fields.String(validate=COMMUNE)
    sort = sort_field(*TIP_SORTABLE, default="verification_due_on")


class ReferralStatusSchema(Schema):
    referral_id = fields.String()
    inspection_id = fields.String(allow_none=True)
    received = fields.Boolean()
    handled = fields.Boolean()
