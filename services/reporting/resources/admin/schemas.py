"""Schemas of /reporting/v1/admin: the projection's state and its rebuild."""
from __future__ import annotations

from marshmallow import fields

from chassis.api import Schema


class ProjectionSchema(Schema):
    generation = fields.Integer(metadata={"description": "Incremented by every rebuild."})
    consumer_group = fields.String(metadata={"description": "The live consumer group."})
    replay_group = fields.String(allow_none=True, metadata={
        "description": "The group the last rebuild replayed the topics under (reporting-projections-g<N>-<time>)."})
    last_event_time = fields.DateTime(allow_none=True)
    last_applied_at = fields.DateTime(allow_none=True)
    lag_seconds = fields.Float(allow_none=True, metadata={
        "description": "Seconds between the last applied event's time and its landing in the projections."})
    rebuilt_at = fields.DateTime(allow_none=True)


class RebuildSchema(Schema):
    generation = fields.Integer()
    consumer_group = fields.String()
    messages = fields.Integer(metadata={"description": "Messages read from the start of the topics."})
    seconds = fields.Float()
