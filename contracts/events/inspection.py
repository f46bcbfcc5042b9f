"""Events published by the inspection service. Referrals never carry a name: a count and
random referral ids only."""
from marshmallow import fields, validate

from contracts import topics
from contracts.events import Payload, define

KINDS = ("specialised", "inter_agency")
AGENCIES = ("culture", "police", "labour", "health", "inter_agency")
SANCTIONS = ("warning", "fine", "licence_suspension", "revocation_proposal")


class _Inspection(Payload):
    inspection_id = fields.UUID(required=True)
    establishment_id = fields.UUID(required=True)
    plan_id = fields.UUID(allow_none=True)
    kind = fields.String(required=True, validate=validate.OneOf(KINDS))
    agency = fields.String(required=True, validate=validate.OneOf(AGENCIES))
    commune_code = fields.String(required=True)
    district_code = fields.String(required=True)


class InspectionScheduledV1(_Inspection):
    scheduled_on = fields.Date(required=True)
    # Added (optional): the failed inspection this re-inspection follows up.
    reinspection_of = fields.UUID(allow_none=True, load_default=None)


class InspectionStartedV1(_Inspection):
    started_at = fields.DateTime(required=True)


class InspectionCompletedV1(_Inspection):
    conducted_on = fields.Date(required=True)
    passed = fields.Boolean(required=True)
    violation_codes = fields.List(fields.String(), required=True)
    sanctions = fields.List(fields.String(validate=validate.OneOf(SANCTIONS)), required=True)
    fines_total_vnd = fields.Integer(required=True)
    suspension_days = fields.Integer(load_default=0)
    signs_of_prostitution = fields.Boolean(required=True)
    people_identified = fields.Integer(required=True)
    people_consenting_to_referral = fields.Integer(required=True)
    reinspection_id = fields.UUID(allow_none=True)
    # Added (optional): 1 for the first result; 2, 3... for explicit corrections, which replace the
    # previous figures for this inspection (a consumer counting inspections must not count them twice).
    result_revision = fields.Integer(load_default=1, validate=validate.Range(min=1))
    correction = fields.Boolean(load_default=False)


class InspectionCancelledV1(_Inspection):
    reason = fields.String(required=True)


class RiskAssessedV1(Payload):
    """After a completed inspection: the establishment's new risk level and the sanctions that change
    its status. The registry applies it (suspension for N days; a proposal to revoke)."""

    establishment_id = fields.UUID(required=True)
    inspection_id = fields.UUID(required=True)
    risk_level = fields.String(required=True, validate=validate.OneOf(("low", "medium", "high")))
    assessed_on = fields.Date(required=True)
    suspension_days = fields.Integer(load_default=0, validate=validate.Range(min=0))
    revocation_proposed = fields.Boolean(load_default=False)
    commune_code = fields.String(required=True)
    district_code = fields.String(required=True)


class PoliceReferralV1(Payload):
    """Signs of prostitution found: the cases service turns this into a tip."""

    referral_id = fields.UUID(required=True)
    inspection_id = fields.UUID(required=True)
    establishment_id = fields.UUID(required=True)
    commune_code = fields.String(required=True)
    district_code = fields.String(required=True)
    detected_on = fields.Date(required=True)
    summary = fields.String(required=True)


class SupportReferralV1(Payload):
    """People who consented to be referred for support: a count and one random id each, never a name."""

    referral_batch_id = fields.UUID(required=True)
    inspection_id = fields.UUID(required=True)
    commune_code = fields.String(required=True)
    district_code = fields.String(required=True)
    referred_on = fields.Date(required=True)
    count = fields.Integer(required=True, validate=validate.Range(min=1))
    referral_ids = fields.List(fields.UUID(), required=True)


INSPECTION_SCHEDULED = define("inspection.inspection.scheduled", 1, topics.INSPECTION_INSPECTIONS,
                              InspectionScheduledV1, "An inspection was planned for an establishment.")
INSPECTION_STARTED = define("inspection.inspection.started", 1, topics.INSPECTION_INSPECTIONS,
                            InspectionStartedV1, "The team is at the establishment.")
INSPECTION_COMPLETED = define("inspection.inspection.completed", 1, topics.INSPECTION_INSPECTIONS,
                              InspectionCompletedV1, "Results recorded: violations, sanctions, signs found.")
INSPECTION_CANCELLED = define("inspection.inspection.cancelled", 1, topics.INSPECTION_INSPECTIONS,
                              InspectionCancelledV1, "An inspection will not take place.")
POLICE_REFERRAL = define("inspection.referral.police", 1, topics.INSPECTION_REFERRALS, PoliceReferralV1,
                         "Signs of prostitution at an establishment, for the police (becomes a tip).")
SUPPORT_REFERRAL = define("inspection.referral.support", 1, topics.INSPECTION_REFERRALS, SupportReferralV1,
                          "People who consented to support: a count and random referral ids.")
RISK_ASSESSED = define("inspection.establishment.risk_assessed", 1, topics.INSPECTION_RISK, RiskAssessedV1,
                       "New risk level and status-changing sanctions; key = establishment id.")
