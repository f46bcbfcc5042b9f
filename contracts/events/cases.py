"""Events published by the criminal-cases service. No suspect or victim identity: victims
are referred to support by a random id."""
from marshmallow import fields, validate

from contracts import topics
from contracts.events import Payload, define

TIP_SOURCES = ("citizen", "hotline", "inspection_referral", "media", "other_agency")
CLASSIFICATIONS = ("criminal", "administrative", "unfounded")
ARTICLES = ("150", "151", "327", "328", "329")  # Penal Code 2015
STAGES = ("opened", "investigation", "prosecution", "trial", "verdict", "suspended", "dismissed")
HOTSPOT_KINDS = ("public_place", "inside_establishment")


class _Tip(Payload):
    tip_id = fields.UUID(required=True)
    commune_code = fields.String(required=True)
    district_code = fields.String(required=True)
    establishment_id = fields.UUID(allow_none=True)


class TipReceivedV1(_Tip):
    source = fields.String(required=True, validate=validate.OneOf(TIP_SOURCES))
    received_at = fields.DateTime(required=True)
    inspection_id = fields.UUID(allow_none=True)


class TipClassifiedV1(_Tip):
    classification = fields.String(required=True, validate=validate.OneOf(CLASSIFICATIONS))
    classified_at = fields.DateTime(required=True)


class TipHandledV1(_Tip):
    handled_at = fields.DateTime(required=True)
    case_id = fields.UUID(allow_none=True)


class _Case(Payload):
    case_id = fields.UUID(required=True)
    commune_code = fields.String(required=True)
    district_code = fields.String(required=True)


class CaseOpenedV1(_Case):
    articles = fields.List(fields.String(validate=validate.OneOf(ARTICLES)), required=True)
    opened_on = fields.Date(required=True)
    tip_id = fields.UUID(allow_none=True)
    establishment_ids = fields.List(fields.UUID(), load_default=list)
    suspects_count = fields.Integer(load_default=0)


class CaseStageChangedV1(_Case):
    previous_stage = fields.String(required=True, validate=validate.OneOf(STAGES))
    stage = fields.String(required=True, validate=validate.OneOf(STAGES))
    on = fields.Date(required=True)
    mobile_trial = fields.Boolean(load_default=False)
    correction = fields.Boolean(load_default=False)


class OperatorConvictedV1(_Case):
    """A verdict against the operator of establishments: the registry revokes them."""

    establishment_ids = fields.List(fields.UUID(), required=True)
    verdict_on = fields.Date(required=True)
    articles = fields.List(fields.String(validate=validate.OneOf(ARTICLES)), required=True)


class _Hotspot(Payload):
    hotspot_id = fields.UUID(required=True)
    commune_code = fields.String(required=True)
    district_code = fields.String(required=True)


class HotspotDetectedV1(_Hotspot):
    kind = fields.String(required=True, validate=validate.OneOf(HOTSPOT_KINDS))
    detected_on = fields.Date(required=True)
    found_by = fields.String(required=True, validate=validate.OneOf(("tip", "inspection", "case")))
    establishment_id = fields.UUID(allow_none=True)


class HotspotEliminatedV1(_Hotspot):
    eliminated_on = fields.Date(required=True)


class HotspotRecurredV1(_Hotspot):
    recurred_on = fields.Date(required=True)


class VictimReferredV1(Payload):
    """A victim identified in a case, referred to support by a random id, never a name."""

    referral_id = fields.UUID(required=True)
    case_id = fields.UUID(required=True)
    commune_code = fields.String(required=True)
    district_code = fields.String(required=True)
    referred_on = fields.Date(required=True)


TIP_RECEIVED = define("cases.tip.received", 1, topics.CASES_TIPS, TipReceivedV1)
TIP_CLASSIFIED = define("cases.tip.classified", 1, topics.CASES_TIPS, TipClassifiedV1)
TIP_HANDLED = define("cases.tip.handled", 1, topics.CASES_TIPS, TipHandledV1)
CASE_OPENED = define("cases.case.opened", 1, topics.CASES_CASES, CaseOpenedV1)
CASE_STAGE_CHANGED = define("cases.case.stage_changed", 1, topics.CASES_CASES, CaseStageChangedV1)
OPERATOR_CONVICTED = define("cases.case.operator_convicted", 1, topics.CASES_CASES, OperatorConvictedV1,
                            "The registry revokes the establishments on this event.")
HOTSPOT_DETECTED = define("cases.hotspot.detected", 1, topics.CASES_HOTSPOTS, HotspotDetectedV1)
HOTSPOT_ELIMINATED = define("cases.hotspot.eliminated", 1, topics.CASES_HOTSPOTS, HotspotEliminatedV1)
HOTSPOT_RECURRED = define("cases.hotspot.recurred", 1, topics.CASES_HOTSPOTS, HotspotRecurredV1)
VICTIM_REFERRED = define("cases.referral.victim", 1, topics.CASES_REFERRALS, VictimReferredV1)
