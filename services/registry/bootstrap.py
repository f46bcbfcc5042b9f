"""The registry service's descriptor: what the chassis needs to run it."""
from pathlib import Path

from chassis.service import Service
from contracts import topics
from services.registry import demo, domain, tables
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
    consumers=[],  # the registry consumes nothing yet: see README.md
    publishes=[topics.REGISTRY_ESTABLISHMENTS],
    errors={domain.NotFound: 404, domain.InvalidChange: 422, domain.Conflict: 409},
    demo=demo.load,
    setup=tables.start_mappers,
)
