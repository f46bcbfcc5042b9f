"""Events published by the support service, for reporting. A person is only ever a random
pseudonymous id here; age is a band and place a district, never more."""
from marshmallow import fields, validate

from contracts import topics
from contracts.events import Payload, define

SERVICE_TYPES = ("legal_aid", "health_care", "vocational_training", "job_placement", "livelihood_support",
                 "reintegration_follow_up")
AGE_BANDS = ("under_18", "18_24", "25_34", "35_44", "45_plus", "unknown")
SEXES = ("female", "male", "other", "unknown")
OUTCOMES = ("reintegrated", "moved_away", "declined_further_support", "returned_to_sex_work")


class _Person(Payload):
    person_ref = fields.UUID(required=True)  # pseudonymous: not the person's id in the support database
    district_code = fields.String(required=True)
    age_band = fields.String(required=True, validate=validate.OneOf(AGE_BANDS))
    sex = fields.String(required=True, validate=validate.OneOf(SEXES))


class ReferralDecidedV1(Payload):
    referral_id = fields.UUID(required=True)
    accepted = fields.Boolean(required=True)
    source = fields.String(required=True)  # inspection, case, walk_in, ngo
    district_code = fields.String(allow_none=True)
    decided_on = fields.Date(required=True)


class SupportCaseOpenedV1(_Person):
    support_case_id = fields.UUID(required=True)
    opened_on = fields.Date(required=True)


class ServiceDeliveredV1(_Person):
    support_case_id = fields.UUID(required=True)
    service_type = fields.String(required=True, validate=validate.OneOf(SERVICE_TYPES))
    delivered_on = fields.Date(required=True)
    completed = fields.Boolean(load_default=True)  # e.g. a training course completed, a job started
    # Added (optional): a service recorded at its start and completed later (a training course) is
    # published twice with the same service_id, once with completed=false, once with completed=true.
    service_id = fields.UUID(allow_none=True, load_default=None)


class SupportCaseClosedV1(_Person):
    support_case_id = fields.UUID(required=True)
    closed_on = fields.Date(required=True)
    outcome = fields.String(required=True, validate=validate.OneOf(OUTCOMES))


REFERRAL_DECIDED = define("support.referral.decided", 1, topics.SUPPORT_CASES, ReferralDecidedV1)
SUPPORT_CASE_OPENED = define("support.case.opened", 1, topics.SUPPORT_CASES, SupportCaseOpenedV1)
SERVICE_DELIVERED = define("support.service.delivered", 1, topics.SUPPORT_CASES, ServiceDeliveredV1)
SUPPORT_CASE_CLOSED = define("support.case.closed", 1, topics.SUPPORT_CASES, SupportCaseClosedV1)


# -- added by the support service (issue 5): optional, additive ------------------------------------
class ReferralReceivedV1(Payload):
    """A referral reached social affairs: no person yet, only where it came from."""

    referral_id = fields.UUID(required=True)
    source = fields.String(required=True, validate=validate.OneOf(("inspection", "case", "walk_in", "ngo")))
    district_code = fields.String(required=True)
    received_on = fields.Date(required=True)


class PersonMergedV1(Payload):
    """Two pseudonymous ids turned out to be one person (a case worker confirmed the duplicate):
    events about ``person_ref`` are from now on about ``merged_into_ref``."""

    person_ref = fields.UUID(required=True)
    merged_into_ref = fields.UUID(required=True)
    district_code = fields.String(required=True)
    merged_on = fields.Date(required=True)


REFERRAL_RECEIVED = define("support.referral.received", 1, topics.SUPPORT_CASES, ReferralReceivedV1,
                           "A referral arrived (inspection, criminal case, walk-in, NGO); key = referral id.")
PERSON_MERGED = define("support.person.merged", 1, topics.SUPPORT_CASES, PersonMergedV1,
                       "A confirmed duplicate: person_ref is merged_into_ref; key = person_ref.")
