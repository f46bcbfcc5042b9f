"""Static checks of the Kubernetes manifests (no cluster needed): build an overlay with kustomize and
check that every service of pyproject.toml has what docs/deployment.md promises.

    python3 deploy/k8s/check.py [deploy/k8s/overlays/son-la]      (needs PyYAML, and `kustomize` or `kubectl`)
"""
from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def build(overlay: Path) -> list[dict]:
    if shutil.which("kustomize"):
        cmd = ["kustomize", "build", str(overlay)]
    elif shutil.which("kubectl"):
        cmd = ["kubectl", "kustomize", str(overlay)]
    else:
        sys.exit("neither kustomize nor kubectl is installed")
    return [d for d in yaml.safe_load_all(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout) if d]


def main(overlay: Path) -> int:
    services = list(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["entry-points"]["lanhmanh.services"])
    docs = build(overlay)
    by = {(d["kind"], d["metadata"]["name"]): d for d in docs}
    config = next(d["data"] for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"].startswith("lanhmanh-config"))
    errors: list[str] = []

    def check(cond: bool, what: str) -> None:
        if not cond:
            errors.append(what)

    check(config.get("EVENT_TRANSPORT") == "kafka" and config.get("LANHMANH_ENV") == "production", "config: production + kafka")
    partitions = int(config["KAFKA_PARTITIONS"])
    for svc in services:
        up = svc.upper()
        for kind, name in (("Deployment", f"{svc}-web"), ("Deployment", f"{svc}-worker"), ("Service", f"{svc}-web"),
                           ("Ingress", f"{svc}-web"), ("PodDisruptionBudget", f"{svc}-web"),
                           ("PodDisruptionBudget", f"{svc}-worker"), ("HorizontalPodAutoscaler", f"{svc}-worker")):
            check((kind, name) in by, f"{svc}: {kind} {name} missing")
        if errors:
            continue
        for role, cmd in (("web", ["lanhmanh", "serve", svc, "--bind", "0.0.0.0:8000", "--workers", "2"]),
                          ("worker", ["lanhmanh", "worker", svc, "--metrics-port", "9100"])):
            spec = by[("Deployment", f"{svc}-{role}")]["spec"]["template"]["spec"]
            sc = spec["securityContext"]
            check(sc.get("runAsNonRoot") and sc.get("runAsUser") == 10001, f"{svc}-{role}: non-root 10001")
            (init,) = spec["initContainers"]
            check(init["command"] == ["lanhmanh", "migrate", svc], f"{svc}-{role}: migrate init container")
            (main_c,) = spec["containers"]
            check(main_c["command"] == cmd, f"{svc}-{role}: command {main_c['command']}")
            for c in (init, main_c):
                env = {e["name"]: e for e in c["env"]}
                check(f"{up}_DATABASE_URL" in env and env[f"{up}_DATABASE_URL"]["value"].endswith(f"/{svc}"),
                      f"{svc}-{role}/{c['name']}: {up}_DATABASE_URL")
                check(env["DB_PASSWORD"]["valueFrom"]["secretKeyRef"]["name"] == f"lanhmanh-{svc}-db", f"{svc}: db Secret")
                check({"JWT_SECRET", "JWT_JWKS_URL"} <= env.keys(), f"{svc}-{role}/{c['name']}: JWT Secret refs")
                if svc == "support":
                    check({"SUPPORT_ENCRYPTION_KEYS", "SUPPORT_MATCH_KEY"} <= env.keys(), f"support/{c['name']}: vault keys")
                check(all(e.get("value") is None or "SERVICE" not in e["value"] for e in c["env"]), f"{svc}: template leftover")
                csc = c["securityContext"]
                check(csc.get("readOnlyRootFilesystem") and csc.get("allowPrivilegeEscalation") is False, f"{svc}: container securityContext")
                check({"requests", "limits"} <= c.get("resources", {}).keys(), f"{svc}-{role}/{c['name']}: resources")
            mounts = {m["mountPath"] for m in main_c["volumeMounts"]}
            check("/tmp" in mounts, f"{svc}-{role}: /tmp emptyDir")
            if role == "web":
                check({"/tmp/metrics", "/app/.gunicorn"} <= mounts, f"{svc}-web: metrics and gunicorn emptyDirs")
                env = {e["name"]: e.get("value") for e in main_c["env"]}
                check(env.get("PROMETHEUS_MULTIPROC_DIR") == "/tmp/metrics", f"{svc}-web: PROMETHEUS_MULTIPROC_DIR")
                check(main_c["livenessProbe"]["httpGet"]["path"] == f"/{svc}/healthz", f"{svc}-web: liveness")
                check(main_c["readinessProbe"]["httpGet"]["path"] == f"/{svc}/readyz", f"{svc}-web: readiness")
            else:
                check({"name": "METRICS_ADDR", "value": "0.0.0.0"} in main_c["env"], f"{svc}-worker: METRICS_ADDR")
                check("livenessProbe" in main_c, f"{svc}-worker: liveness")
        hpa = by[("HorizontalPodAutoscaler", f"{svc}-worker")]["spec"]
        check(hpa["scaleTargetRef"]["name"] == f"{svc}-worker", f"{svc}: HPA target")
        check(hpa["maxReplicas"] <= partitions, f"{svc}: HPA maxReplicas {hpa['maxReplicas']} > {partitions} partitions")
        path = by[("Ingress", f"{svc}-web")]["spec"]["rules"][0]["http"]["paths"][0]
        check(path["path"] == f"/{svc}/" and path["backend"]["service"]["name"] == f"{svc}-web", f"{svc}: Ingress")
        check(not any(d["kind"] == "Secret" for d in docs), "no Secret with values in the manifests")
    for e in errors:
        print("FAIL", e)
    print(f"{overlay}: {len(docs)} resources, {len(services)} services ({', '.join(services)}): "
          + ("ok" if not errors else f"{len(errors)} problem(s)"))
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "deploy/k8s/overlays/son-la"))
