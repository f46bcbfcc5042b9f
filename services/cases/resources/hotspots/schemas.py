"""Request and response schemas of /cases/v1/hotspots."""
from __future__ import annotations

from marshmallow import ValidationError, fields, validate, validates

from chassis.api import Schema, sort_field
from services.cases import domain
from services.cases.resources.tips.schemas import COMMUNE, DISTRICT, commune_name, district_name
from services.cases.views import HOTSPOT_SORTABLE


class HotspotInput(Schema):
    commune_code = fields.String(required=True, validate=COMMUNE, metadata={"example": "03646"})
    description = fields.String(required=True, validate=validate.Length(1, 4000),
                                metadata={"example": "Khu vực ven hồ, tập trung người bán dâm sau 22 giờ"})
    kind = fields.String(required=True, validate=validate.OneOf(domain.HOTSPOT_KINDS))
    found_by = fields.String(required=True, validate=validate.OneOf(domain.FOUND_BY))
    detected_on = fields.Date(required=True)
    establishment_id = fields.UUID(load_default=None, metadata={"description": "Inside an establishment: which."})
    tip_id = fields.UUID(load_default=None, metadata={"description": "Found by a tip: which."})
    case_id = fields.UUID(load_default=None, metadata={"description": "Found in a case: which."})
    inspection_id = fields.UUID(load_default=None, metadata={"description": "Found by an inspection: which."})

    @validates("description")
    def not_blank(self, value, data_key=None, **kwargs):
        if not value.strip():
            raise ValidationError("must not be blank")


class EliminationInput(Schema):
    on = fields.Date(load_default=None, metadata={"description": "Default: today."})
    how = fields.String(required=True, validate=validate.Length(1, 4000),
                        metadata={"example": "Triệt phá, xử lý chủ chứa; bàn giao địa bàn cho công an xã quản lý"})


class RecurrenceInput(Schema):
    on = fields.Date(load_default=None, metadata={"description": "Default: today."})
    note = fields.String(load_default=None, validate=validate.Length(max=4000))


class HotspotChangeSchema(Schema):
    status = fields.String()
    on = fields.Date()
    note = fields.String(allow_none=True)
    recorded_by = fields.String()
    recorded_at = fields.DateTime()


class HotspotSchema(Schema):
    id = fields.String(dump_only=True)
    commune_code = fields.String()
    commune_name = fields.Function(commune_name)
    district_code = fields.String()
    district_name = fields.Function(district_name)
    province_code = fields.String()
    description = fields.String()
    kind = fields.String()
    found_by = fields.String()
    detected_on = fields.Date()
    establishment_id = fields.String(allow_none=True)
    tip_id = fields.String(allow_none=True)
    case_id = fields.String(allow_none=True)
    inspection_id = fields.String(allow_none=True)
    status = fields.String()
    status_on = fields.Date()
    eliminated_on = fields.Date(allow_none=True)
    elimination_method = fields.String(allow_none=True)
    recorded_by = fields.String()
    recorded_at = fields.DateTime()
    updated_at = fields.DateTime()
    version = fields.Integer()
    history = fields.List(fields.Nested(HotspotChangeSchema))


class HotspotQuery(Schema):
    district_code = fields.String(validate=DISTRICT)
    commune_code = fields.String(validate=COMMUNE)
    status = fields.String(validate=validate.OneOf(domain.HOTSPOT_STATUSES))
    kind = fields.String(validate=validate.OneOf(domain.HOTSPOT_KINDS))
    found_by = fields.String(validate=validate.OneOf(domain.FOUND_BY))
    establishment_id = fields.UUID()
    detected_from = fields.Date()
    detected_to = fields.Date()
    sort = sort_field(*HOTSPOT_SORTABLE, default="-detected_on")
