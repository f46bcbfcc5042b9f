"""Static checks of the Kubernetes manifests (no cluster needed): build an overlay with kustomize and
check that every service of pyproject.toml has what docs/deployment.md promises.

    python3 deploy/k8s/check.py [deploy/k8s/overlays/son-la]      (needs PyYAML, and Go or KUSTOMIZE=...)

The manifests are built by the pinned kustomize of deploy/scripts/kustomize.sh (built with Go on first
use). tests/unit/test_deploy_static.py runs the same checks as part of `make test`.
"""
from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
KUSTOMIZE = ROOT / "deploy/scripts/kustomize.sh"
OVERLAY = ROOT / "deploy/k8s/overlays/son-la"

#: The ports of the CLI's commands as deployed: `lanhmanh serve --bind 0.0.0.0:8000`, `lanhmanh worker
#: --metrics-port 9100` (chassis/cli.py; deploy/Dockerfile EXPOSEs both).
WEB_PORT = 8000
METRICS_PORT = 9100


def web_command(svc: str) -> list[str]:
    return ["lanhmanh", "serve", svc, "--bind", f"0.0.0.0:{WEB_PORT}", "--workers", "2"]


def worker_command(svc: str) -> list[str]:
    return ["lanhmanh", "worker", svc, "--metrics-port", str(METRICS_PORT)]


def migrate_command(svc: str) -> list[str]:
    return ["lanhmanh", "migrate", svc]


def services() -> list[str]:
    """The services declared in pyproject.toml (installed ones: chassis.service.installed())."""
    return sorted(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["entry-points"]["lanhmanh.services"])


def build(path: Path) -> list[dict]:
    """`kustomize build path`, parsed."""
    out = subprocess.run(["bash", str(KUSTOMIZE), "build", str(path)], check=True, capture_output=True, text=True)
    return [d for d in yaml.safe_load_all(out.stdout) if d]


def check_manifests(docs: list[dict], svcs: list[str]) -> list[str]:
    """What is wrong with the built manifests `docs` for the services `svcs` (empty: nothing)."""
    errors: list[str] = []

    def check(cond, what: str) -> None:
        if not cond:
            errors.append(what)

    by = {(d["kind"], d["metadata"]["name"]): d for d in docs}
    configs = [d["data"] for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"].startswith("lanhmanh-config")]
    check(len(configs) == 1, "exactly one ConfigMap lanhmanh-config")
    if not configs:
        return errors
    config = configs[0]
    check(config.get("EVENT_TRANSPORT") == "kafka" and config.get("LANHMANH_ENV") == "production", "config: production + kafka")
    partitions = int(config["KAFKA_PARTITIONS"])
    replication = int(config["KAFKA_REPLICATION_FACTOR"])
    check(not any(d["kind"] == "Secret" for d in docs), "no Secret with values in the manifests")
    check(not any(d["kind"] == "ConfigMap" and d["metadata"]["name"].endswith("lanhmanh-service") for d in docs),
          "the template's local ConfigMap lanhmanh-service is not applied")
    for svc in svcs:
        up = svc.upper()
        missing = [f"{kind} {name}" for kind, name in (
            ("Deployment", f"{svc}-web"), ("Deployment", f"{svc}-worker"), ("Service", f"{svc}-web"),
            ("Ingress", f"{svc}-web"), ("PodDisruptionBudget", f"{svc}-web"),
            ("PodDisruptionBudget", f"{svc}-worker"), ("HorizontalPodAutoscaler", f"{svc}-worker"))
            if (kind, name) not in by]
        if missing:
            errors.extend(f"{svc}: {m} missing" for m in missing)
            continue
        for role, cmd, port in (("web", web_command(svc), WEB_PORT), ("worker", worker_command(svc), METRICS_PORT)):
            deployment = by[("Deployment", f"{svc}-{role}")]
            template = deployment["spec"]["template"]
            spec = template["spec"]
            sc = spec.get("securityContext", {})
            check(sc.get("runAsNonRoot") and sc.get("runAsUser") == 10001, f"{svc}-{role}: non-root 10001")
            check(sc.get("seccompProfile", {}).get("type") == "RuntimeDefault", f"{svc}-{role}: seccomp RuntimeDefault")
            check(spec.get("automountServiceAccountToken") is False, f"{svc}-{role}: no service-account token")
            labels = template["metadata"]["labels"]
            check(labels.get("app.kubernetes.io/name") == svc and labels.get("app.kubernetes.io/component") == role,
                  f"{svc}-{role}: pod labels")
            check(deployment["spec"]["selector"]["matchLabels"].items() <= labels.items(), f"{svc}-{role}: selector")
            ann = template["metadata"].get("annotations", {})
            check(ann.get("prometheus.io/scrape") == "true" and ann.get("prometheus.io/port") == str(port),
                  f"{svc}-{role}: prometheus.io annotations on port {port}")
            inits = spec.get("initContainers", [])
            check(len(inits) == 1 and inits[0]["command"] == migrate_command(svc), f"{svc}-{role}: migrate init container")
            mains = spec.get("containers", [])
            check(len(mains) == 1, f"{svc}-{role}: one container")
            if len(inits) != 1 or len(mains) != 1:
                continue
            init, main_c = inits[0], mains[0]
            check(main_c["command"] == cmd, f"{svc}-{role}: command {main_c['command']}")
            ports = {p.get("name"): p["containerPort"] for p in main_c.get("ports", [])}
            check(ports == {"http" if role == "web" else "metrics": port}, f"{svc}-{role}: container port {ports}")
            for c in (init, main_c):
                env = {e["name"]: e for e in c.get("env", [])}
                url = env.get(f"{up}_DATABASE_URL", {}).get("value") or ""
                check(url.startswith("postgresql+psycopg://") and url.endswith(f"/{svc}"),
                      f"{svc}-{role}/{c['name']}: {up}_DATABASE_URL")
                for var in ("DB_USER", "DB_PASSWORD"):
                    ref = env.get(var, {}).get("valueFrom", {}).get("secretKeyRef", {})
                    check(ref.get("name") == f"lanhmanh-{svc}-db", f"{svc}-{role}/{c['name']}: {var} from Secret lanhmanh-{svc}-db")
                check({"JWT_SECRET", "JWT_JWKS_URL"} <= env.keys(), f"{svc}-{role}/{c['name']}: JWT Secret refs")
                if svc == "support":
                    check({"SUPPORT_ENCRYPTION_KEYS", "SUPPORT_MATCH_KEY"} <= env.keys(), f"support-{role}/{c['name']}: vault keys")
                check(all("SERVICE" not in (e.get("value") or "") and "SERVICE" not in e["name"]
                          and "SERVICE" not in e.get("valueFrom", {}).get("secretKeyRef", {}).get("name", "")
                          for e in c.get("env", [])), f"{svc}-{role}/{c['name']}: template leftover")
                check(any(f.get("configMapRef", {}).get("name", "").startswith("lanhmanh-config") for f in c.get("envFrom", [])),
                      f"{svc}-{role}/{c['name']}: envFrom lanhmanh-config")
                csc = c.get("securityContext", {})
                check(csc.get("readOnlyRootFilesystem") and csc.get("allowPrivilegeEscalation") is False
                      and csc.get("capabilities", {}).get("drop") == ["ALL"], f"{svc}-{role}/{c['name']}: container securityContext")
                res = c.get("resources", {})
                check({"requests", "limits"} <= res.keys() and {"cpu", "memory"} <= res["requests"].keys()
                      and "memory" in res["limits"], f"{svc}-{role}/{c['name']}: resources")
            mounts = {m["mountPath"] for m in main_c.get("volumeMounts", [])}
            check("/tmp" in mounts, f"{svc}-{role}: /tmp emptyDir")
            if role == "web":
                check({"/tmp/metrics", "/app/.gunicorn"} <= mounts, f"{svc}-web: metrics and gunicorn emptyDirs")
                env = {e["name"]: e.get("value") for e in main_c.get("env", [])}
                check(env.get("PROMETHEUS_MULTIPROC_DIR") == "/tmp/metrics", f"{svc}-web: PROMETHEUS_MULTIPROC_DIR")
                for probe, path in (("startupProbe", "healthz"), ("livenessProbe", "healthz"), ("readinessProbe", "readyz")):
                    get = main_c.get(probe, {}).get("httpGet", {})
                    check(get.get("path") == f"/{svc}/{path}" and get.get("port") in ("http", WEB_PORT),
                          f"{svc}-web: {probe} on /{svc}/{path}")
            else:
                check({"name": "METRICS_ADDR", "value": "0.0.0.0"} in main_c.get("env", []), f"{svc}-worker: METRICS_ADDR")
                get = main_c.get("livenessProbe", {}).get("httpGet", {})
                check(get.get("path") == "/metrics" and get.get("port") in ("metrics", METRICS_PORT), f"{svc}-worker: liveness")
                check("replicas" not in deployment["spec"], f"{svc}-worker: replicas left to the HPA")
        service = by[("Service", f"{svc}-web")]["spec"]
        check(service["selector"].get("app.kubernetes.io/name") == svc
              and service["selector"].get("app.kubernetes.io/component") == "web", f"{svc}: Service selector")
        check([(p["name"], p["port"], p["targetPort"]) for p in service["ports"]] == [("http", WEB_PORT, "http")],
              f"{svc}: Service port {WEB_PORT} -> http")
        for role in ("web", "worker"):
            pdb = by[("PodDisruptionBudget", f"{svc}-{role}")]["spec"]
            check(pdb["selector"]["matchLabels"] == {"app.kubernetes.io/name": svc, "app.kubernetes.io/component": role},
                  f"{svc}: PodDisruptionBudget {role} selector")
        check(by[("PodDisruptionBudget", f"{svc}-web")]["spec"].get("minAvailable") == 1, f"{svc}: web PDB minAvailable 1")
        hpa = by[("HorizontalPodAutoscaler", f"{svc}-worker")]["spec"]
        check(hpa["scaleTargetRef"]["name"] == f"{svc}-worker" and hpa["scaleTargetRef"]["kind"] == "Deployment",
              f"{svc}: HPA target")
        check(1 <= hpa["minReplicas"] <= hpa["maxReplicas"] <= partitions,
              f"{svc}: HPA {hpa['minReplicas']}..{hpa['maxReplicas']} not within 1..{partitions} partitions")
        rules = by[("Ingress", f"{svc}-web")]["spec"]["rules"]
        paths = [p for r in rules for p in r["http"]["paths"]]
        check([(p["path"], p["pathType"], p["backend"]["service"]["name"], p["backend"]["service"]["port"].get("name"))
               for p in paths] == [(f"/{svc}/", "Prefix", f"{svc}-web", "http")], f"{svc}: Ingress /{svc}/ -> {svc}-web:http")
        check(f"{svc}-web" in {d["metadata"]["name"] for d in docs if d["kind"] == "Deployment"}, f"{svc}: web Deployment")

    # Strimzi and CloudNativePG resources, when the overlay includes infra/
    for d in docs:
        if d["kind"] == "Kafka":
            cfg = d["spec"]["kafka"]["config"]
            check(cfg.get("auto.create.topics.enable") is False, "Kafka: auto.create.topics.enable false (the workers create topics)")
            check(cfg.get("default.replication.factor") == replication, "Kafka: default.replication.factor = KAFKA_REPLICATION_FACTOR")
            check(cfg.get("min.insync.replicas", 1) < replication or replication == 1, "Kafka: min.insync.replicas below the replication factor")
            check(cfg.get("log.retention.ms") == -1, "Kafka: unlimited retention (reporting rebuilds replay the topics)")
            check(cfg.get("offsets.retention.minutes", 10080) >= 525600,
                  "Kafka: offsets.retention.minutes a year or more (a stopped group keeps its place)")
            ports = [listener["port"] for listener in d["spec"]["kafka"]["listeners"]]
            check(config["KAFKA_BOOTSTRAP_SERVERS"] == f"{d['metadata']['name']}-kafka-bootstrap:{ports[0]}",
                  "KAFKA_BOOTSTRAP_SERVERS = the Strimzi bootstrap Service")
        if d["kind"] == "KafkaNodePool":
            check("broker" not in d["spec"]["roles"] or d["spec"]["replicas"] >= replication,
                  f"KafkaNodePool {d['metadata']['name']}: fewer brokers than KAFKA_REPLICATION_FACTOR")
        if d["kind"] == "Cluster" and d["apiVersion"].startswith("postgresql.cnpg.io"):
            roles = {r["name"]: r["passwordSecret"]["name"] for r in d["spec"]["managed"]["roles"]}
            for svc in svcs:
                check(roles.get(svc) == f"lanhmanh-{svc}-db", f"{svc}: CloudNativePG role with Secret lanhmanh-{svc}-db")
    databases = {(d["spec"]["name"], d["spec"]["owner"]) for d in docs if d["kind"] == "Database"}
    if any(d["kind"] == "Cluster" for d in docs):
        for svc in svcs:
            check((svc, svc) in databases, f"{svc}: CloudNativePG Database {svc} owned by {svc}")
        pooler = [d for d in docs if d["kind"] == "Pooler"]
        check(pooler and config["LANHMANH_DB_HOST"] == pooler[0]["metadata"]["name"], "LANHMANH_DB_HOST = the Pooler")
    return errors


def check_topics(docs: list[dict], topics: tuple[str, ...], partitions: int, replication: int) -> list[str]:
    """KafkaTopic resources, if any, name topics of contracts/topics.py with the configured partitions."""
    errors = []
    for d in docs:
        if d["kind"] == "KafkaTopic":
            name = d["spec"].get("topicName", d["metadata"]["name"])
            if name not in topics:
                errors.append(f"KafkaTopic {name}: not a topic of contracts/topics.py")
            if d["spec"].get("partitions") != partitions or d["spec"].get("replicas") != replication:
                errors.append(f"KafkaTopic {name}: partitions/replicas differ from KAFKA_PARTITIONS/KAFKA_REPLICATION_FACTOR")
    return errors


def main(overlay: Path) -> int:
    svcs = services()
    docs = build(overlay)
    errors = check_manifests(docs, svcs)
    for e in errors:
        print("FAIL", e)
    print(f"{overlay}: {len(docs)} resources, {len(svcs)} services ({', '.join(svcs)}): "
          + ("ok" if not errors else f"{len(errors)} problem(s)"))
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]) if len(sys.argv) > 1 else OVERLAY))
