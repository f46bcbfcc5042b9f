"""Request and response schemas of /support/v1/persons. Validation messages never repeat a value."""
from __future__ import annotations

from marshmallow import ValidationError, fields, validate, validates

from chassis.api import Schema, sort_field
from contracts.events.support import SERVICE_TYPES, SEXES
from contracts.refdata import units
from services.support import domain
from services.support.views import PERSON_SORTABLE

COMMUNE = validate.Regexp(r"^\d{5}$", error="a commune code is 5 digits (GSO)")
DISTRICT = validate.Regexp(r"^\d{3}$", error="a district code is 3 digits (GSO)")


class PersonInput(Schema):
    full_name = fields.String(required=True, validate=validate.Length(1, 200), metadata={"example": "Lò Thị Xuân"})
    birth_year = fields.Integer(required=True, strict=True, metadata={"example": 1998})
    sex = fields.String(required=True, validate=validate.OneOf(SEXES))
    ethnicity = fields.String(required=True, validate=validate.Length(1, 50), metadata={
        "example": "Thái", "description": f"e.g. {', '.join(domain.ETHNICITIES[:-1])}"})
    id_number = fields.String(load_default=None, allow_none=True, validate=validate.Regexp(
        r"^(\d{9}|\d{12})$", error="an ID number is 9 digits (CMND) or 12 digits (CCCD)"))
    phone = fields.String(load_default=None, allow_none=True, validate=validate.Regexp(
        r"^\+?[\d ]{9,15}$", error="a phone number is 9 to 12 digits"))
    commune_code = fields.String(required=True, validate=COMMUNE, metadata={
        "example": "03646", "description": "Commune of residence (encrypted; it sets the person's district)."})
    first_contact_on = fields.Date(metadata={"description": "Default: today."})

    @validates("full_name", "ethnicity")
    def not_blank(self, value, data_key=None, **kwargs):
        if not value.strip():
            raise ValidationError("must not be blank")


class PersonPatch(PersonInput):
    """Every field optional (loaded with ``partial=True``); first_contact_on cannot change."""

    class Meta(Schema.Meta):
        exclude = ("first_contact_on",)


class ReasonQuery(Schema):
    reason = fields.String(validate=validate.Length(1, 500), metadata={
        "description": "Why you open this identity (written to the audit log). Required, 10 characters or "
                       "more, to break the glass outside your district."})


class IdentitySchema(Schema):
    full_name = fields.String()
    birth_year = fields.Integer()
    ethnicity = fields.String()
    id_number = fields.String(allow_none=True)
    phone = fields.String(allow_none=True)
    commune_code = fields.String()
    commune_name = fields.Method("_commune_name")

    def _commune_name(self, obj):
        unit = units().communes.get(obj.commune_code)
        return unit.name if unit else None


class ConsentInput(Schema):
    given_on = fields.Date(required=True)
    services = fields.List(fields.String(validate=validate.OneOf(SERVICE_TYPES)), required=True,
                           validate=validate.Length(min=1), metadata={"description": "What the person agrees to receive."})
    share_with = fields.List(fields.String(validate=validate.OneOf(domain.SHARE_WITH)),
                             load_default=lambda: ["reporting"], metadata={
                                 "description": "Who may be told: 'reporting' = pseudonymous statistics (events)."})


class ConsentSchema(ConsentInput):
    id = fields.String(dump_only=True)
    recorded_by = fields.String(dump_only=True)
    recorded_at = fields.DateTime(dump_only=True)
    ended_on = fields.Date(dump_only=True, allow_none=True)
    ended_because = fields.String(dump_only=True, allow_none=True)


class WithdrawalInput(Schema):
    withdrawn_on = fields.Date(load_default=None, metadata={"description": "Default: today."})


class MergeProposalSchema(Schema):
    id = fields.String()
    candidate_id = fields.String(metadata={"description": "The person this record may be."})
    matched_on = fields.String(metadata={"description": "name_birth_year or id_number (keyed hashes)"})
    proposed_at = fields.DateTime()
    status = fields.String()
    decided_by = fields.String(allow_none=True)
    decided_at = fields.DateTime(allow_none=True)


class MergeDecisionInput(Schema):
    proposal_id = fields.UUID(required=True)
    confirm = fields.Boolean(required=True, metadata={"description": "true: merge this record into the candidate."})


class PersonSummarySchema(Schema):
    """A person without identity: what lists and creations show."""

    id = fields.String()
    person_ref = fields.String(metadata={"description": "The pseudonymous id used in every event."})
    district_code = fields.String()
    sex = fields.String()
    age_band = fields.String(metadata={"description": "At first contact."})
    first_contact_on = fields.Date()
    status = fields.String()
    merged_into = fields.String(allow_none=True)
    registered_at = fields.DateTime()
    updated_at = fields.DateTime()
    consent = fields.Method("_consent")
    merge_proposals = fields.List(fields.Nested(MergeProposalSchema))
    merged_from = fields.Method("_merged_from", metadata={"description": "Records confirmed to be this person."})

    def _merged_from(self, obj):
        return [p.id for p in obj.merged_from]

    def _consent(self, obj):
        active = obj.active_consent()
        return ConsentSchema().dump(active) if active else None


class PersonSchema(PersonSummarySchema):
    """A person with the identity (opened for the caller, and audited)."""

    identity = fields.Nested(IdentitySchema, allow_none=True, metadata={"description": "null once erased"})
    break_glass = fields.Boolean(metadata={"description": "This read was outside your district (flagged)."})
    registered_by = fields.String()
    erased_at = fields.DateTime(allow_none=True)
    consents = fields.List(fields.Nested(ConsentSchema))
    version = fields.Integer()


class PersonQuery(Schema):
    district_code = fields.String(validate=DISTRICT)
    status = fields.String(validate=validate.OneOf((domain.ACTIVE, domain.MERGED, domain.ERASED)))
    consent = fields.Boolean(metadata={"description": "true: with an active consent; false: without."})
    sort = sort_field(*PERSON_SORTABLE, default="-registered_at")
