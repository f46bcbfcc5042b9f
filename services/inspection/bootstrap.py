"""The inspection service's descriptor: what the chassis needs to run it."""
from pathlib import Path

from chassis.consumer import ConsumerSpec
from chassis.service import Service
from contracts import topics
from contracts.events import cases, registry
from services.inspection import demo, domain, handlers, tables
from services.inspection.repository import InspectionUnitOfWork
from services.inspection.resources.catalogue.routes import blp as catalogue
from services.inspection.resources.inspections.routes import blp as inspections
from services.inspection.resources.plans.routes import blp as plans

service = Service(
    name="inspection",
    title="Lành Mạnh — Inspection (Kiểm tra cơ sở kinh doanh dịch vụ có điều kiện)",
    description="Inspection plans and risk-ranked visit lists, inspections, results, sanctions and referrals.",
    metadata=tables.metadata,
    migrations=Path(__file__).with_name("migrations"),
    blueprints=[plans, inspections, catalogue],
    uow_class=InspectionUnitOfWork,
    consumers=[
        # The local copy of the establishments this service may inspect.
        ConsumerSpec("inspection-establishments", {
            registry.ESTABLISHMENT_REGISTERED.type: handlers.apply_establishment_snapshot,
            registry.ESTABLISHMENT_UPDATED.type: handlers.apply_establishment_snapshot,
            registry.ESTABLISHMENT_STATUS_CHANGED.type: handlers.apply_establishment_status,
            registry.ESTABLISHMENT_REVIEWED.type: handlers.apply_establishment_review,
        }, [topics.REGISTRY_ESTABLISHMENTS], batch_handlers={
            registry.ESTABLISHMENT_REGISTERED.type: handlers.apply_establishment_snapshots,
            registry.ESTABLISHMENT_UPDATED.type: handlers.apply_establishment_snapshots,
        }, preload={
            registry.ESTABLISHMENT_STATUS_CHANGED.type: handlers.preload_establishments,
            registry.ESTABLISHMENT_REVIEWED.type: handlers.preload_establishments,
        }),
        # Open tips per establishment, for the visit lists' ranking.
        ConsumerSpec("inspection-tips", {
            cases.TIP_RECEIVED.type: handlers.apply_tip,
            cases.TIP_CLASSIFIED.type: handlers.apply_tip,
            cases.TIP_HANDLED.type: handlers.apply_tip,
        }, [topics.CASES_TIPS]),
    ],
    publishes=[topics.INSPECTION_INSPECTIONS, topics.INSPECTION_REFERRALS, topics.INSPECTION_RISK],
    errors={domain.NotFound: 404, domain.InvalidChange: 422, domain.Conflict: 409},
    demo=demo.load,
    demo_order=30,
    setup=tables.start_mappers,
)
