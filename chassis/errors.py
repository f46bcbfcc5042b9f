"""One error payload for every service: RFC 9457 ``application/problem+json``.

``{"type", "title", "status", "detail", "instance", "errors": [{"field", "location",
"message"}], "request_id"}``. Validation errors name each offending field with its
dotted path (``reviews.0.period``). An unexpected exception is logged with its trace
and answered with a bare 500 problem that reveals nothing.
"""
from __future__ import annotations

import logging

from flask import jsonify, request
from werkzeug.exceptions import HTTPException

from chassis import logs

log = logging.getLogger(__name__)
PROBLEM_JSON = "application/problem+json"

TITLES_VI = {
    400: "Yêu cầu không hợp lệ", 401: "Chưa xác thực", 403: "Không có quyền", 404: "Không tìm thấy",
    405: "Phương thức không được hỗ trợ", 409: "Xung đột", 412: "Dữ liệu đã bị thay đổi",
    413: "Dữ liệu quá lớn", 415: "Kiểu dữ liệu không được hỗ trợ", 422: "Dữ liệu không hợp lệ",
    428: "Thiếu điều kiện If-Match", 429: "Quá nhiều yêu cầu", 500: "Lỗi hệ thống", 503: "Dịch vụ tạm ngừng",
}
TITLES = {413: "Content Too Large", 422: "Unprocessable Content"}


class Problem(Exception):
    """Raise from anywhere in a request to answer with a problem document."""

    def __init__(self, status: int, detail: str, field: str | None = None, location: str = "json",
                 type_: str | None = None, headers: dict | None = None):
        super().__init__(detail)
        self.status, self.detail, self.field, self.location = status, detail, field, location
        self.type, self.headers = type_, headers or {}


def flatten(messages, location: str | None = None, prefix: str = "") -> list[dict]:
    """Turn marshmallow/webargs nested messages into ``[{field, location, message}]``."""
    out: list[dict] = []
    if isinstance(messages, dict):
        for key, value in messages.items():
            if location is None and key in ("json", "query", "headers", "path", "form", "files", "cookies"):
                out += flatten(value, key, "")
            else:
                name = prefix if key == "_schema" else (f"{prefix}.{key}" if prefix else str(key))
                out += flatten(value, location, name)
    elif isinstance(messages, (list, tuple)):
        if all(isinstance(m, str) for m in messages):
            out += [{"field": prefix or None, "location": location or "json", "message": m} for m in messages]
        else:
            for m in messages:
                out += flatten(m, location, prefix)
    else:
        out.append({"field": prefix or None, "location": location or "json", "message": str(messages)})
    return out


def problem_response(status: int, detail: str | None = None, errors: list[dict] | None = None,
                     type_: str | None = None, title: str | None = None, headers: dict | None = None):
    from werkzeug.http import HTTP_STATUS_CODES

    body = {
        "type": type_ or "about:blank",
        "title": title or TITLES.get(status) or HTTP_STATUS_CODES.get(status, "Error"),
        "title_vi": TITLES_VI.get(status),
        "status": status,
        "detail": detail,
        "instance": request.path,
        "request_id": logs.correlation_id.get(),
    }
    if errors:
        body["errors"] = errors
        if not detail:
            named = [e["field"] for e in errors if e.get("field")]
            body["detail"] = ("Invalid fields: " + ", ".join(dict.fromkeys(named))) if named else errors[0]["message"]
    response = jsonify({k: v for k, v in body.items() if v is not None})
    response.status_code = status
    response.mimetype = PROBLEM_JSON
    for k, v in (headers or {}).items():
        response.headers[k] = v
    return response


def from_http_exception(error: HTTPException):
    data = getattr(error, "data", None) or {}
    messages = data.get("errors") or data.get("messages")
    errors = flatten(messages) if messages else None
    detail = data.get("message") or (None if errors else error.description)
    if error.code == 400 and errors and any("Invalid JSON" in e["message"] for e in errors):
        detail = "The request body is not valid JSON."
    # Keep what the exception says in its own headers (e.g. ``Allow`` on a 405).
    headers = {k: v for k, v in error.get_headers() if k.lower() != "content-type"}
    headers.update(data.get("headers") or {})
    return problem_response(error.code or 500, detail, errors, headers=headers)


def from_problem(problem: Problem):
    errors = [{"field": problem.field, "location": problem.location, "message": problem.detail}] if problem.field else None
    return problem_response(problem.status, problem.detail, errors, type_=problem.type, headers=problem.headers)


def from_unexpected(error: Exception):
    if isinstance(error, HTTPException):
        return from_http_exception(error)
    log.exception("unhandled error", extra={"path": request.path})
    return problem_response(500, "An unexpected error occurred; it has been logged with this request's id.")
