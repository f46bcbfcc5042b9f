"""The dashboard at /reporting/ (HTML, Vietnamese with English alongside) and its static files,
including the chart library (Chart.js, MIT, vendored: no CDN, the machines are offline).

The page itself holds no data: its script reads the API with the user's bearer token."""
from __future__ import annotations

from pathlib import Path

from flask import send_from_directory

from chassis.api import Blueprint

STATIC = Path(__file__).resolve().parents[2] / "static"

blp = Blueprint("dashboard", __name__, description=(
    "Bảng điều khiển — the dashboard at /reporting/ (not under /v1): the province's indicators against targets, "
    "per-district comparison, drill-down to communes, trend by month."))


def page():
    return send_from_directory(STATIC, "dashboard.html", max_age=0)


def static(filename: str):
    return send_from_directory(STATIC, filename, max_age=3600)


@blp.record_once
def _mount(state) -> None:
    """Serve the page and its files beside the API, outside /reporting/v1 (no token needed for them)."""
    state.app.add_url_rule("/reporting/", "reporting_dashboard", page)
    state.app.add_url_rule("/reporting/static/<path:filename>", "reporting_static", static)
