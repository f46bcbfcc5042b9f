"""Configuration from environment variables, read once by the composition root.

Every variable has an embedded default so that `make run` works on a bare machine;
production mode (``LANHMANH_ENV=production``) refuses to start without a real key.
A service-specific variable wins over the shared one: ``REGISTRY_DATABASE_URL``
before ``DATABASE_URL``.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path

DEV_JWT_SECRET = "lanhmanh-local-development-secret-change-me"
MIN_SECRET_BYTES = 32


class ConfigError(RuntimeError):
    pass


def _env(env: dict, service: str | None, name: str, default: str | None = None) -> str | None:
    if service:
        value = env.get(f"{service.upper()}_{name}")
        if value:
            return value
    value = env.get(name)
    return value if value not in (None, "") else default


@dataclass(frozen=True)
class Config:
    service: str
    environment: str = "development"  # or "production"
    database_url: str = "sqlite:///var/lanhmanh.db"
    transport: str = "embedded"  # or "kafka"
    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    kafka_partitions: int = 6
    kafka_replication_factor: int = 1
    embedded_log_url: str = "sqlite:///var/events.db"
    jwt_secret: str | None = DEV_JWT_SECRET
    jwt_jwks_url: str | None = None
    jwt_audience: str = "lanhmanh"
    jwt_issuer: str | None = None
    log_level: str = "INFO"
    relay_batch_size: int = 1000
    relay_poll_interval: float = 0.1  # seconds the relay waits after an empty or short pass (docs/benchmarks.md)
    relay_idle_interval: float = 0.4  # ...doubling while it finds nothing, up to this
    relay_max_backoff: float = 30.0
    consumer_max_attempts: int = 5
    consumer_retry_backoff: float = 0.5
    consumer_batch_size: int = 1000  # events applied per transaction (at most one poll's)
    #: Housekeeping of the chassis's tables (chassis/housekeeping.py): days each kind of row is kept.
    outbox_keep_days: float = 7.0  # published outbox rows (the events are on the broker)
    inbox_keep_days: float = 30.0  # a consumer's record of an applied event (redeliveries come sooner)
    idempotency_keep_days: float = 7.0  # a POST's answer, replayed to a retry with the same key
    housekeeping_interval: float = 3600.0  # seconds between the worker's passes
    max_page_size: int = 200
    max_body_bytes: int = 1_000_000
    provinces: tuple[str, ...] = ("14",)  # GSO province codes this deployment serves (14 = Sơn La)
    #: Put before every consumer group name, so that two deployments (or test runs) can share a broker.
    consumer_group_prefix: str = ""
    extra: dict = field(default_factory=dict)

    @property
    def production(self) -> bool:
        return self.environment == "production"

    def with_(self, **changes) -> "Config":
        return replace(self, **changes)

    def check(self) -> "Config":
        """Refuse configurations that are unsafe in production."""
        if self.transport not in ("embedded", "kafka"):
            raise ConfigError(f"EVENT_TRANSPORT must be 'embedded' or 'kafka', not {self.transport!r}")
        for name in ("outbox_keep_days", "inbox_keep_days", "idempotency_keep_days"):
            if getattr(self, name) < 1:  # an inbox kept for less would let redeliveries through
                raise ConfigError(f"{name.upper()} must be at least 1 (day), not {getattr(self, name)}")
        if self.housekeeping_interval <= 0:
            raise ConfigError(f"HOUSEKEEPING_INTERVAL must be a positive number of seconds, not {self.housekeeping_interval}")
        if self.production:
            if not self.jwt_secret and not self.jwt_jwks_url:
                raise ConfigError("production mode needs JWT_SECRET or JWT_JWKS_URL")
            if self.jwt_secret and (
                self.jwt_secret == DEV_JWT_SECRET or len(self.jwt_secret.encode()) < MIN_SECRET_BYTES
            ):
                raise ConfigError(
                    f"production mode refuses a weak JWT_SECRET (the development default, or under {MIN_SECRET_BYTES} bytes)"
                )
            if self.transport != "kafka":
                raise ConfigError("production mode needs EVENT_TRANSPORT=kafka")
        return self

    @classmethod
    def from_env(cls, service: str, env: dict | None = None) -> "Config":
        env = dict(os.environ if env is None else env)
        var = Path(_env(env, None, "LANHMANH_VAR_DIR", "var"))
        environment = _env(env, service, "LANHMANH_ENV", "development")
        default_secret = None if environment == "production" else DEV_JWT_SECRET
        return cls(
            service=service,
            environment=environment,
            database_url=_env(env, service, "DATABASE_URL", f"sqlite:///{var}/{service}.db"),
            transport=_env(env, service, "EVENT_TRANSPORT", "embedded"),
            kafka_bootstrap_servers=_env(env, service, "KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092"),
            kafka_partitions=int(_env(env, service, "KAFKA_PARTITIONS", "6")),
            kafka_replication_factor=int(_env(env, service, "KAFKA_REPLICATION_FACTOR", "1")),
            embedded_log_url=_env(env, None, "EMBEDDED_LOG_URL", f"sqlite:///{var}/events.db"),
            jwt_secret=_env(env, service, "JWT_SECRET", default_secret),
            jwt_jwks_url=_env(env, service, "JWT_JWKS_URL"),
            jwt_audience=_env(env, service, "JWT_AUDIENCE", "lanhmanh"),
            jwt_issuer=_env(env, service, "JWT_ISSUER"),
            log_level=_env(env, service, "LOG_LEVEL", "INFO"),
            relay_batch_size=int(_env(env, service, "RELAY_BATCH_SIZE", "1000")),
            relay_poll_interval=float(_env(env, service, "RELAY_POLL_INTERVAL", "0.1")),
            relay_idle_interval=float(_env(env, service, "RELAY_IDLE_INTERVAL", "0.4")),
            consumer_max_attempts=int(_env(env, service, "CONSUMER_MAX_ATTEMPTS", "5")),
            consumer_batch_size=int(_env(env, service, "CONSUMER_BATCH_SIZE", "1000")),
            outbox_keep_days=float(_env(env, service, "OUTBOX_KEEP_DAYS", "7")),
            inbox_keep_days=float(_env(env, service, "INBOX_KEEP_DAYS", "30")),
            idempotency_keep_days=float(_env(env, service, "IDEMPOTENCY_KEEP_DAYS", "7")),
            housekeeping_interval=float(_env(env, service, "HOUSEKEEPING_INTERVAL", "3600")),
            max_page_size=int(_env(env, service, "MAX_PAGE_SIZE", "200")),
            consumer_group_prefix=_env(env, None, "KAFKA_CONSUMER_GROUP_PREFIX", ""),
            provinces=tuple(p.strip() for p in _env(env, None, "LANHMANH_PROVINCES", "14").split(",") if p.strip()),
        ).check()
