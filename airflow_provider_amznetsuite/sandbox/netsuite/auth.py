"""Authentication checks of the NetSuite sandbox: OAuth 2.0 client credentials (JWT assertion) and
token-based authentication (OAuth 1.0a HMAC-SHA256).

OAuth 2.0 ``POST /services/rest/auth/oauth2/v1/token`` (form body): ``grant_type=client_credentials``,
``client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer``, ``client_assertion``
= a JWT whose header ``kid`` is a known certificate id and whose ``alg`` fits that certificate's key
(PS256/384/512 for the RSA certificate, ES256 for the EC P-256 one; RS256 is refused like NetSuite
since March 2025), claims ``iss`` = client id, ``aud`` = the token URL, ``scope`` containing
``rest_webservices`` (string, comma/space separated, or JSON array), ``iat`` not in the future,
``exp`` in the future and ``exp - iat <= 3600``. The answer is an opaque bearer token valid 3600 s:
``{"access_token", "token_type": "Bearer", "expires_in": "3600"}`` (expires_in is a string).
Problems -> 400 ``{"error": "invalid_request" | "invalid_client" | "unsupported_grant_type" | "invalid_scope"}``.

TBA: ``Authorization: OAuth realm="<ACCOUNT_ID>", oauth_consumer_key=..., oauth_token=..., oauth_nonce=...,
oauth_timestamp=..., oauth_signature_method="HMAC-SHA256", oauth_version="1.0", oauth_signature=...``.
The sandbox rebuilds the signature base string (method, URL without query, every oauth_* parameter
except the signature plus every query parameter; realm excluded), checks the realm spelling
(upper case with underscore), the timestamp (±5 min) and that the nonce is not reused within 10 min.
Any failure -> 401 INVALID_LOGIN; the reason goes to the login audit trail (``/_sandbox/stats``),
never to the response, as in NetSuite.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, unquote, urlsplit

import jwt
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from . import credentials as creds
from .util import ApiError, invalid_login

JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
TOKEN_LIFETIME = 3600
TIMESTAMP_WINDOW = 300
NONCE_WINDOW = 600
_HEADER_PARAM = re.compile(r'([A-Za-z0-9_]+)\s*=\s*"([^"]*)"')


def enc(value: str) -> str:
    """RFC 3986 percent-encoding as OAuth 1.0a wants it (only A-Z a-z 0-9 - . _ ~ stay)."""
    return quote(value, safe="~")


def base_string_uri(url: str) -> str:
    """scheme://host[:port]/path with scheme and host lower-cased, default ports and the query removed."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    port = parts.port
    netloc = host if port is None or (scheme, port) in (("http", 80), ("https", 443)) else f"{host}:{port}"
    return f"{scheme}://{netloc}{parts.path or '/'}"


def signature_base_string(method: str, url: str, params: Iterable[tuple[str, str]]) -> str:
    pairs = sorted((enc(k), enc(v)) for k, v in params)
    normalized = "&".join(f"{k}={v}" for k, v in pairs)
    return "&".join((method.upper(), enc(base_string_uri(url)), enc(normalized)))


def hmac_sha256_signature(base_string: str, consumer_secret: str, token_secret: str) -> str:
    key = f"{enc(consumer_secret)}&{enc(token_secret)}".encode()
    return base64.b64encode(hmac.new(key, base_string.encode(), hashlib.sha256).digest()).decode()


class TokenError(Exception):
    def __init__(self, error: str, description: str) -> None:
        super().__init__(description)
        self.error = error
        self.description = description

    def body(self) -> dict[str, str]:
        return {"error": self.error, "error_description": self.description}


@dataclass
class _Cert:
    key: Any
    algorithms: frozenset[str]


class AuthVerifier:
    def __init__(self, account_id: str = creds.ACCOUNT_ID, *, clock: Callable[[], float] = time.time) -> None:
        self.account_id = account_id
        self.clock = clock
        self._lock = threading.Lock()
        self._tokens: dict[str, float] = {}
        self._nonces: dict[tuple[str, str, str], float] = {}
        self.audit: deque[dict[str, Any]] = deque(maxlen=200)
        self.tokens_issued: dict[str, int] = {}
        self.certs: dict[str, _Cert] = {}
        for cert_id, (_stem, algs) in creds.CERTIFICATES.items():
            alg = "PS256" if "PS256" in algs else "ES256"
            self.certs[cert_id] = _Cert(load_pem_public_key(creds.public_key_pem(alg).encode()), algs)

    def _audit(self, method: str, reason: str) -> None:
        with self._lock:
            self.audit.append({"time": int(self.clock()), "method": method, "reason": reason})

    # --- OAuth 2.0 ----------------------------------------------------------------------------------
    def issue_token(self, form: dict[str, str], expected_audiences: set[str]) -> dict[str, Any]:
        try:
            result = self._issue(form, expected_audiences)
        except TokenError as err:
            self._audit("oauth2", f"{err.error}: {err.description}")
            raise
        return result

    def _issue(self, form: dict[str, str], expected_audiences: set[str]) -> dict[str, Any]:
        if form.get("grant_type") != "client_credentials":
            raise TokenError("unsupported_grant_type", "grant_type must be client_credentials")
        if form.get("client_assertion_type") != JWT_BEARER:
            raise TokenError("invalid_request", f"client_assertion_type must be {JWT_BEARER}")
        assertion = form.get("client_assertion", "")
        try:
            header = jwt.get_unverified_header(assertion)
        except jwt.PyJWTError:
            raise TokenError("invalid_request", "client_assertion is not a JWT") from None
        kid = header.get("kid")
        alg = header.get("alg")
        cert = self.certs.get(kid or "")
        if cert is None:
            raise TokenError("invalid_client", "kid is not the certificate id of a mapped certificate")
        if alg == "RS256":
            raise TokenError("invalid_request", "RS256 is not accepted for client credentials; sign with PS256 or ES256")
        if alg not in cert.algorithms:
            raise TokenError("invalid_request", f"alg {alg} does not fit the key of certificate {kid} "
                                                f"(allowed: {', '.join(sorted(cert.algorithms))})")
        try:
            claims = jwt.decode(assertion, cert.key, algorithms=[alg], audience=sorted(expected_audiences),
                                issuer=creds.CLIENT_ID, options={"require": ["exp", "iat", "iss", "aud"]},
                                leeway=0)
        except jwt.InvalidSignatureError:
            raise TokenError("invalid_client", "client_assertion signature does not verify") from None
        except jwt.ExpiredSignatureError:
            raise TokenError("invalid_request", "client_assertion has expired") from None
        except jwt.InvalidAudienceError:
            raise TokenError("invalid_request", "aud must be the token endpoint URL") from None
        except jwt.InvalidIssuerError:
            raise TokenError("invalid_client", "iss must be the integration's client id") from None
        except jwt.PyJWTError as err:
            raise TokenError("invalid_request", f"client_assertion rejected: {type(err).__name__}") from None
        now = self.clock()
        iat, exp = claims["iat"], claims["exp"]
        if not isinstance(iat, (int, float)) or not isinstance(exp, (int, float)):
            raise TokenError("invalid_request", "iat and exp must be numbers (seconds)")
        if iat > now + 5:
            raise TokenError("invalid_request", "iat is in the future")
        if exp - iat > TOKEN_LIFETIME:
            raise TokenError("invalid_request", "exp must be at most 60 minutes after iat")
        scope = claims.get("scope")
        scopes = set(scope) if isinstance(scope, list) else set(re.split(r"[,\s]+", scope or ""))
        if "rest_webservices" not in scopes:
            raise TokenError("invalid_scope", "scope must include rest_webservices")
        token = secrets.token_urlsafe(32)
        with self._lock:
            self._tokens[token] = now + TOKEN_LIFETIME
            self.tokens_issued[alg] = self.tokens_issued.get(alg, 0) + 1
            if len(self._tokens) > 10000:
                self._tokens = {t: e for t, e in self._tokens.items() if e > now}
        return {"access_token": token, "token_type": "Bearer", "expires_in": str(TOKEN_LIFETIME)}

    def revoke_all_tokens(self) -> None:
        with self._lock:
            self._tokens.clear()

    # --- request authentication ------------------------------------------------------------------
    def authenticate(self, method: str, urls: list[str], query: list[tuple[str, str]], authorization: str | None) -> str:
        """Check the Authorization header of an API request; returns "oauth2" or "tba" or raises 401."""
        if not authorization:
            self._audit("none", "missing Authorization header")
            raise invalid_login()
        scheme, _, rest = authorization.strip().partition(" ")
        if scheme.lower() == "bearer":
            with self._lock:
                expiry = self._tokens.get(rest.strip())
            if expiry is None or expiry <= self.clock():
                self._audit("oauth2", "unknown or expired access token")
                raise invalid_login()
            return "oauth2"
        if scheme.lower() == "oauth":
            self._verify_tba(method, urls, query, rest)
            return "tba"
        self._audit("none", f"unsupported Authorization scheme {scheme[:20]!r}")
        raise invalid_login()

    def _fail(self, reason: str) -> ApiError:
        self._audit("tba", reason)
        return invalid_login()

    def _verify_tba(self, method: str, urls: list[str], query: list[tuple[str, str]], header: str) -> None:
        params = {k: unquote(v) for k, v in _HEADER_PARAM.findall(header)}
        realm = params.get("realm")
        if realm != self.account_id:
            raise self._fail("realm must be the account id in upper case with an underscore "
                             f"({self.account_id}), got {realm!r}")
        method_name = params.get("oauth_signature_method")
        if method_name != "HMAC-SHA256":
            raise self._fail(f"oauth_signature_method must be HMAC-SHA256, got {method_name!r}")
        if params.get("oauth_version", "1.0") != "1.0":
            raise self._fail("oauth_version must be 1.0")
        for required in ("oauth_consumer_key", "oauth_token", "oauth_nonce", "oauth_timestamp", "oauth_signature"):
            if not params.get(required):
                raise self._fail(f"{required} is missing")
        if params["oauth_consumer_key"] != creds.CONSUMER_KEY or params["oauth_token"] != creds.TOKEN_ID:
            raise self._fail("unknown consumer key or token id")
        try:
            ts = int(params["oauth_timestamp"])
        except ValueError:
            raise self._fail("oauth_timestamp is not a whole number of seconds") from None
        now = self.clock()
        if abs(now - ts) > TIMESTAMP_WINDOW:
            raise self._fail(f"oauth_timestamp is {int(now - ts)} s away from the server clock (allowed ±{TIMESTAMP_WINDOW} s)")
        nonce = params["oauth_nonce"]
        if len(nonce) > 64:
            raise self._fail("oauth_nonce is longer than 64 characters")
        signed = [(k, v) for k, v in params.items() if k.startswith("oauth_") and k != "oauth_signature"]
        signed += query
        given = params["oauth_signature"]
        ok = False
        for url in urls:
            expected = hmac_sha256_signature(signature_base_string(method, url, signed), creds.CONSUMER_SECRET,
                                             creds.TOKEN_SECRET)
            if hmac.compare_digest(expected, given):
                ok = True
                break
        if not ok:
            raise self._fail("InvalidSignature: the signature does not match the request (check the base string: "
                             "method, URL without query, every oauth_* and query parameter; the secrets)")
        key = (params["oauth_consumer_key"], params["oauth_token"], nonce)
        with self._lock:
            if len(self._nonces) > 50000:
                self._nonces = {k: t for k, t in self._nonces.items() if t > now - NONCE_WINDOW}
            seen = self._nonces.get(key)
            if seen is not None and seen > now - NONCE_WINDOW:
                reused = True
            else:
                reused = False
                self._nonces[key] = now
        if reused:
            raise self._fail("oauth_nonce was already used within the last 10 minutes")
