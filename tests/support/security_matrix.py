"""The access matrix as data: every endpoint of every service × every role × district claim.

This module is the single source of truth for ``docs/security.md`` (its table is generated from
``markdown_table()`` and a test checks that they match) and for ``tests/unit/test_security_matrix.py``
(which calls every cell). The designed answers come from each service's README ("who may call
what") and the product brief's access rules:

* a district officer sees that district (and changes nothing outside it);
* a reporting consumer sees aggregates only;
* a culture inspector does not see criminal-case details;
* nobody outside social affairs sees a supported person's identity.

Outcomes (per role and per district variant):

``A``    allowed: the role gate and the district scope let the request through (any answer but 401/403/404/5xx)
``F``    allowed, filtered: 200, but the district-116 resource is not in the answer
``403``  denied: valid token, the role may not do this, or (writes) the resource or the new one is in another district
``404``  hidden: the resource exists in district 116 but is outside the caller's district (reads)
``401``  no (valid) token — every ``/v1/`` endpoint, for every role

District variants: ``-`` no district claim, ``116`` a claim for the resource's district (Thành phố Sơn La),
``118`` a claim for another district (Quỳnh Nhai). Every resource the matrix touches lives in district 116.
"""
from __future__ import annotations

from dataclasses import dataclass

ROLES = ("admin", "police", "culture_inspector", "social_worker", "reporting_consumer")
DISTRICTS = (None, "116", "118")
HOME, OTHER = "116", "118"

EVERY = ROLES
WRITERS = ("admin", "police", "culture_inspector")
POLICE = ("admin", "police")
SOCIAL = ("admin", "social_worker")
REPORT_WRITERS = ("admin", "culture_inspector", "social_worker")


@dataclass(frozen=True)
class Endpoint:
    service: str
    method: str
    path: str                  # as in the service's OpenAPI document
    roles: tuple[str, ...]     # roles that pass the gate
    scope: str                 # how a district claim acts: global | list | item | create | province
    why: str = ""              # the rule, in a few words (README / brief)
    other: str | None = None   # the answer for a claim of another district, when it is not the scope's default

    @property
    def key(self) -> str:
        return f"{self.method} {self.path}"

    def expected(self, role: str, district: str | None) -> str:
        if role not in self.roles:
            return "403"
        if self.scope == "province":
            return "A" if district is None else "403"
        if district is None or district == HOME or self.scope == "global":
            return "A"
        if self.other:
            return self.other
        if self.scope == "item" and self.method != "GET":
            return "403"  # the handler's require_district refuses the change
        return {"list": "F", "item": "404", "create": "403"}[self.scope]


E = Endpoint
ENDPOINTS: tuple[Endpoint, ...] = (
    # -- registry: every role reads the register (owner's name only for writers); writers change it ---------
    E("registry", "GET", "/registry/v1/establishments", EVERY, "list", "every role; a claim limits the list"),
    E("registry", "POST", "/registry/v1/establishments", WRITERS, "create", "writers, in their district"),
    E("registry", "GET", "/registry/v1/establishments/{establishment_id}", EVERY, "item", "every role; outside the claim 404"),
    E("registry", "PATCH", "/registry/v1/establishments/{establishment_id}", WRITERS, "item", "writers, If-Match"),
    E("registry", "POST", "/registry/v1/establishments/{establishment_id}/status", WRITERS, "item", "writers"),
    E("registry", "POST", "/registry/v1/establishments/{establishment_id}/reviews", WRITERS, "item", "writers"),
    # -- inspection: police, culture inspectors, admin; the catalogue for every role -------------------------
    E("inspection", "GET", "/inspection/v1/plans", WRITERS, "list", "inspectors; a claim limits the list"),
    E("inspection", "POST", "/inspection/v1/plans", WRITERS, "create", "province plans only without a claim"),
    E("inspection", "GET", "/inspection/v1/plans/{plan_id}", WRITERS, "item", "inspectors"),
    E("inspection", "GET", "/inspection/v1/plans/{plan_id}/visits", WRITERS, "item", "inspectors"),
    E("inspection", "GET", "/inspection/v1/inspections", WRITERS, "list", "inspectors"),
    E("inspection", "POST", "/inspection/v1/inspections", WRITERS, "create", "inspectors, in their district"),
    E("inspection", "GET", "/inspection/v1/inspections/{inspection_id}", WRITERS, "item", "inspectors"),
    E("inspection", "PATCH", "/inspection/v1/inspections/{inspection_id}", WRITERS, "item", "inspectors, If-Match"),
    E("inspection", "POST", "/inspection/v1/inspections/{inspection_id}/result", WRITERS, "item", "inspectors"),
    E("inspection", "GET", "/inspection/v1/checklists", EVERY, "global", "every role (reference data)"),
    E("inspection", "GET", "/inspection/v1/violation-codes", EVERY, "global", "every role (reference data)"),
    # -- cases: police and admin; culture inspectors only see whether their referral was handled -------------
    E("cases", "GET", "/cases/v1/tips", POLICE, "list", "police, admin"),
    E("cases", "POST", "/cases/v1/tips", POLICE, "create", "police, admin"),
    E("cases", "GET", "/cases/v1/tips/overdue", POLICE, "list", "police, admin"),
    E("cases", "GET", "/cases/v1/tips/{tip_id}", POLICE, "item", "police, admin"),
    E("cases", "POST", "/cases/v1/tips/{tip_id}/verification", POLICE, "item", "police, admin"),
    E("cases", "POST", "/cases/v1/tips/{tip_id}/classification", POLICE, "item", "police, admin"),
    E("cases", "POST", "/cases/v1/tips/{tip_id}/handling", POLICE, "item", "police, admin"),
    E("cases", "GET", "/cases/v1/referrals/{referral_id}", ("admin", "police", "culture_inspector"), "item",
      "the referral's outcome only: culture inspectors too"),
    E("cases", "GET", "/cases/v1/cases", POLICE, "list", "no criminal-case details for culture inspectors"),
    E("cases", "POST", "/cases/v1/cases", POLICE, "create", "police, admin"),
    E("cases", "GET", "/cases/v1/cases/overdue", POLICE, "list", "police, admin"),
    E("cases", "GET", "/cases/v1/cases/{case_id}", POLICE, "item", "suspects' identities for police only"),
    E("cases", "POST", "/cases/v1/cases/{case_id}/stages", POLICE, "item", "police, admin"),
    E("cases", "POST", "/cases/v1/cases/{case_id}/suspects", ("police",), "item", "police only (identities)"),
    E("cases", "POST", "/cases/v1/cases/{case_id}/victims", POLICE, "item", "police, admin"),
    E("cases", "GET", "/cases/v1/hotspots", POLICE, "list", "police, admin"),
    E("cases", "POST", "/cases/v1/hotspots", POLICE, "create", "police, admin"),
    E("cases", "GET", "/cases/v1/hotspots/{hotspot_id}", POLICE, "item", "police, admin"),
    E("cases", "POST", "/cases/v1/hotspots/{hotspot_id}/elimination", POLICE, "item", "police, admin"),
    E("cases", "POST", "/cases/v1/hotspots/{hotspot_id}/recurrence", POLICE, "item", "police, admin"),
    # -- support: social workers and admin only; identities shown to the person's district and admins --------
    E("support", "GET", "/support/v1/persons", SOCIAL, "list", "pseudonymous list"),
    E("support", "POST", "/support/v1/persons", SOCIAL, "create", "first contact, in the district"),
    E("support", "GET", "/support/v1/persons/{person_id}", SOCIAL, "item",
      "identity: own district, else break-the-glass with a reason (audited)", other="403"),
    E("support", "PATCH", "/support/v1/persons/{person_id}", SOCIAL, "item", "identity correction, audited"),
    E("support", "POST", "/support/v1/persons/{person_id}/consents", SOCIAL, "item", "social affairs"),
    E("support", "POST", "/support/v1/persons/{person_id}/consents/withdrawal", SOCIAL, "item", "social affairs"),
    E("support", "POST", "/support/v1/persons/{person_id}/merge", SOCIAL, "item", "social affairs"),
    E("support", "GET", "/support/v1/referrals", SOCIAL, "list", "social affairs"),
    E("support", "POST", "/support/v1/referrals", SOCIAL, "create", "walk-in or NGO referral"),
    E("support", "GET", "/support/v1/referrals/{referral_id}", SOCIAL, "item", "social affairs"),
    E("support", "POST", "/support/v1/referrals/{referral_id}/decision", SOCIAL, "item", "social affairs"),
    E("support", "GET", "/support/v1/cases", SOCIAL, "list", "social affairs"),
    E("support", "POST", "/support/v1/cases", SOCIAL, "create", "for a consenting person of the district"),
    E("support", "GET", "/support/v1/cases/{case_id}", SOCIAL, "item", "social affairs"),
    E("support", "PATCH", "/support/v1/cases/{case_id}", SOCIAL, "item", "social affairs, If-Match"),
    E("support", "POST", "/support/v1/cases/{case_id}/services", SOCIAL, "item", "social affairs"),
    E("support", "POST", "/support/v1/cases/{case_id}/services/{service_id}/completion", SOCIAL, "item", "social affairs"),
    E("support", "POST", "/support/v1/cases/{case_id}/tasks", SOCIAL, "item", "social affairs"),
    E("support", "POST", "/support/v1/cases/{case_id}/tasks/{task_id}/completion", SOCIAL, "item", "social affairs"),
    E("support", "POST", "/support/v1/cases/{case_id}/closure", SOCIAL, "item", "social affairs"),
    E("support", "GET", "/support/v1/tasks", SOCIAL, "list", "the district's follow-ups"),
    E("support", "GET", "/support/v1/audit", ("admin",), "global", "admin only"),
    E("support", "POST", "/support/v1/maintenance/key-rotation", ("admin",), "global", "admin only"),
    E("support", "POST", "/support/v1/maintenance/retention", ("admin",), "global", "admin only"),
    # -- reporting: aggregates for every role, district-scoped; commune reports written by communes ----------
    E("reporting", "GET", "/reporting/v1/indicators", EVERY, "item", "aggregates; a claim limits the units"),
    E("reporting", "GET", "/reporting/v1/indicators/export.csv", EVERY, "item", "aggregates"),
    E("reporting", "GET", "/reporting/v1/indicators/export.xlsx", EVERY, "item", "aggregates"),
    E("reporting", "GET", "/reporting/v1/official-reports/{period}.xlsx", EVERY, "item", "aggregates"),
    E("reporting", "GET", "/reporting/v1/support-indicators", EVERY, "list", "counts, small ones hidden"),
    E("reporting", "GET", "/reporting/v1/indicators/trend", EVERY, "item", "aggregates"),
    E("reporting", "GET", "/reporting/v1/org-units", EVERY, "item", "units below a unit"),
    E("reporting", "GET", "/reporting/v1/commune-reports", EVERY, "list", "read: every role, district-scoped"),
    E("reporting", "POST", "/reporting/v1/commune-reports", REPORT_WRITERS, "create", "communes' officers"),
    E("reporting", "GET", "/reporting/v1/commune-reports/{report_id}", EVERY, "item", "read: every role"),
    E("reporting", "PATCH", "/reporting/v1/commune-reports/{report_id}", REPORT_WRITERS, "item", "If-Match"),
    E("reporting", "POST", "/reporting/v1/commune-reports/{report_id}/submit", REPORT_WRITERS, "item", "the commune"),
    E("reporting", "POST", "/reporting/v1/commune-reports/{report_id}/approve", REPORT_WRITERS, "item",
      "the district, not the submitter"),
    E("reporting", "POST", "/reporting/v1/commune-reports/{report_id}/unlock", ("admin",), "province",
      "the province: admin without a claim"),
    E("reporting", "GET", "/reporting/v1/plans", EVERY, "global", "targets are public to every role"),
    E("reporting", "GET", "/reporting/v1/plans/{plan_id}", EVERY, "global", "targets"),
    E("reporting", "PUT", "/reporting/v1/plans/{plan_id}", ("admin",), "global", "admin, If-Match"),
    E("reporting", "GET", "/reporting/v1/admin/projection", EVERY, "global", "projection lag"),
    E("reporting", "POST", "/reporting/v1/admin/rebuild", ("admin",), "province", "admin without a claim"),
)


def cells():
    """Every (endpoint, role, district, expected outcome)."""
    for endpoint in ENDPOINTS:
        for role in ROLES:
            for district in DISTRICTS:
                yield endpoint, role, district, endpoint.expected(role, district)


def markdown_table() -> str:
    """The matrix as the Markdown table of docs/security.md: each cell is ``no claim / 116 / 118``."""
    lines = ["| service | endpoint | " + " | ".join(ROLES) + " |",
             "|---|---|" + "---|" * len(ROLES)]
    for e in ENDPOINTS:
        row = [" / ".join(e.expected(role, d) for d in DISTRICTS) for role in ROLES]
        lines.append(f"| {e.service} | `{e.method} {e.path}` | " + " | ".join(row) + " |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":  # python -m tests.support.security_matrix > table.md
    print(markdown_table(), end="")
