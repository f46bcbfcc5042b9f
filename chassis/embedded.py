"""The embedded system of `make run`: every service in one process, on one port.

SQLite databases under ``var/``, the embedded event log in ``var/events.db``, every
service's relay and consumers on threads, and one WSGI app that routes ``/<service>/``
to that service's app, exactly the URLs of the distributed mode behind its gateway.
"""
from __future__ import annotations

from html import escape

from flask import Flask, Response

INDEX = """<!doctype html><html lang="vi"><head><meta charset="utf-8"><title>Lành Mạnh</title>
<style>body{{font-family:system-ui,sans-serif;max-width:48rem;margin:2rem auto;line-height:1.5}}
code{{background:#f3f3f3;padding:0 .25rem}}</style></head><body>
<h1>Lành Mạnh</h1>
<p>Hệ thống quản lý phòng, chống mại dâm — case management for the province's plan against prostitution.</p>
<h2>Dịch vụ / Services</h2><ul>{services}</ul>
<p>Lấy mã truy cập / get a token: <code>.venv/bin/lanhmanh token --role admin</code>,
then <b>Authorize</b> in the API docs.</p></body></html>"""


class Dispatcher:
    """Route ``/<service>/...`` to that service's WSGI app; everything else to the index app."""

    def __init__(self, apps: dict[str, Flask], index: Flask):
        self.apps = apps
        self.index = index

    def __call__(self, environ, start_response):
        first = environ.get("PATH_INFO", "/").lstrip("/").split("/", 1)[0]
        return self.apps.get(first, self.index)(environ, start_response)


def build_wsgi(containers: list) -> Dispatcher:
    apps = {c.service.name: c.create_app() for c in containers}
    index = Flask("lanhmanh")
    items = "".join(
        f'<li><b>{escape(c.service.title)}</b> — <a href="/{c.service.name}/docs">/{c.service.name}/docs</a> '
        f'(<a href="/{c.service.name}/openapi.json">OpenAPI</a>)'
        + (f' — <a href="{c.service.ui}">{escape(c.service.ui)}</a>' if c.service.ui else "") + "</li>"
        for c in containers
    )

    @index.get("/")
    def home():
        return Response(INDEX.format(services=items), mimetype="text/html")

    first = next(iter(apps.values()))
    index.add_url_rule("/metrics", "metrics", first.view_functions["prometheus"])
    return Dispatcher(apps, index)
