"""The reporting service's descriptor: what the chassis needs to run it."""
from pathlib import Path

from chassis.service import Service
from services.reporting import commands, demo, domain, handlers, tables
from services.reporting.repository import ReportingUnitOfWork
from services.reporting.resources.admin.routes import blp as admin
from services.reporting.resources.commune_reports.routes import blp as commune_reports
from services.reporting.resources.dashboard.routes import blp as dashboard
from services.reporting.resources.indicators.routes import blp as indicators
from services.reporting.resources.plans.routes import blp as plans

service = Service(
    name="reporting",
    title="Lành Mạnh — Reporting (Chỉ tiêu và báo cáo)",
    description=("The plan's indicators against its targets per province, district, commune and period, built from "
                 "every service's events; commune reports; exports, the official report and the dashboard at "
                 "/reporting/. Aggregates only."),
    metadata=tables.metadata,
    migrations=Path(__file__).with_name("migrations"),
    blueprints=[indicators, commune_reports, plans, admin, dashboard],
    uow_class=ReportingUnitOfWork,
    consumers=[handlers.projection_spec()],  # every topic; rebuilds replay under reporting-projections-g<N>
    publishes=[],
    errors={domain.NotFound: 404, domain.InvalidChange: 422, domain.Conflict: 409},
    demo=demo.load,
    demo_order=90,
    setup=tables.start_mappers,
    commands=[commands.rebuild],
    ui="/reporting/",
)
