"""The cases service's descriptor: what the chassis needs to run it."""
from pathlib import Path

from chassis.consumer import ConsumerSpec
from chassis.service import Service
from contracts import topics
from contracts.events import inspection, registry
from services.cases import demo, domain, handlers, tables
from services.cases.repository import CasesUnitOfWork
from services.cases.resources.cases.routes import blp as cases
from services.cases.resources.hotspots.routes import blp as hotspots
from services.cases.resources.tips.routes import blp as tips

service = Service(
    name="cases",
    title="Lành Mạnh — Cases (Tin báo, vụ án, tụ điểm mại dâm)",
    description="Tips from receipt to handling, prostitution-related criminal cases from opening to verdict, "
                "and hotspots from detection to elimination. Police and admin only.",
    metadata=tables.metadata,
    migrations=Path(__file__).with_name("migrations"),
    blueprints=[tips, cases, hotspots],
    uow_class=CasesUnitOfWork,
    consumers=[
        ConsumerSpec("cases-police-referrals", {
            inspection.POLICE_REFERRAL.type: handlers.receive_police_referral,
        }, [topics.INSPECTION_REFERRALS]),
        ConsumerSpec("cases-establishments", {
            registry.ESTABLISHMENT_REGISTERED.type: handlers.copy_establishment,
            registry.ESTABLISHMENT_UPDATED.type: handlers.copy_establishment,
            registry.ESTABLISHMENT_STATUS_CHANGED.type: handlers.copy_establishment,
        }, [topics.REGISTRY_ESTABLISHMENTS]),
    ],
    publishes=[topics.CASES_TIPS, topics.CASES_CASES, topics.CASES_HOTSPOTS, topics.CASES_REFERRALS],
    errors={domain.NotFound: 404, domain.InvalidChange: 422, domain.Conflict: 409},
    demo=demo.load,
    demo_order=20,
    setup=tables.start_mappers,
)
