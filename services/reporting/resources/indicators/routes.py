"""/reporting/v1/indicators and friends: the plan's indicators per organisation unit and period,
support tables, monthly trend, and the exports. Aggregates only."""
from __future__ import annotations

from flask import Response
from flask.views import MethodView

from chassis.api import Blueprint
from chassis.auth import current_principal, roles_required
from chassis.web import container
from contracts.refdata import units
from services.reporting import documents, views
from services.reporting.domain import local_date
from services.reporting.handlers import now
from services.reporting.resources.indicators.schemas import (
    IndicatorQuery, IndicatorTableSchema, OfficialReportQuery, OrgUnitQuery, OrgUnitSchema, SupportQuery,
    SupportTableSchema, TrendQuery, TrendSchema,
)

blp = Blueprint("indicators", __name__, description=(
    "Chỉ tiêu — the indicators of plan 33/KH-UBND section II per province, district or commune and period, against "
    "their targets; support indicators with small counts hidden; CSV/XLSX exports and the official report."))
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _table(org_unit, period):
    c = container()
    unit = views.visible_unit(current_principal(), org_unit, c.config.provinces)
    return c.read(views.indicators, unit, views.parse_period(period))


def _file(body: bytes, mimetype: str, name: str) -> Response:
    return Response(body, mimetype=mimetype, headers={"Content-Disposition": f'attachment; filename="{name}"'})


@blp.route("/indicators")
class Indicators(MethodView):
    @roles_required()
    @blp.arguments(IndicatorQuery, location="query", as_kwargs=True)
    @blp.response(200, IndicatorTableSchema)
    def get(self, period, org_unit=None):
        """Every indicator for an organisation unit and period, with its children for drill-down"""
        return _table(org_unit, period)


@blp.route("/indicators/export.csv")
class IndicatorsCsv(MethodView):
    @roles_required()
    @blp.arguments(IndicatorQuery, location="query", as_kwargs=True)
    @blp.response(200, description="The indicator table as CSV (UTF-8)", content_type="text/csv")
    def get(self, period, org_unit=None):
        """Export the indicator table as CSV"""
        table = _table(org_unit, period)
        return _file(documents.indicators_csv(table), "text/csv",
                     f"chi-tieu-{table['org_unit']['code']}-{period}.csv")


@blp.route("/indicators/export.xlsx")
class IndicatorsXlsx(MethodView):
    @roles_required()
    @blp.arguments(IndicatorQuery, location="query", as_kwargs=True)
    @blp.response(200, description="The indicator table as an Excel workbook", content_type=XLSX)
    def get(self, period, org_unit=None):
        """Export the indicator table as XLSX"""
        table = _table(org_unit, period)
        return _file(documents.indicators_xlsx(table), XLSX, f"chi-tieu-{table['org_unit']['code']}-{period}.xlsx")


@blp.route("/official-reports/<string:period>.xlsx")
class OfficialReport(MethodView):
    @roles_required()
    @blp.arguments(OfficialReportQuery, location="query", as_kwargs=True)
    @blp.response(200, description="The half-year or year report, laid out like the province's", content_type=XLSX)
    def get(self, period, org_unit=None):
        """The half-year (2020S1) or year (2020) report of the People's Committee, as XLSX"""
        if views.parse_period(period).kind not in ("half_year", "year"):
            from services.reporting.domain import InvalidChange

            raise InvalidChange("the official report is half-yearly (2020S1) or yearly (2020)", field="period")
        c = container()
        table = _table(org_unit, period)
        unit = views.visible_unit(current_principal(), org_unit, c.config.provinces)
        support = [c.read(views.support_table, unit, views.parse_period(period), measure, "sex")
                   for measure in views.SUPPORT_MEASURES] if unit.level != "commune" else []
        province = units().provinces[unit.province_code].name
        body = documents.official_report(table, support, local_date(now()), province)
        return _file(body, XLSX, f"bao-cao-{unit.code}-{period}.xlsx")


@blp.route("/support-indicators")
class SupportIndicators(MethodView):
    @roles_required()
    @blp.arguments(SupportQuery, location="query", as_kwargs=True)
    @blp.response(200, SupportTableSchema)
    def get(self, period, measure, by, org_unit=None):
        """People supported (by service type, trained, placed in jobs, reintegrated) by district and sex or age band.
        A count from 1 to 4 shows as "<5"; other cells are hidden ("x") so that none can be recovered from totals."""
        c = container()
        unit = views.visible_unit(current_principal(), org_unit, c.config.provinces)
        return c.read(views.support_table, unit, views.parse_period(period), measure, by)


@blp.route("/indicators/trend")
class Trend(MethodView):
    @roles_required()
    @blp.arguments(TrendQuery, location="query", as_kwargs=True)
    @blp.response(200, TrendSchema)
    def get(self, year, org_unit=None):
        """Some indicators month by month, for a year"""
        c = container()
        unit = views.visible_unit(current_principal(), org_unit, c.config.provinces)
        return c.read(views.trend, unit, year)


@blp.route("/org-units")
class OrgUnits(MethodView):
    @roles_required()
    @blp.arguments(OrgUnitQuery, location="query", as_kwargs=True)
    @blp.response(200, OrgUnitSchema(many=True))
    @blp.paginate_query()
    def get(self, pagination_parameters, parent=None):
        """The organisation units below one (province → districts → communes), GSO codes of 2020"""
        unit = views.visible_unit(current_principal(), parent, container().config.provinces)
        children = [u.as_dict() for u in unit.children()]
        pagination_parameters.item_count = len(children)
        start = (pagination_parameters.page - 1) * pagination_parameters.page_size
        return children[start:start + pagination_parameters.page_size]
