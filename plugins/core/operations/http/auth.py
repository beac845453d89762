"""Credentials attached at send time, so no header dict or repr we build ever holds them.

* :class:`HeaderAuth` -- ``Authorization: Bearer <secret>`` by default; any header and prefix
  (``Bot <token>`` for Discord, ``X-Api-Key``...).
* :class:`QueryAuth` -- a query parameter (``?key=<secret>``, YouTube Data API style).
* :class:`OAuth2ClientCredentials` -- an access token minted from a client id and secret
  (Reddit app-only OAuth, RFC 6749 §4.4), cached until shortly before it expires and
  minted again on expiry or when the API answers 401 (:meth:`refresh`).

Each exposes ``secrets()``: the literal values to redact from any text leaving a client.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from typing import Any, Protocol
from urllib.parse import urlsplit

import orjson
import requests
import requests.auth

from core.errors import AuthenticationError, DataValidationError, NetworkError, sanitize_text
from core.operations.http.config import normalize_base_url

__all__ = ["Credential", "HeaderAuth", "OAuth2ClientCredentials", "QueryAuth", "secrets_of"]


class Credential(Protocol):
    """Builds the ``requests`` auth that attaches one secret."""

    def __call__(self, secret: str) -> requests.auth.AuthBase: ...


def secrets_of(auth: object) -> list[str]:
    """The literal secrets an auth object holds (``[]`` for ``None`` or an unknown object)."""
    method = getattr(auth, "secrets", None)
    if not callable(method):
        return []
    values = method()
    if not isinstance(values, Iterable):
        return []
    return [s for s in values if isinstance(s, str) and s]


class HeaderAuth(requests.auth.AuthBase):
    """``<header>: <prefix><secret>``; ``Authorization: Bearer <secret>`` by default."""

    def __init__(self, secret: str, *, header: str = "Authorization", prefix: str = "Bearer ") -> None:
        self._secret = secret
        self._header = header
        self._prefix = prefix

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers[self._header] = f"{self._prefix}{self._secret}"
        return request

    def secrets(self) -> list[str]:
        return [self._secret]

    def __repr__(self) -> str:
        return f"<HeaderAuth {self._header} [REDACTED]>"


class QueryAuth(requests.auth.AuthBase):
    """``?<param>=<secret>`` appended at send time."""

    def __init__(self, secret: str, *, param: str = "key") -> None:
        self._secret = secret
        self._param = param

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.prepare_url(request.url or "", {self._param: self._secret})
        return request

    def secrets(self) -> list[str]:
        return [self._secret]

    def __repr__(self) -> str:
        return f"<QueryAuth {self._param}=[REDACTED]>"


class OAuth2ClientCredentials(requests.auth.AuthBase):
    """A bearer access token from the client-credentials grant, minted on first use.

    ``POST token_url`` with HTTP Basic ``client_id:client_secret`` and
    ``grant_type=client_credentials`` (plus ``scope``); the answer's ``access_token`` is
    used until ``expires_in - margin`` seconds have passed (``clock`` is injectable), then
    minted again. :meth:`refresh` forgets it (the client calls it once on a 401). A
    refusal of the grant is :class:`AuthenticationError`; transport failures are
    :class:`NetworkError` (the client's transient retries do not cover the token call).
    """

    label = "oauth2"

    def __init__(
        self,
        token_url: str,
        client_id: str,
        client_secret: str,
        *,
        scope: str | None = None,
        user_agent: str = "community-collectors/0.1",
        session: requests.Session | None = None,
        clock: Callable[[], float] = time.time,
        margin: float = 60.0,
        timeout: float = 30.0,
    ) -> None:
        self.token_url = normalize_base_url(token_url, api_name="OAuth2 token")
        self.label = f"oauth2:{client_id}@{urlsplit(self.token_url).netloc}"
        self._client_id = client_id
        self._client_secret = client_secret
        self._scope = scope
        self._user_agent = user_agent
        self._session = session or requests.Session()
        self._clock = clock
        self._margin = margin
        self._timeout = timeout
        self._token: str | None = None
        self._expires_at = 0.0
        self._lock = threading.Lock()
        self.mints = 0

    def secrets(self) -> list[str]:
        return [s for s in (self._client_secret, self._token) if s]

    def refresh(self) -> None:
        with self._lock:
            self._token = None

    def access_token(self) -> str:
        with self._lock:
            if self._token is None or self._clock() >= self._expires_at:
                self._token, self._expires_at = self._mint()
            return self._token

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self.access_token()}"
        return request

    def __repr__(self) -> str:
        return f"<OAuth2ClientCredentials {self.label} [REDACTED]>"

    def _mint(self) -> tuple[str, float]:
        data = {"grant_type": "client_credentials", **({"scope": self._scope} if self._scope else {})}
        try:
            response = self._session.post(
                self.token_url,
                data=data,
                auth=(self._client_id, self._client_secret),
                headers={"User-Agent": self._user_agent, "Accept": "application/json"},
                timeout=self._timeout,
                allow_redirects=False,
            )
        except requests.RequestException as exc:
            raise NetworkError(
                self._redact(f"OAuth2 token request to {self.token_url} failed: {exc}")
            ) from None
        self.mints += 1
        body: Any = None
        try:
            body = orjson.loads(response.content) if response.content.strip() else None
        except orjson.JSONDecodeError:
            body = None
        if response.status_code in {400, 401, 403}:
            reason = body.get("error") if isinstance(body, dict) else None
            raise AuthenticationError(
                self._redact(
                    f"OAuth2 token endpoint refused the client credentials ({response.status_code}"
                    + (f", {reason}" if reason else "")
                    + ")"
                )
            )
        if response.status_code >= 500:
            raise NetworkError(f"OAuth2 token endpoint answered {response.status_code}")
        token = body.get("access_token") if isinstance(body, dict) else None
        if response.status_code != 200 or not isinstance(token, str) or not token:
            raise DataValidationError(
                f"OAuth2 token endpoint answered {response.status_code} without an access_token",
                source=self.token_url,
                location="access_token",
            )
        expires_in = body.get("expires_in") if isinstance(body, dict) else None
        lifetime = float(expires_in) if isinstance(expires_in, int | float) and expires_in > 0 else 3600.0
        return token, self._clock() + max(lifetime - self._margin, 0.0)

    def _redact(self, text: str) -> str:
        return sanitize_text(text, self.secrets())
