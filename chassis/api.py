"""The project-wide flask-smorest base classes: `Api`, `Blueprint`, `Schema`, and helpers for
pagination, sorting and filtering that every collection uses the same way."""
from __future__ import annotations

import functools
import http

import marshmallow as ma
from flask_smorest import Api as _Api
from flask_smorest import Blueprint as _Blueprint
from flask_smorest.utils import prepare_response

from chassis import errors

MAX_PAGE_SIZE = 200
DEFAULT_PAGE_SIZE = 20
MAX_PAGE = 100_000  # page × page_size stays a number every database accepts as an OFFSET


class ProblemSchema(ma.Schema):
    """Documentation of the error payload (RFC 9457)."""

    type = ma.fields.String()
    title = ma.fields.String()
    title_vi = ma.fields.String()
    status = ma.fields.Integer()
    detail = ma.fields.String()
    instance = ma.fields.String()
    request_id = ma.fields.String()
    errors = ma.fields.List(ma.fields.Dict())


class Api(_Api):
    """flask-smorest's Api, answering every HTTP error with ``application/problem+json``
    and documenting it so."""

    ERROR_SCHEMA = ProblemSchema

    def handle_http_exception(self, error):
        return errors.from_http_exception(error)

    def _register_responses(self):
        for status in http.HTTPStatus:
            response = {"description": status.phrase}
            if status >= 400:
                response["schema"] = self.ERROR_SCHEMA
            prepare_response(response, self.spec, errors.PROBLEM_JSON if status >= 400 else "application/json")
            self.spec.components.response(status.name, response, lazy=True)
        response = {"description": "Default error response", "schema": self.ERROR_SCHEMA}
        prepare_response(response, self.spec, errors.PROBLEM_JSON)
        self.spec.components.response("DEFAULT_ERROR", response, lazy=True)


class Blueprint(_Blueprint):
    """flask-smorest's Blueprint with the project's paging limits."""

    def arguments(self, schema, *args, **kwargs):
        """flask-smorest's ``arguments``; a schema given as a class is made once, here (webargs
        would make one for every request: ~2 % of a registration's time in the web process)."""
        return super().arguments(schema() if isinstance(schema, type) else schema, *args, **kwargs)

    def paginate_query(self):
        """flask-smorest's ``paginate`` (``page``, ``page_size`` ≤ 200, ``X-Pagination``), refusing absurd pages."""
        paginate = self.paginate(page_size=DEFAULT_PAGE_SIZE, max_page_size=MAX_PAGE_SIZE)

        def decorator(view):
            @functools.wraps(view)
            def checked(*args, pagination_parameters, **kwargs):
                if pagination_parameters.page > MAX_PAGE:
                    raise errors.Problem(422, f"page must be at most {MAX_PAGE}", field="page", location="query")
                return view(*args, pagination_parameters=pagination_parameters, **kwargs)

            return paginate(checked)

        return decorator


class Schema(ma.Schema):
    """Request and response schemas reject unknown fields, naming them.

    A JSON body is typed strictly: a boolean field takes ``true``/``false`` only (not 0, 1 or
    "yes") and an integer field a JSON integer only (not 2.5, "3" or ``true``). Query strings,
    which are text by nature, keep marshmallow's usual conversions.
    """

    class Meta:
        unknown = ma.RAISE
        ordered = True

    @ma.pre_load
    def _strict_json_types(self, data, **kwargs):
        if type(data) is not dict:  # webargs hands query strings over as a MultiDict proxy
            return data
        problems = {}
        for name, field in self.load_fields.items():
            key = field.data_key or name
            value = data.get(key)
            if value is None:
                continue
            if isinstance(field, ma.fields.Boolean) and not isinstance(value, bool):
                problems[key] = ["Not a valid boolean: use true or false."]
            elif isinstance(field, ma.fields.Integer) and (isinstance(value, bool) or not isinstance(value, int)):
                problems[key] = ["Not a valid integer."]
        if problems:
            raise ma.ValidationError(problems)
        return data


def sort_field(*allowed: str, default: str):
    """A ``sort`` query argument: a field name, ``-name`` for descending."""
    choices = [*allowed, *(f"-{a}" for a in allowed)]
    return ma.fields.String(
        load_default=default, validate=ma.validate.OneOf(choices),
        metadata={"description": f"Sort by one of {', '.join(allowed)}; prefix with '-' for descending."},
    )


def order_by(columns: dict, sort: str, tiebreak):
    """SQLAlchemy ORDER BY clauses for a ``sort`` value, with a stable tiebreaker."""
    descending = sort.startswith("-")
    column = columns[sort.lstrip("-")]
    return [column.desc() if descending else column.asc(), tiebreak.asc()]
