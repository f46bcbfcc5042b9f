"""The app factory: the same URLs, docs, health checks, auth, errors, metrics and logs for every service.

* ``/<service>/v1/...``: resources (bearer token required)
* ``/<service>/openapi.json`` and ``/<service>/docs`` (Swagger UI, served locally)
* ``/<service>/healthz`` (alive) and ``/<service>/readyz`` (database and transport reachable)
* ``/metrics`` (Prometheus)
"""
from __future__ import annotations

import logging
import time

from flask import Flask, Response, current_app, g, jsonify, request, send_from_directory
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm.exc import StaleDataError
from werkzeug.exceptions import HTTPException

from chassis import db, errors, logs, metrics
from chassis.api import Api
from chassis.auth import AuthError, Forbidden, authenticate
from chassis.idempotency import Idempotency

log = logging.getLogger("lanhmanh.http")

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Resource-Policy": "same-origin",
}


def container():
    """The service's `Container`, for views."""
    return current_app.extensions["lanhmanh"]


def create_app(c) -> Flask:
    import swagger_ui_bundle

    service, config = c.service, c.config
    prefix = f"/{service.name}"
    app = Flask(service.name)
    app.extensions["lanhmanh"] = c
    app.config.update(
        API_TITLE=service.title,
        API_VERSION=service.version,
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX=prefix,
        OPENAPI_JSON_PATH="openapi.json",
        OPENAPI_SWAGGER_UI_PATH="/docs",
        OPENAPI_SWAGGER_UI_URL=f"{prefix}/docs/assets/",
        MAX_CONTENT_LENGTH=config.max_body_bytes,
        JSON_SORT_KEYS=False,
    )
    app.json.ensure_ascii = False  # Vietnamese stays readable: "Hồng", not "H\u1ed3ng"
    api = Api(app, spec_kwargs={
        "info": {"description": service.description},
        "components": {"securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}}},
        "security": [{"bearerAuth": []}],
    })
    for blueprint in service.blueprints:
        api.register_blueprint(blueprint, url_prefix=f"{prefix}/v1")

    idempotency = Idempotency(service.tables["idempotency_keys"], c.session_factory)

    @app.get(f"{prefix}/docs/assets/<path:filename>")
    def swagger_assets(filename):
        return send_from_directory(swagger_ui_bundle.swagger_ui_path, filename, max_age=86400)

    @app.get(f"{prefix}/healthz")
    def healthz():
        return jsonify(status="ok", service=service.name)

    @app.get(f"{prefix}/readyz")
    def readyz():
        checks = {"database": db.ping(c.engine), "events": c.transport.ping()}
        ok = all(checks.values())
        return jsonify(status="ready" if ok else "unavailable", checks=checks), 200 if ok else 503

    @app.get("/metrics")
    def prometheus():
        body, content_type = metrics.exposition()
        return Response(body, content_type=content_type)

    @app.before_request
    def start_request():
        g.started = time.perf_counter()
        logs.service_name.set(service.name)  # several services share a process in `make run`
        incoming = request.headers.get("X-Request-ID", "")
        logs.correlation_id.set(incoming[:100] if incoming else logs.new_correlation_id())
        if request.path.startswith(f"{prefix}/v1/"):
            g.principal = authenticate(c.authenticator)
            return idempotency.before(g.principal.sub)
        return None

    @app.after_request
    def finish_request(response: Response):
        response = idempotency.after(response)
        response.headers["X-Request-ID"] = logs.correlation_id.get() or ""
        for k, v in SECURITY_HEADERS.items():
            response.headers.setdefault(k, v)
        if request.path.startswith(f"{prefix}/v1/"):
            response.headers.setdefault("Cache-Control", "no-store")
        route = request.url_rule.rule if request.url_rule else "unmatched"
        elapsed = time.perf_counter() - g.get("started", time.perf_counter())
        metrics.HTTP_REQUESTS.labels(service.name, request.method, route, response.status_code).inc()
        metrics.HTTP_LATENCY.labels(service.name, request.method, route).observe(elapsed)
        log.info("request", extra={"method": request.method, "route": route, "status": response.status_code,
                                   "duration_ms": round(elapsed * 1000, 2)})
        return response

    @app.teardown_request
    def end_request(exc):
        idempotency.release()  # a request transaction the answer did not end (an exception) rolls back
        logs.service_name.set(None)

    app.register_error_handler(AuthError, lambda e: errors.problem_response(
        401, str(e), headers={"WWW-Authenticate": 'Bearer realm="lanhmanh"'}))
    app.register_error_handler(Forbidden, lambda e: errors.problem_response(403, str(e)))
    app.register_error_handler(errors.Problem, errors.from_problem)
    app.register_error_handler(OperationalError, _database_unavailable)
    app.register_error_handler(StaleDataError, lambda e: errors.problem_response(
        412, "the resource was changed by someone else; read it again and retry"))
    for exc_class, status in service.errors.items():
        app.register_error_handler(exc_class, _domain_handler(status))
    app.register_error_handler(HTTPException, errors.from_http_exception)
    app.register_error_handler(Exception, errors.from_unexpected)
    return app


def _database_unavailable(error: OperationalError):
    """The database is away (restarting, failing over): nothing was written; the client retries."""
    log.error("database unavailable", extra={"error": type(error.orig).__name__ if error.orig else "unknown"})
    return errors.problem_response(503, "The database is unavailable; nothing was recorded. Retry shortly.",
                                   headers={"Retry-After": "5"})


def _domain_handler(status: int):
    def handle(error: Exception):
        field = getattr(error, "field", None)
        found = [{"field": field, "location": "json", "message": str(error)}] if field else None
        return errors.problem_response(status, str(error), found)

    return handle
