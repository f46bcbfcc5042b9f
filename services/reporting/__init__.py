"""The reporting service: the plan's indicators against its targets, commune reports, exports and the dashboard."""
