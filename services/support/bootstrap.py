"""The support service's descriptor: what the chassis needs to run it.

Its own configuration (read from the environment when the service is set up, see vault.py):
``SUPPORT_ENCRYPTION_KEYS`` (Fernet keys, newest first), ``SUPPORT_MATCH_KEY`` (HMAC key of the
duplicate check), ``SUPPORT_RETENTION_DAYS``. Production refuses the development keys.
"""
from pathlib import Path

from chassis.consumer import ConsumerSpec
from chassis.service import Service
from contracts import topics
from contracts.events import cases as case_events
from contracts.events import inspection as inspection_events
from services.support import demo, domain, handlers, tables, vault
from services.support.repository import SupportUnitOfWork
from services.support.resources.audit.routes import blp as audit
from services.support.resources.cases.routes import blp as cases
from services.support.resources.maintenance.routes import blp as maintenance
from services.support.resources.persons.routes import blp as persons
from services.support.resources.referrals.routes import blp as referrals
from services.support.resources.tasks.routes import blp as tasks


def setup() -> None:
    tables.start_mappers()
    vault.configure()  # keys from SUPPORT_ENCRYPTION_KEYS / SUPPORT_MATCH_KEY; refuses dev keys in production


service = Service(
    name="support",
    title="Lành Mạnh — Support (Hỗ trợ hòa nhập cộng đồng)",
    description=("Reintegration support for people who sold sex: people (identity encrypted, audited), consent, "
                 "referrals, support cases, services, follow-up tasks. No identity ever leaves this service."),
    metadata=tables.metadata,
    migrations=Path(__file__).with_name("migrations"),
    blueprints=[persons, referrals, cases, tasks, audit, maintenance],
    uow_class=SupportUnitOfWork,
    consumers=[ConsumerSpec("support-referrals", {
        inspection_events.SUPPORT_REFERRAL.type: handlers.receive_inspection_referral,
        case_events.VICTIM_REFERRED.type: handlers.receive_victim_referral,
    }, [topics.INSPECTION_REFERRALS, topics.CASES_REFERRALS])],
    publishes=[topics.SUPPORT_CASES],
    errors={domain.NotFound: 404, domain.InvalidChange: 422, domain.Conflict: 409, domain.AccessDenied: 403,
            domain.IdentityUnreadable: 500},
    demo=demo.load,
    demo_order=40,
    setup=setup,
)
