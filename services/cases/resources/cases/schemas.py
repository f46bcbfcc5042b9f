"""Request and response schemas of /cases/v1/cases."""
from __future__ import annotations

from marshmallow import ValidationError, fields, post_dump, validate, validates

from chassis.api import Schema, sort_field
from chassis.auth import POLICE, current_principal
from services.cases import domain
from services.cases.handlers import now
from services.cases.resources.tips.schemas import COMMUNE, DISTRICT, commune_name, district_name
from services.cases.views import CASE_SORTABLE

ARTICLE = validate.OneOf(tuple(domain.ARTICLES), error="unknown article {input}: the Penal Code articles of this "
                                                       "plan are " + ", ".join(domain.ARTICLES))


class SuspectInput(Schema):
    full_name = fields.String(required=True, validate=validate.Length(1, 200))
    role = fields.String(load_default="other", validate=validate.OneOf(domain.SUSPECT_ROLES))
    birth_year = fields.Integer(load_default=None, validate=validate.Range(1900, 2100))
    id_number = fields.String(load_default=None, validate=validate.Regexp(r"^\d{9}(\d{3})?$", error=(
        "a CMND (9 digits) or CCCD (12 digits) number")))
    address = fields.String(load_default=None, validate=validate.Length(max=500))

    @validates("full_name")
    def not_blank(self, value, data_key=None, **kwargs):
        if not value.strip():
            raise ValidationError("must not be blank")


class SuspectSchema(SuspectInput):
    recorded_by = fields.String(dump_only=True)
    recorded_at = fields.DateTime(dump_only=True)


class CaseInput(Schema):
    case_number = fields.String(required=True, validate=validate.Length(1, 100),
                                metadata={"example": "15/2020/HS-CAH"})
    articles = fields.List(fields.String(validate=ARTICLE), required=True, validate=validate.Length(min=1),
                           metadata={"example": ["327"]})
    commune_code = fields.String(required=True, validate=COMMUNE, metadata={"example": "03646"})
    summary = fields.String(required=True, validate=validate.Length(1, 4000))
    opened_on = fields.Date(required=True, metadata={"description": "Date of the decision to open the case."})
    tip_id = fields.UUID(load_default=None, metadata={"description": "The criminal tip it came from (then handled)."})
    establishment_ids = fields.List(fields.UUID(), load_default=list)
    hotspot_ids = fields.List(fields.UUID(), load_default=list)
    suspects_count = fields.Integer(load_default=None, validate=validate.Range(0, 1000), metadata={
        "description": "Suspects known, identified or not (at least the identities given)."})
    suspects = fields.List(fields.Nested(SuspectInput), load_default=list, metadata={
        "description": "Identities: shown to the police role only, never in an event."})


class StageInput(Schema):
    stage = fields.String(required=True, validate=validate.OneOf(domain.STAGES))
    on = fields.Date(load_default=None, metadata={"description": "The day the stage began (default: today)."})
    reason = fields.String(load_default=None, validate=validate.Length(max=4000), metadata={
        "description": "Required to suspend, dismiss or correct."})
    correction = fields.Boolean(load_default=False, metadata={
        "description": "Fix a recording error: allows going back or skipping a stage, with a reason; recorded."})
    court = fields.String(load_default=None, validate=validate.Length(max=300), metadata={
        "description": "Trial only: the court.", "example": "Tòa án nhân dân huyện Mai Sơn"})
    mobile_trial = fields.Boolean(load_default=False, metadata={"description": "Trial only: held in the community."})
    sentence = fields.String(load_default=None, validate=validate.Length(max=4000))
    operator_convicted = fields.Boolean(load_default=False, metadata={
        "description": "Verdict only: the operator of linked establishments is convicted (the registry revokes them)."})
    establishment_ids = fields.List(fields.UUID(), load_default=None, metadata={
        "description": "Verdict only: which linked establishments the convicted operator ran (default: all)."})


class VictimsInput(Schema):
    count = fields.Integer(required=True, validate=validate.Range(1, 100))
    identified_on = fields.Date(load_default=None)
    minor = fields.Boolean(load_default=False, metadata={"description": "Under 18 (art. 329, 151)."})


class StageChangeSchema(Schema):
    stage = fields.String()
    previous_stage = fields.String(allow_none=True)
    on = fields.Date()
    due_on = fields.Date(allow_none=True)
    reason = fields.String(allow_none=True)
    correction = fields.Boolean()
    recorded_by = fields.String()
    recorded_at = fields.DateTime()


class VictimSchema(Schema):
    referral_id = fields.String()
    identified_on = fields.Date()
    minor = fields.Boolean()
    recorded_at = fields.DateTime()


class CaseSchema(Schema):
    id = fields.String(dump_only=True)
    case_number = fields.String()
    articles = fields.List(fields.String())
    article_names = fields.Method("_article_names")
    commune_code = fields.String()
    commune_name = fields.Function(commune_name)
    district_code = fields.String()
    district_name = fields.Function(district_name)
    province_code = fields.String()
    summary = fields.String()
    opened_on = fields.Date()
    opened_by = fields.String()
    tip_id = fields.String(allow_none=True)
    establishment_ids = fields.List(fields.String())
    hotspot_ids = fields.List(fields.String())
    suspects_count = fields.Integer()
    suspects = fields.List(fields.Nested(SuspectSchema))
    victims_count = fields.Method("_victims_count")
    victims = fields.List(fields.Nested(VictimSchema))
    stage = fields.String()
    stage_on = fields.Date()
    stage_due_on = fields.Date(allow_none=True)
    overdue = fields.Method("_overdue")
    suspended_from = fields.String(allow_none=True)
    outcome_reason = fields.String(allow_none=True)
    court = fields.String(allow_none=True)
    trial_on = fields.Date(allow_none=True)
    mobile_trial = fields.Boolean()
    verdict_on = fields.Date(allow_none=True)
    sentence = fields.String(allow_none=True)
    operator_convicted = fields.Boolean()
    convicted_establishment_ids = fields.List(fields.String())
    updated_at = fields.DateTime()
    version = fields.Integer()
    stages = fields.List(fields.Nested(StageChangeSchema))

    @post_dump
    def police_only_identities(self, data, **kwargs):
        """Suspects' identities are shown to the police role only (an admin sees the count)."""
        if not current_principal().has_any(POLICE):
            data.pop("suspects", None)
        return data

    def _article_names(self, obj):
        return {a: domain.ARTICLES[a] for a in obj.articles}

    def _victims_count(self, obj):
        return len(obj.victims)

    def _overdue(self, obj):
        return obj.is_overdue(domain.local_date(now()))


class CaseQuery(Schema):
    q = fields.String(validate=validate.Length(1, 100), metadata={"description": "Part of the case number."})
    district_code = fields.String(validate=DISTRICT)
    commune_code = fields.String(validate=COMMUNE)
    stage = fields.String(validate=validate.OneOf(domain.STAGES))
    article = fields.String(validate=ARTICLE)
    tip_id = fields.UUID()
    establishment_id = fields.UUID()
    hotspot_id = fields.UUID()
    mobile_trial = fields.Boolean()
    opened_from = fields.Date()
    opened_to = fields.Date()
    sort = sort_field(*CASE_SORTABLE, default="-opened_on")


class OverdueCaseQuery(Schema):
    on = fields.Date(metadata={"description": "Overdue on this day (default: today): the current stage has "
                                              "outlasted its statutory time limit."})
    district_code = fields.String(validate=DISTRICT)
    commune_code = fields.String(validate=COMMUNE)
    stage = fields.String(validate=validate.OneOf(domain.STAGES))
    sort = sort_field(*CASE_SORTABLE, default="stage_due_on")
