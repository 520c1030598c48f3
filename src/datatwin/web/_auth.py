"""Passwords (argon2id), browser sessions with CSRF tokens, API tokens, and login rate limiting.

Only hashes of session and API tokens are stored, so a copy of the database opens no account.
Browser forms carry the session's CSRF token (or, before login, a double-submit cookie); API
calls authenticate with ``Authorization: Bearer <token>`` and need no CSRF token, because a
browser never attaches that header on its own.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from .. import InputError
from ._config import Settings
from ._store import Store

SESSION_COOKIE = "dt_session"
PRE_COOKIE = "dt_pre"  # CSRF double-submit cookie for the login and register forms
NAME_RE = re.compile(r"^[A-Za-z0-9_.-]{3,40}$")

_hasher = PasswordHasher()


class AuthError(InputError):
    """Login refused (401), or too many failures (429)."""

    def __init__(self, message: str, status: int = 401) -> None:
        super().__init__(message)
        self.status = status


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def same(a: str | None, b: str | None) -> bool:
    return bool(a) and bool(b) and hmac.compare_digest(str(a), str(b))


def register(store: Store, name: str, password: str) -> str:
    if not NAME_RE.match(name or ""):
        raise InputError("user names are 3-40 letters, digits, '.', '_' or '-'")
    if len(password or "") < 8 or len(password) > 200:
        raise InputError("passwords are 8 to 200 characters long")
    uid = store.add_user(name, _hasher.hash(password))
    if uid is None:
        raise InputError(f"the name {name!r} is taken; choose another")
    return uid


def _limit_keys(name: str, client: str) -> list[str]:
    return [f"user:{name.lower()}", f"ip:{client}"]


def check_password(store: Store, settings: Settings, name: str, password: str, client: str) -> str:
    """The user id for a right password; a wrong one counts towards a lockout of the name and address."""
    since = time.time() - settings.login_window_seconds
    for key in _limit_keys(name, client):
        count, oldest = store.failures(key, since)
        if count >= settings.login_failures:
            wait = max(1, int(oldest + settings.login_window_seconds - time.time()) // 60 + 1)
            raise AuthError(f"too many failed logins; try again in {wait} minute(s)", status=429)
    user = store.user_by_name(name or "")
    ok = False
    if user is not None:
        try:
            ok = _hasher.verify(user["pw_hash"], password or "")
        except (VerificationError, InvalidHashError):
            ok = False
    else:
        # Same work as a real check, so timing does not tell which names exist.
        _hasher.hash(password or "x")
    if not ok or user is None:
        store.note_failure(_limit_keys(name or "", client))
        raise AuthError("wrong user name or password")
    store.clear_failures(f"user:{name.lower()}")
    if _hasher.check_needs_rehash(user["pw_hash"]):
        store.set_password_hash(user["id"], _hasher.hash(password))
    return str(user["id"])


def new_session(store: Store, settings: Settings, uid: str) -> str:
    token = secrets.token_urlsafe(32)
    store.add_session(token_hash(token), uid, secrets.token_urlsafe(32), time.time() + settings.session_seconds)
    return token


def session_for(store: Store, token: str | None) -> dict[str, Any] | None:
    """The live session of a cookie value, or None (unknown or expired)."""
    if not token:
        return None
    s = store.session(token_hash(token))
    if s is None or s["expires"] < time.time():
        return None
    return s


def new_api_token(store: Store, uid: str, label: str) -> str:
    token = "dt_" + secrets.token_urlsafe(32)
    store.add_token(token_hash(token), uid, label[:60] or "token")
    return token
