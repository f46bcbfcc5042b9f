"""Bearer-token authentication (HS256 locally, RS256 from a JWKS) and configuration from the environment."""
from __future__ import annotations

import base64
import json
import threading
import time
import uuid
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, HTTPServer

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from chassis.auth import ADMIN, POLICE, AuthError, Authenticator, Forbidden, Principal
from chassis.config import DEV_JWT_SECRET, Config, ConfigError

SECRET = "unit-test-secret-0123456789-abcdefghijklmnop"
AUDIENCE = "lanhmanh"


@pytest.fixture
def local():
    return Authenticator(SECRET, None, AUDIENCE)


def hs256(claims: dict, secret: str = SECRET) -> str:
    return jwt.encode(claims, secret, algorithm="HS256")


def claims(**overrides) -> dict:
    now = datetime.now(timezone.utc)
    return {"sub": "user-1", "roles": [POLICE], "aud": AUDIENCE, "iat": now, "exp": now + timedelta(hours=1),
            **overrides}


def b64url(document: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(document).encode()).rstrip(b"=").decode()


# --- HS256 --------------------------------------------------------------------------------

def test_issued_token_decodes_to_the_same_principal(local):
    principal = local.decode(local.issue("user-1", [ADMIN, POLICE], district="116"))
    assert principal == Principal("user-1", frozenset({ADMIN, POLICE}), "116")


def test_token_without_district_gives_a_province_wide_principal(local):
    assert local.decode(local.issue("user-1", [POLICE])).district is None


def test_unknown_roles_are_dropped(local):
    principal = local.decode(local.issue("user-1", [POLICE, "superuser", "root"]))
    assert principal.roles == frozenset({POLICE})


def test_single_role_claim_is_accepted(local):
    assert local.decode(hs256(claims(roles=None, role=ADMIN))).roles == frozenset({ADMIN})


def test_expired_token_is_refused(local):
    with pytest.raises(AuthError):
        local.decode(local.issue("user-1", [POLICE], ttl=timedelta(minutes=-5)))


def test_token_signed_with_another_secret_is_refused(local):
    with pytest.raises(AuthError):
        local.decode(hs256(claims(), secret="another-secret-0123456789-abcdefghijklmnop"))


def test_unsigned_token_is_refused(local):
    exp = int(time.time()) + 3600
    token = f'{b64url({"alg": "none", "typ": "JWT"})}.{b64url({"sub": "x", "roles": [ADMIN], "aud": AUDIENCE, "exp": exp})}.'
    with pytest.raises(AuthError):
        local.decode(token)


def test_token_for_another_audience_is_refused(local):
    with pytest.raises(AuthError):
        local.decode(hs256(claims(aud="another-system")))


def test_token_without_expiry_is_refused(local):
    token_claims = claims()
    del token_claims["exp"]
    with pytest.raises(AuthError):
        local.decode(hs256(token_claims))


def test_token_without_subject_is_refused(local):
    token_claims = claims()
    del token_claims["sub"]
    with pytest.raises(AuthError):
        local.decode(hs256(token_claims))


@pytest.mark.parametrize("token", ["", "not-a-jwt", "a.b.c"])
def test_malformed_token_is_refused(local, token):
    with pytest.raises(AuthError):
        local.decode(token)


def test_issuer_is_checked_when_configured():
    authenticator = Authenticator(SECRET, None, AUDIENCE, issuer="https://sso.sonla.gov.vn")
    assert authenticator.decode(authenticator.issue("user-1", [POLICE])).sub == "user-1"
    with pytest.raises(AuthError):
        authenticator.decode(hs256(claims(iss="https://elsewhere.example")))


def test_without_a_local_secret_no_token_is_issued():
    with pytest.raises(AuthError):
        Authenticator(None, None, AUDIENCE).issue("user-1", [POLICE])


def test_hs256_token_is_refused_without_a_local_secret():
    with pytest.raises(AuthError):
        Authenticator(None, None, AUDIENCE).decode(hs256(claims()))


# --- Principal ----------------------------------------------------------------------------

def test_province_wide_user_may_access_every_district():
    principal = Principal("u", frozenset({POLICE}))
    assert principal.may_access_district("116") and principal.may_access_district("118")
    principal.require_district("118")


def test_district_user_may_access_only_their_district():
    principal = Principal("u", frozenset({POLICE}), district="116")
    assert principal.may_access_district("116")
    assert not principal.may_access_district("118")
    assert not principal.may_access_district(None)
    with pytest.raises(Forbidden):
        principal.require_district("118")


def test_has_any_role():
    principal = Principal("u", frozenset({POLICE}))
    assert principal.has_any(ADMIN, POLICE) and not principal.has_any(ADMIN)


# --- RS256 from a JWKS --------------------------------------------------------------------

class JwksServer:
    """Serves a JWKS document on 127.0.0.1; `publish` replaces the keys it serves."""

    def __init__(self):
        self.document = {"keys": []}
        self.requests = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                server.requests += 1
                body = json.dumps(server.document).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/realms/sonla/protocol/openid-connect/certs"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def publish(self, *keys: "SigningKey") -> None:
        self.document = {"keys": [k.jwk for k in keys]}

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


class SigningKey:
    def __init__(self):
        self.kid = uuid.uuid4().hex
        self.private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.jwk = {**RSAAlgorithm.to_jwk(self.private.public_key(), as_dict=True),
                    "kid": self.kid, "use": "sig", "alg": "RS256"}

    def sign(self, **overrides) -> str:
        return jwt.encode(claims(**overrides), self.private, algorithm="RS256", headers={"kid": self.kid})


@pytest.fixture
def jwks():
    server = JwksServer()
    yield server
    server.close()


@pytest.fixture(scope="module")
def keys():
    return SigningKey(), SigningKey()


def test_rs256_token_from_the_identity_provider_is_accepted(jwks, keys):
    key, _ = keys
    jwks.publish(key)
    principal = Authenticator(None, jwks.url, AUDIENCE).decode(key.sign(sub="kc-user", district="116"))
    assert principal == Principal("kc-user", frozenset({POLICE}), "116")


def test_rs256_token_signed_by_an_unpublished_key_is_refused(jwks, keys):
    published, unpublished = keys
    jwks.publish(published)
    authenticator = Authenticator(None, jwks.url, AUDIENCE)
    authenticator.decode(published.sign())
    with pytest.raises(AuthError):
        authenticator.decode(unpublished.sign())


def test_rs256_token_with_a_forged_kid_is_refused(jwks, keys):
    published, impostor = keys
    jwks.publish(published)
    forged = jwt.encode(claims(), impostor.private, algorithm="RS256", headers={"kid": published.kid})
    with pytest.raises(AuthError):
        Authenticator(None, jwks.url, AUDIENCE).decode(forged)


def test_rs256_token_for_another_audience_is_refused(jwks, keys):
    key, _ = keys
    jwks.publish(key)
    with pytest.raises(AuthError):
        Authenticator(None, jwks.url, AUDIENCE).decode(key.sign(aud="account"))


def test_rs256_token_is_refused_when_no_jwks_is_configured(keys):
    key, _ = keys
    with pytest.raises(AuthError):
        Authenticator(SECRET, None, AUDIENCE).decode(key.sign())


def test_rs256_token_signed_with_a_rotated_key_is_accepted_without_restart(jwks, keys):
    old, new = keys
    jwks.publish(old)
    authenticator = Authenticator(None, jwks.url, AUDIENCE)
    assert authenticator.decode(old.sign(sub="before")).sub == "before"

    jwks.publish(new)  # the identity provider rotates its signing key

    assert authenticator.decode(new.sign(sub="after")).sub == "after"


def test_rs256_key_withdrawn_from_the_jwks_is_refused_once_the_jwks_cache_expires(jwks, keys, monkeypatch):
    compromised, replacement = keys
    jwks.publish(compromised)
    authenticator = Authenticator(None, jwks.url, AUDIENCE)
    authenticator.decode(compromised.sign())

    jwks.publish(replacement)  # the compromised key is withdrawn
    real_monotonic = time.monotonic
    monkeypatch.setattr(time, "monotonic", lambda: real_monotonic() + 3600)  # an hour later

    with pytest.raises(AuthError):
        authenticator.decode(compromised.sign())
    assert authenticator.decode(replacement.sign(sub="after")).sub == "after"


# --- configuration ------------------------------------------------------------------------

PRODUCTION = {"LANHMANH_ENV": "production", "EVENT_TRANSPORT": "kafka"}
STRONG_SECRET = "s" * 40


def test_production_without_a_secret_refuses_to_start():
    with pytest.raises(ConfigError):
        Config.from_env("registry", dict(PRODUCTION))


def test_production_with_the_development_secret_refuses_to_start():
    with pytest.raises(ConfigError):
        Config.from_env("registry", {**PRODUCTION, "JWT_SECRET": DEV_JWT_SECRET})


@pytest.mark.parametrize("secret", ["short", "x" * 31])
def test_production_with_a_short_secret_refuses_to_start(secret):
    with pytest.raises(ConfigError):
        Config.from_env("registry", {**PRODUCTION, "JWT_SECRET": secret})


def test_production_with_a_strong_secret_and_kafka_starts():
    config = Config.from_env("registry", {**PRODUCTION, "JWT_SECRET": STRONG_SECRET})
    assert config.production
    assert (config.jwt_secret, config.transport) == (STRONG_SECRET, "kafka")


def test_production_with_a_jwks_url_and_no_secret_starts():
    config = Config.from_env("registry", {**PRODUCTION, "JWT_JWKS_URL": "https://sso.example/certs"})
    assert config.jwt_secret is None and config.jwt_jwks_url == "https://sso.example/certs"


def test_production_needs_kafka():
    with pytest.raises(ConfigError):
        Config.from_env("registry", {"LANHMANH_ENV": "production", "JWT_SECRET": STRONG_SECRET})


def test_unknown_transport_is_refused():
    with pytest.raises(ConfigError):
        Config.from_env("registry", {"EVENT_TRANSPORT": "rabbitmq"})


def test_development_starts_with_embedded_defaults():
    config = Config.from_env("registry", {})
    assert not config.production
    assert (config.transport, config.jwt_secret, config.provinces) == ("embedded", DEV_JWT_SECRET, ("14",))


def test_service_specific_variable_wins_over_the_shared_one():
    env = {"DATABASE_URL": "postgresql://shared/db", "REGISTRY_DATABASE_URL": "postgresql://registry/db"}
    assert Config.from_env("registry", env).database_url == "postgresql://registry/db"
    assert Config.from_env("cases", env).database_url == "postgresql://shared/db"


def test_empty_service_specific_variable_falls_back_to_the_shared_one():
    env = {"DATABASE_URL": "postgresql://shared/db", "REGISTRY_DATABASE_URL": ""}
    assert Config.from_env("registry", env).database_url == "postgresql://shared/db"


def test_served_provinces_are_read_from_the_environment():
    assert Config.from_env("registry", {"LANHMANH_PROVINCES": "14, 01 ,"}).provinces == ("14", "01")
