"""Schemas of the reference data: checklists per business type and the violation catalogue."""
from __future__ import annotations

from marshmallow import fields, validate

from chassis.api import Schema
from services.inspection import domain

BUSINESS_TYPES = ("karaoke", "dance_hall", "massage", "sauna_spa", "accommodation", "bar", "hair_salon_massage",
                  "other")


class ChecklistItemSchema(Schema):
    code = fields.String()
    question = fields.String()
    expected = fields.String(metadata={"description": "The compliant answer (yes or no)."})
    suggests = fields.String(metadata={"description": "The violation code a non-compliant answer points to."})
    signs_of_prostitution = fields.Boolean(load_default=False, dump_default=False)


class ChecklistSchema(Schema):
    business_type = fields.String()
    items = fields.List(fields.Nested(ChecklistItemSchema))


class ChecklistQuery(Schema):
    business_type = fields.String(validate=validate.OneOf(BUSINESS_TYPES))


class LegalBasisSchema(Schema):
    decree = fields.String(metadata={"example": "167/2013/NĐ-CP"})
    reference = fields.String(metadata={"example": "Điều 11, khoản 3, điểm d"})
    effective_from = fields.String(metadata={"format": "date"})
    effective_to = fields.String(allow_none=True, metadata={"format": "date"})
    fine_min_vnd = fields.Integer()
    fine_max_vnd = fields.Integer()


class ViolationCodeSchema(Schema):
    code = fields.String()
    group = fields.String()
    title = fields.String()
    serious = fields.Boolean()
    signs_of_prostitution = fields.Boolean()
    additional_sanctions = fields.List(fields.String(validate=validate.OneOf(domain.SANCTIONS)))
    legal_basis = fields.List(fields.Nested(LegalBasisSchema))


class ViolationCodeQuery(Schema):
    q = fields.String(validate=validate.Length(1, 200),
                      metadata={"description": "Search in codes and titles; ignores Vietnamese diacritics."})
    group = fields.String(validate=validate.OneOf(("an_ninh_trat_tu", "cu_tru", "mai_dam")))
    signs_of_prostitution = fields.Boolean()
