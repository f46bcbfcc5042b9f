"""The identity vault: encryption at rest of a supported person's identity, and the keyed hashes
of the duplicate check. Keys come from configuration and can rotate.

* ``SUPPORT_ENCRYPTION_KEYS``: Fernet keys (for identities, and for the free text case workers write:
  notes, reasons, goals, task titles, which may name someone), comma-separated, NEWEST FIRST. New identities are
  sealed with the first key; every key of the list can open. To rotate: put a new key in front,
  run the rotation (`handlers.rotate_keys`, `POST /support/v1/maintenance/key-rotation`), then
  drop the old key from the list.
* ``SUPPORT_MATCH_KEY``: the HMAC key of the duplicate check (the hash of a folded name and birth
  year, or of an ID number). Changing it is allowed: the same rotation recomputes every hash.

Without these variables a development key is used, clearly named as such; production
(``LANHMANH_ENV=production``) refuses to start with it. Nothing here logs or raises a message
that contains an identity.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import os

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from chassis.config import ConfigError
from services.support.domain import Identity, IdentityUnreadable

#: DEVELOPMENT ONLY — public, in the source code. Refused when LANHMANH_ENV=production.
DEV_ENCRYPTION_KEY = "ZGV2ZWxvcG1lbnQtb25seS1zdXBwb3J0LWtleS0wMDE="
#: DEVELOPMENT ONLY — public, in the source code. Refused when LANHMANH_ENV=production.
DEV_MATCH_KEY = "development-only-support-match-key-do-not-use-in-production"


class Vault:
    def __init__(self, keys: list[str], match_key: str):
        if not keys:
            raise ConfigError("SUPPORT_ENCRYPTION_KEYS holds no key")
        try:
            self._fernets = [Fernet(k.strip().encode()) for k in keys]
        except (ValueError, TypeError):
            raise ConfigError("SUPPORT_ENCRYPTION_KEYS: every key must be a urlsafe-base64 Fernet key "
                              "(Fernet.generate_key())") from None
        self._multi = MultiFernet(self._fernets)
        self._newest = self._fernets[0]
        self._match_key = match_key.encode()
        self.key_count = len(keys)

    @classmethod
    def from_env(cls, env: dict | None = None) -> "Vault":
        env = os.environ if env is None else env
        production = (env.get("SUPPORT_LANHMANH_ENV") or env.get("LANHMANH_ENV") or "development") == "production"
        keys = [k.strip() for k in (env.get("SUPPORT_ENCRYPTION_KEYS") or "").split(",") if k.strip()]
        match_key = env.get("SUPPORT_MATCH_KEY") or ""
        if production:
            if not keys or DEV_ENCRYPTION_KEY in keys:
                raise ConfigError("production mode needs SUPPORT_ENCRYPTION_KEYS, and not the development key")
            if not match_key or match_key == DEV_MATCH_KEY or len(match_key.encode()) < 32:
                raise ConfigError("production mode needs a SUPPORT_MATCH_KEY of 32 bytes or more, not the development key")
        return cls(keys or [DEV_ENCRYPTION_KEY], match_key or DEV_MATCH_KEY)

    # -- encryption ----------------------------------------------------------------------------
    def seal(self, identity: Identity) -> str:
        return self._newest.encrypt(json.dumps(identity.as_dict(), ensure_ascii=False).encode()).decode()

    def open(self, sealed: str) -> Identity:
        try:
            return Identity.from_dict(json.loads(self._multi.decrypt(sealed.encode())))
        except InvalidToken:
            raise IdentityUnreadable("this identity was sealed with a key that is no longer configured") from None

    def seal_text(self, text: str) -> str:
        """Free text a case worker wrote (notes, reasons, goals, task titles): it may name someone."""
        return self._newest.encrypt(text.encode()).decode()

    def open_text(self, sealed: str) -> str:
        try:
            return self._multi.decrypt(sealed.encode()).decode()
        except InvalidToken:
            raise IdentityUnreadable("this text was sealed with a key that is no longer configured") from None

    def reseal(self, sealed: str) -> str:
        """The same identity, encrypted with the newest key (MultiFernet.rotate)."""
        try:
            return self._multi.rotate(sealed.encode()).decode()
        except InvalidToken:
            raise IdentityUnreadable("this identity was sealed with a key that is no longer configured") from None

    def sealed_with_newest(self, sealed: str) -> bool:
        try:
            self._newest.decrypt(sealed.encode())
            return True
        except InvalidToken:
            return False

    # -- the duplicate check -------------------------------------------------------------------
    def match_digests(self, identity: Identity) -> list[tuple[str, str]]:
        """``[(kind, keyed hash)]`` of what identifies a person: folded name + birth year, ID number."""
        return [(kind, hmac.new(self._match_key, f"{kind}:{text}".encode(), hashlib.sha256).hexdigest())
                for kind, text in identity.match_texts()]


_current: Vault | None = None


def configure(vault: Vault | None = None) -> Vault:
    """Install the process's vault (from the environment unless given); called by bootstrap."""
    global _current
    _current = vault or Vault.from_env()
    return _current


def current() -> Vault:
    return _current or configure()
