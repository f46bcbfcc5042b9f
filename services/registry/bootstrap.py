"""The registry service's descriptor: what the chassis needs to run it."""
from pathlib import Path

from chassis.consumer import ConsumerSpec
from chassis.service import Service
from contracts import topics
from contracts.events import cases, inspection
from services.registry import demo, domain, handlers, tables
from services.registry.repository import RegistryUnitOfWork
from services.registry.resources.establishments.routes import blp as establishments

service = Service(
    name="registry",
    title="Lành Mạnh — Registry (Sổ đăng ký cơ sở kinh doanh có điều kiện)",
    description="The register of conditional-business establishments, their status and periodic reviews.",
    metadata=tables.metadata,
    migrations=Path(__file__).with_name("migrations"),
    blueprints=[establishments],
    uow_class=RegistryUnitOfWork,
    consumers=[
        ConsumerSpec("registry-inspection-risk", {
            inspection.RISK_ASSESSED.type: handlers.apply_risk_assessment,
        }, [topics.INSPECTION_RISK], preload={inspection.RISK_ASSESSED.type: handlers.preload_establishments}),
        ConsumerSpec("registry-case-verdicts", {
            cases.OPERATOR_CONVICTED.type: handlers.revoke_after_verdict,
        }, [topics.CASES_CASES]),
    ],
    publishes=[topics.REGISTRY_ESTABLISHMENTS],
    errors={domain.NotFound: 404, domain.InvalidChange: 422, domain.Conflict: 409},
    demo=demo.load,
    demo_order=10,
    setup=tables.start_mappers,
)
