"""Static checks of the deployment files: docker-compose.yml, the nginx gateway, Prometheus, the
PostgreSQL init script, Grafana's provisioning and the Kubernetes manifests agree with the code
(installed services, CLI commands and ports, topics, configuration). Docker and a cluster are not
needed: Python reads the files; the manifests are built by the pinned kustomize of
deploy/scripts/kustomize.sh (built with Go on first use) and checked by deploy/k8s/check.py.
"""
from __future__ import annotations

import importlib.util
import json
import re
import shlex
from pathlib import Path

import click
import pytest
import yaml

from chassis import cli
from chassis.config import Config
from chassis.service import installed
from contracts import topics

ROOT = Path(__file__).resolve().parents[2]
SERVICES = installed()

_spec = importlib.util.spec_from_file_location("k8s_check", ROOT / "deploy/k8s/check.py")
k8s = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(k8s)

INFRA = {"postgres", "kafka", "gateway", "prometheus", "grafana"}


def _interpolate(value):
    """Compose's ${VAR:-default} / ${VAR-default} / ${VAR}, with no variable set (a clean machine)."""
    if isinstance(value, str):
        return re.sub(r"\$\{[A-Za-z_][A-Za-z0-9_]*(?::?-([^}]*))?\}", lambda m: m.group(1) or "", value)
    if isinstance(value, dict):
        return {k: _interpolate(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_interpolate(v) for v in value]
    return value


@pytest.fixture(scope="module")
def compose() -> dict:
    return _interpolate(yaml.safe_load((ROOT / "docker-compose.yml").read_text()))


@pytest.fixture(scope="module")
def nginx() -> str:
    # without comments, so that a commented-out block counts as missing
    return re.sub(r"#[^\n]*", "", (ROOT / "deploy/nginx/nginx.conf").read_text())


@pytest.fixture(scope="module")
def prometheus() -> dict:
    return yaml.safe_load((ROOT / "deploy/prometheus/prometheus.yml").read_text())


@pytest.fixture(scope="module")
def manifests() -> list[dict]:
    return k8s.build(k8s.OVERLAY)


def _parse_cli(command: list[str]) -> click.Context:
    """Parse a container's command with the real CLI (no callback runs): unknown options fail."""
    assert command[0] == "lanhmanh", command
    sub = cli.main.get_command(click.Context(cli.main), command[1])
    assert sub is not None, f"no `lanhmanh {command[1]}`"
    return sub.make_context(command[1], list(command[2:]))


def _port(url_or_bind: str) -> int:
    return int(re.search(r":(\d+)(?:/|$)", url_or_bind).group(1))


def test_the_services_are_the_declared_ones():
    assert SERVICES == k8s.services()
    assert set(SERVICES) >= {"registry", "inspection", "cases", "support", "reporting"}


def test_the_commands_parse_with_the_cli_and_use_the_deployed_ports():
    for svc in SERVICES:
        serve = _parse_cli(k8s.web_command(svc))
        assert serve.params["service"] == svc and _port(serve.params["bind"]) == k8s.WEB_PORT == 8000
        worker = _parse_cli(k8s.worker_command(svc))
        assert worker.params["service"] == svc and worker.params["metrics_port"] == k8s.METRICS_PORT == 9100
        assert _parse_cli(k8s.migrate_command(svc)).params["services"] == (svc,)
    exposed = re.search(r"^EXPOSE (.+)$", (ROOT / "deploy/Dockerfile").read_text(), re.M).group(1).split()
    assert {str(k8s.WEB_PORT), str(k8s.METRICS_PORT)} <= set(exposed)


# ---- docker compose --------------------------------------------------------------------------------

@pytest.mark.parametrize("svc", SERVICES)
def test_compose_runs_migrate_web_and_worker(compose, svc):
    services = compose["services"]
    for role in ("migrate", "web", "worker"):
        assert f"{svc}-{role}" in services, f"docker-compose.yml: {svc}-{role} missing"
    migrate, web, worker = (services[f"{svc}-{r}"] for r in ("migrate", "web", "worker"))
    assert migrate["command"] == k8s.migrate_command(svc)
    assert web["command"] == k8s.web_command(svc)
    assert worker["command"] == k8s.worker_command(svc)
    for c in (migrate, web, worker):
        assert c["image"] == "lanhmanh:dev" and c["build"]["dockerfile"] == "deploy/Dockerfile"
    assert str(migrate["restart"]) == "no", "a one-shot migration is not restarted"

    # start order: infrastructure healthy -> migrations done -> web and worker -> gateway
    assert migrate["depends_on"]["postgres"]["condition"] == "service_healthy"
    for c in (web, worker):
        deps = c["depends_on"]
        assert deps["postgres"]["condition"] == "service_healthy"
        assert deps["kafka"]["condition"] == "service_healthy"
        assert deps[f"{svc}-migrate"]["condition"] == "service_completed_successfully"
    assert services["gateway"]["depends_on"][f"{svc}-web"]["condition"] == "service_healthy"

    # health checks: the web's readiness, the worker's metrics server
    web_test = " ".join(web["healthcheck"]["test"])
    assert f"http://localhost:{k8s.WEB_PORT}/{svc}/readyz" in web_test
    assert {"interval", "timeout", "retries"} <= web["healthcheck"].keys()
    worker_test = " ".join(worker["healthcheck"]["test"])
    assert f"http://localhost:{k8s.METRICS_PORT}/metrics" in worker_test
    assert {"interval", "timeout", "retries"} <= worker["healthcheck"].keys()
    for c in (web, worker):
        assert c["healthcheck"]["test"][0] == "CMD" and "python" in c["healthcheck"]["test"]


@pytest.mark.parametrize("svc", SERVICES)
def test_compose_configuration_is_accepted_by_the_service(compose, svc):
    for role in ("migrate", "web", "worker"):
        env = {k: str(v) for k, v in compose["services"][f"{svc}-{role}"]["environment"].items()}
        url = env.get(f"{svc.upper()}_DATABASE_URL", "")
        assert re.fullmatch(rf"postgresql\+psycopg://\w+:\w+@postgres:5432/{svc}", url), f"{svc}-{role}: {url!r}"
        config = Config.from_env(svc, env)
        assert config.database_url == url
        assert config.transport == "kafka" and config.kafka_bootstrap_servers == "kafka:9092"
        assert not config.production and len(config.jwt_secret.encode()) >= 32
        assert env["METRICS_ADDR"] == "0.0.0.0"
        if svc == "support":
            from services.support.vault import Vault

            assert {"SUPPORT_ENCRYPTION_KEYS", "SUPPORT_MATCH_KEY"} <= env.keys(), f"support-{role}: vault keys"
            Vault.from_env(env)  # development values are accepted outside production
            with pytest.raises(Exception):  # noqa: B017 - and refused in production
                Vault.from_env({**env, "LANHMANH_ENV": "production"})


@pytest.mark.parametrize("svc", SERVICES)
def test_postgres_creates_the_database(svc):
    script = (ROOT / "deploy/postgres/init-databases.sh").read_text()
    default = re.search(r'DATABASES="\$\{LANHMANH_DATABASES:-([^}]*)\}"', script).group(1).split()
    assert svc in default


def test_compose_has_no_containers_of_unknown_services_and_binds_host_ports_to_loopback(compose):
    for name, c in compose["services"].items():
        if name not in INFRA:
            svc, _, role = name.rpartition("-")
            assert svc in SERVICES and role in ("migrate", "web", "worker"), name
        for port in c.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), f"{name}: {port}"
        for volume in c.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("./"):
                assert (ROOT / source).exists(), f"{name}: {source} missing"
    kafka = compose["services"]["kafka"]["environment"]
    assert str(kafka["KAFKA_AUTO_CREATE_TOPICS_ENABLE"]) == "false"  # the workers create their topics
    assert str(kafka["KAFKA_LOG_RETENTION_MS"]) == str(kafka["KAFKA_LOG_RETENTION_BYTES"]) == "-1"  # rebuilds replay all
    assert int(kafka["KAFKA_OFFSETS_RETENTION_MINUTES"]) >= 525600  # a stopped group keeps its place
    assert {"8000:80"} == {p.split(":", 1)[1] for p in compose["services"]["gateway"]["ports"]}
    assert {"9090:9090"} == {p.split(":", 1)[1] for p in compose["services"]["prometheus"]["ports"]}
    assert {"3000:3000"} == {p.split(":", 1)[1] for p in compose["services"]["grafana"]["ports"]}


# ---- gateway and monitoring ----------------------------------------------------------------------

@pytest.mark.parametrize("svc", SERVICES)
def test_the_gateway_routes_the_service(nginx, svc):
    upstream = re.search(rf"upstream\s+{svc}_web\s*\{{([^}}]*)\}}", nginx)
    assert upstream, f"nginx: no upstream {svc}_web"
    assert re.search(rf"server\s+{svc}-web:{k8s.WEB_PORT}\s*;", upstream.group(1))
    # the gateway drops an idle connection to the service before the service would close it under
    # a request the gateway is sending (a 502 for a request no service saw)
    idle = re.search(r"keepalive_timeout\s+(\d+)s\s*;", upstream.group(1))
    assert idle and int(idle.group(1)) < cli.KEEPALIVE_S, upstream.group(1)
    location = re.search(rf"location\s+/{svc}/\s*\{{([^}}]*)\}}", nginx)
    assert location, f"nginx: no location /{svc}/"
    assert re.fullmatch(rf"\s*proxy_pass\s+http://{svc}_web\s*;\s*", location.group(1)), location.group(1)
    assert f"/{svc}/" in re.search(r'location\s*=\s*/\s*\{[^}]*return 200 "([^"]*)"', nginx).group(1)


def test_the_gateway_config_is_balanced_and_routes_nothing_else(nginx):
    assert nginx.count("{") == nginx.count("}")
    routed = set(re.findall(r"location\s+/([a-z_]+)/\s*\{", nginx))
    assert routed == set(SERVICES)


def _targets(prometheus: dict, job: str) -> set[tuple[str, int]]:
    (config,) = [j for j in prometheus["scrape_configs"] if j["job_name"] == job]
    assert config.get("metrics_path", "/metrics") == "/metrics"
    found = set()
    for static in config.get("static_configs", []):
        for target in static["targets"]:
            host, port = target.rsplit(":", 1)
            found.add((host, int(port)))
    for dns in config.get("dns_sd_configs", []):
        assert dns.get("type", "SRV") == "A", "compose's DNS answers A records"
        found.update((name, int(dns["port"])) for name in dns["names"])
    return found


@pytest.mark.parametrize("svc", SERVICES)
def test_prometheus_scrapes_web_and_worker(prometheus, svc):
    assert (f"{svc}-web", k8s.WEB_PORT) in _targets(prometheus, "lanhmanh-web")
    assert (f"{svc}-worker", k8s.METRICS_PORT) in _targets(prometheus, "lanhmanh-worker")


def test_grafana_provisioning_agrees_with_compose(compose):
    grafana = compose["services"]["grafana"]
    (datasource,) = yaml.safe_load((ROOT / "deploy/grafana/provisioning/datasources/prometheus.yml").read_text())["datasources"]
    assert datasource["type"] == "prometheus" and datasource["url"] == "http://prometheus:9090"
    (provider,) = yaml.safe_load((ROOT / "deploy/grafana/provisioning/dashboards/lanhmanh.yml").read_text())["providers"]
    mounts = dict(v.split(":")[:2] for v in grafana["volumes"])
    assert mounts["./deploy/grafana/dashboards"] == provider["options"]["path"]
    home = grafana["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert home.startswith(provider["options"]["path"] + "/")
    dashboard = json.loads((ROOT / "deploy/grafana/dashboards" / Path(home).name).read_text())
    assert dashboard["panels"]


# ---- Kubernetes ------------------------------------------------------------------------------------

def test_the_k8s_overlay_has_every_service_as_documented(manifests):
    assert k8s.check_manifests(manifests, SERVICES) == []


def test_the_k8s_base_builds_and_lists_every_service():
    base = yaml.safe_load((ROOT / "deploy/k8s/base/kustomization.yaml").read_text())
    assert sorted(r.removeprefix("services/") for r in base["resources"] if r.startswith("services/")) == SERVICES
    docs = k8s.build(ROOT / "deploy/k8s/base")
    for svc in SERVICES:
        assert ("Deployment", f"{svc}-web") in {(d["kind"], d["metadata"]["name"]) for d in docs}
    overlay = yaml.safe_load((k8s.OVERLAY / "kustomization.yaml").read_text())
    assert {r["name"] for r in overlay.get("replicas", [])} <= {f"{s}-web" for s in SERVICES}


def test_topics_agree_with_the_contracts(manifests):
    config = next(d["data"] for d in manifests if d["kind"] == "ConfigMap" and d["metadata"]["name"].startswith("lanhmanh-config"))
    partitions, replication = int(config["KAFKA_PARTITIONS"]), int(config["KAFKA_REPLICATION_FACTOR"])
    assert k8s.check_topics(manifests, topics.ALL, partitions, replication) == []
    # every topic named in the deployment files and docs exists; the count in the sizing is right
    texts = [p.read_text() for p in (ROOT / "deploy/k8s").rglob("*.yaml")]
    texts += [(ROOT / "docs/deployment.md").read_text(), (ROOT / "docker-compose.yml").read_text()]
    for text in texts:
        for name in re.findall(rf"\blanhmanh\.(?:dead-letters|(?:{'|'.join(SERVICES)})\.[a-z-]+)", text):
            assert name in topics.ALL, f"topic {name} is not in contracts/topics.py"
    deployment = (ROOT / "docs/deployment.md").read_text()
    assert re.search(rf"\| topics \| {len(topics.ALL)} \(`contracts/topics.py`", deployment)
    assert f"`KAFKA_PARTITIONS={partitions}`" in deployment
    # the compose broker and the k8s configuration give the workers the same partition count
    compose_env = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["x-lanhmanh"]["environment"]
    assert int(compose_env["KAFKA_PARTITIONS"]) == partitions


def test_the_check_script_runs():
    import subprocess
    import sys

    out = subprocess.run([sys.executable, str(ROOT / "deploy/k8s/check.py")], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    assert shlex.split(out.stdout)[-1] == "ok"
