"""Request and response schemas of /support/v1/referrals."""
from __future__ import annotations

from marshmallow import fields, validate

from chassis.api import Schema, sort_field
from services.support import domain
from services.support.views import REFERRAL_SORTABLE

DISTRICT = validate.Regexp(r"^\d{3}$", error="a district code is 3 digits (GSO)")


class ReferralInput(Schema):
    """A walk-in or an NGO's referral (inspections and criminal cases refer through events)."""

    source = fields.String(required=True, validate=validate.OneOf(("walk_in", "ngo")))
    district_code = fields.String(validate=DISTRICT, metadata={"description": "Default: your district."})
    referred_on = fields.Date(metadata={"description": "Default: today."})
    organisation = fields.String(load_default=None, validate=validate.Length(1, 200),
                                 metadata={"description": "The NGO (required for source=ngo)."})


class DecisionInput(Schema):
    accepted = fields.Boolean(required=True)
    reason = fields.String(load_default=None, validate=validate.Length(1, 2000),
                           metadata={"description": "Why (required to decline)."})
    person_id = fields.UUID(load_default=None, metadata={
        "description": "To accept: the person (first contact recorded, consent given)."})
    decided_on = fields.Date(load_default=None, metadata={
        "description": "Default: today; an accepted referral's case opens on this day."})


class ReferralSchema(Schema):
    id = fields.String()
    source = fields.String()
    source_ref = fields.String(allow_none=True, metadata={"description": "The inspection or criminal case."})
    batch_id = fields.String(allow_none=True)
    organisation = fields.String(allow_none=True)
    district_code = fields.String()
    commune_code = fields.String(allow_none=True, metadata={"description": "Where the referral came from."})
    referred_on = fields.Date()
    received_at = fields.DateTime()
    received_by = fields.String(allow_none=True)
    status = fields.String()
    decision_reason = fields.String(allow_none=True)
    decided_by = fields.String(allow_none=True)
    decided_at = fields.DateTime(allow_none=True)
    decided_on = fields.Date(allow_none=True)
    person_id = fields.String(allow_none=True)
    support_case_id = fields.String(allow_none=True)


class WrittenReferralSchema(ReferralSchema):
    """What a POST answers: without the decision's reason (free text; the chassis keeps a POST's answer)."""

    class Meta(Schema.Meta):
        exclude = ("decision_reason",)


class ReferralQuery(Schema):
    status = fields.String(validate=validate.OneOf((domain.RECEIVED, domain.ACCEPTED, domain.DECLINED)))
    source = fields.String(validate=validate.OneOf(domain.SOURCES))
    district_code = fields.String(validate=DISTRICT)
    sort = sort_field(*REFERRAL_SORTABLE, default="-received_at")
