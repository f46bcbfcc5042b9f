"""Bearer JWT authentication, roles, and the district scope.

Tokens carry ``sub``, ``roles`` (a list) and optionally ``district`` (a GSO district
code that limits the user to that district's communes, on reads and on writes).
Locally they are HS256 with ``JWT_SECRET``; with ``JWT_JWKS_URL`` they are RS256 from
an identity provider such as Keycloak, whose keys are fetched and rotated from the
JWKS document (an unknown ``kid`` triggers a refetch, so rotation needs no restart).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from functools import wraps

import jwt
from flask import g, request

ADMIN = "admin"
POLICE = "police"
CULTURE_INSPECTOR = "culture_inspector"
SOCIAL_WORKER = "social_worker"
REPORTING_CONSUMER = "reporting_consumer"
ROLES = (ADMIN, POLICE, CULTURE_INSPECTOR, SOCIAL_WORKER, REPORTING_CONSUMER)


class AuthError(Exception):
    """401: no valid credentials."""


class Forbidden(Exception):
    """403: valid credentials, not allowed."""


@dataclass(frozen=True)
class Principal:
    sub: str
    roles: frozenset[str] = field(default_factory=frozenset)
    district: str | None = None

    def has_any(self, *roles: str) -> bool:
        return bool(self.roles.intersection(roles))

    def may_access_district(self, district_code: str | None) -> bool:
        """A user with a district claim sees and changes that district only."""
        return self.district is None or self.district == district_code

    def require_district(self, district_code: str | None) -> None:
        if not self.may_access_district(district_code):
            raise Forbidden(f"your account is limited to district {self.district}")


class Authenticator:
    def __init__(self, secret: str | None, jwks_url: str | None, audience: str, issuer: str | None = None):
        self.secret = secret
        self.audience = audience
        self.issuer = issuer
        # The key set is cached for 5 minutes (a withdrawn key stops working within that time); an
        # unknown key id refetches it at once, so a rotated key works without a restart.
        self.jwks = (jwt.PyJWKClient(jwks_url, cache_jwk_set=True, lifespan=300, cache_keys=False,
                                     cooldown_duration=0) if jwks_url else None)

    @classmethod
    def from_config(cls, config) -> "Authenticator":
        return cls(config.jwt_secret, config.jwt_jwks_url, config.jwt_audience, config.jwt_issuer)

    def decode(self, token: str) -> Principal:
        try:
            header = jwt.get_unverified_header(token)
            alg = header.get("alg")
            if alg == "HS256" and self.secret:
                key, algorithms = self.secret, ["HS256"]
            elif alg == "RS256" and self.jwks:
                key, algorithms = self.jwks.get_signing_key_from_jwt(token).key, ["RS256"]
            else:
                raise AuthError(f"token algorithm {alg!r} is not accepted")
            claims = jwt.decode(
                token, key, algorithms=algorithms, audience=self.audience, issuer=self.issuer,
                options={"require": ["exp", "sub"]}, leeway=30,
            )
        except AuthError:
            raise
        except (jwt.PyJWTError, ValueError) as exc:
            raise AuthError(f"invalid token: {exc}") from exc
        roles = claims.get("roles") or ([claims["role"]] if claims.get("role") else [])
        if isinstance(roles, str):
            roles = [roles]
        district = claims.get("district")
        return Principal(sub=str(claims["sub"]), roles=frozenset(r for r in roles if r in ROLES),
                         district=str(district) if district else None)

    def issue(self, sub: str, roles: list[str], district: str | None = None, ttl: timedelta = timedelta(hours=8)) -> str:
        """A local HS256 token (for `lanhmanh token` and tests)."""
        if not self.secret:
            raise AuthError("no local JWT_SECRET configured")
        now = datetime.now(timezone.utc)
        claims = {"sub": sub, "roles": roles, "aud": self.audience, "iat": now, "nbf": now, "exp": now + ttl}
        if self.issuer:
            claims["iss"] = self.issuer
        if district:
            claims["district"] = district
        return jwt.encode(claims, self.secret, algorithm="HS256")


def authenticate(authenticator: Authenticator) -> Principal:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise AuthError("missing bearer token")
    return authenticator.decode(token.strip())


def current_principal() -> Principal:
    principal = g.get("principal")
    if principal is None:
        raise AuthError("missing bearer token")
    return principal


def roles_required(*roles: str):
    """View decorator: the caller must hold one of ``roles`` (any authenticated role if empty)."""

    def decorator(view):
        @wraps(view)
        def wrapper(*args, **kwargs):
            principal = current_principal()
            if roles and not principal.has_any(*roles):
                raise Forbidden(f"this action needs one of the roles: {', '.join(roles)}")
            return view(*args, **kwargs)

        wrapper._lanhmanh_roles = roles  # read by the OpenAPI documentation
        return wrapper

    return decorator
