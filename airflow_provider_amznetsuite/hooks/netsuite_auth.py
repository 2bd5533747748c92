"""NetSuite authentication: OAuth 2.0 client credentials (M2M, JWT assertion) and TBA (OAuth 1.0a).

* **OAuth 2.0 client credentials** (recommended): a JWT client assertion signed with PS256 (RSA key)
  or ES256 (EC P-256 key) — RS256 is rejected by NetSuite since 1 March 2025 and is refused here —
  with header ``kid`` = certificate id, ``typ`` = JWT and claims ``iss`` = client id, ``scope``,
  ``aud`` = token URL, ``iat``, ``exp`` (< 60 min). It is exchanged at
  ``{base}/services/rest/auth/oauth2/v1/token`` for a 60-minute access token (no refresh token),
  which is cached per process until 5 minutes before it expires.
* **Token-based authentication** (OAuth 1.0a, HMAC-SHA256): signed by ``oauthlib`` through
  ``requests-oauthlib``. ``realm`` = account id upper case with underscore; every URL query
  parameter is part of the signature base string; a fresh nonce and timestamp are drawn for every
  signature, so the hook signs inside its retry loop. New TBA integrations close from NetSuite 2027.1.
"""

from __future__ import annotations

import hashlib
import logging
import re
import secrets as _secrets
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from oauthlib.oauth1 import SIGNATURE_HMAC_SHA256, SIGNATURE_TYPE_AUTH_HEADER
from requests import PreparedRequest
from requests.auth import AuthBase
from requests_oauthlib import OAuth1

from airflow_provider_amznetsuite.hooks._common import mask_secrets

log = logging.getLogger(__name__)

__all__ = [
    "ALLOWED_JWT_ALGS",
    "BearerAuth",
    "OAuth2ClientCredentials",
    "TbaAuth",
    "account_hostname",
    "account_realm",
    "clear_token_cache",
    "rest_base_url",
    "token_url",
]

CLIENT_ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
TOKEN_PATH = "/services/rest/auth/oauth2/v1/token"
DEFAULT_SCOPE: tuple[str, ...] = ("rest_webservices",)
#: Algorithms NetSuite accepts for client-credential assertions (RS* is rejected since 2025-03-01).
ALLOWED_JWT_ALGS = frozenset({"PS256", "PS384", "PS512", "ES256", "ES384", "ES512"})
_EC_CURVE_ALG = {"secp256r1": "ES256", "secp384r1": "ES384", "secp521r1": "ES512"}
#: Lifetime of the JWT client assertion: 60 minutes minus a 5-minute margin (NetSuite requires < 60 min).
ASSERTION_LIFETIME_S = 3600 - 300
#: Access tokens live 60 minutes; without ``expires_in`` we reuse one for 55 minutes.
DEFAULT_TOKEN_TTL_S = 3300
TOKEN_REFRESH_MARGIN_S = 300

_ACCOUNT_RE = re.compile(r"^[A-Za-z0-9]+(?:[_-][A-Za-z0-9]+)*\Z")


# --- account id spellings ---------------------------------------------------------------------
def _check_account(account_id: str) -> str:
    acct = (account_id or "").strip()
    if not _ACCOUNT_RE.match(acct):
        raise ValueError(
            f"NetSuite account_id {account_id!r} is not valid: use the account id from Setup > Company > "
            "Company Information, e.g. 1234567 or 1234567_SB1 (letters, digits, one '_' or '-' before a suffix)"
        )
    return acct


def account_hostname(account_id: str) -> str:
    """Host label of the REST domain: lower case, ``_`` → ``-`` (``1234567_SB1`` → ``1234567-sb1``)."""
    return _check_account(account_id).lower().replace("_", "-")


def account_realm(account_id: str) -> str:
    """OAuth 1.0a ``realm``: upper case, ``-`` → ``_`` (``1234567-sb1`` → ``1234567_SB1``)."""
    return _check_account(account_id).upper().replace("-", "_")


def rest_base_url(account_id: str | None, base_url: str | None = None) -> str:
    """``https://{host}.suitetalk.api.netsuite.com``, or ``base_url`` (without trailing slash) when given."""
    if base_url:
        url = base_url.strip().rstrip("/")
        if not re.match(r"^https?://[^/\s]+", url):
            raise ValueError(f"NetSuite base_url {base_url!r} must be an absolute http(s) URL, e.g. http://127.0.0.1:8702")
        return url
    if not account_id:
        raise ValueError("NetSuite connection needs the 'account_id' extra (e.g. 1234567_SB1) or a 'base_url'")
    return f"https://{account_hostname(account_id)}.suitetalk.api.netsuite.com"


def token_url(base: str) -> str:
    """The OAuth 2.0 token endpoint under a REST base URL."""
    return base.rstrip("/") + TOKEN_PATH


# --- TBA (OAuth 1.0a HMAC-SHA256) ---------------------------------------------------------------
def _default_nonce() -> str:
    return _secrets.token_hex(16)  # 32 alphanumeric characters (NetSuite: 6-64)


def _default_timestamp() -> str:
    return str(int(time.time()))


class TbaAuth(AuthBase):
    """requests auth that signs each request with OAuth 1.0a HMAC-SHA256 (NetSuite TBA).

    Signing happens when the request is *prepared*; the hook prepares a new request for every
    attempt, so each retry gets a fresh nonce and timestamp (NetSuite rejects a re-used pair with
    INVALID_LOGIN). ``nonce_factory`` / ``timestamp_factory`` exist for Oracle's worked example.
    """

    def __init__(
        self,
        *,
        account_id: str,
        consumer_key: str,
        consumer_secret: str,
        token_id: str,
        token_secret: str,
        nonce_factory: Callable[[], str] = _default_nonce,
        timestamp_factory: Callable[[], str] = _default_timestamp,
    ) -> None:
        missing = [n for n, v in (("consumer_key", consumer_key), ("consumer_secret", consumer_secret),
                                  ("token_id", token_id), ("token_secret", token_secret)) if not v]
        if missing:
            raise ValueError(f"NetSuite TBA needs the connection extras {', '.join(missing)}")
        self.realm = account_realm(account_id)
        self._consumer_key = consumer_key
        self._consumer_secret = consumer_secret
        self._token_id = token_id
        self._token_secret = token_secret
        self._nonce = nonce_factory
        self._timestamp = timestamp_factory
        mask_secrets(consumer_secret, token_secret)

    def __repr__(self) -> str:  # never show secrets
        return f"TbaAuth(realm={self.realm!r})"

    def __call__(self, r: PreparedRequest) -> PreparedRequest:
        signer = OAuth1(
            client_key=self._consumer_key,
            client_secret=self._consumer_secret,
            resource_owner_key=self._token_id,
            resource_owner_secret=self._token_secret,
            signature_method=SIGNATURE_HMAC_SHA256,
            signature_type=SIGNATURE_TYPE_AUTH_HEADER,
            realm=self.realm,
            nonce=self._nonce(),
            timestamp=self._timestamp(),
        )
        return signer(r)


# --- OAuth 2.0 client credentials (JWT client assertion) ------------------------------------------
def normalise_pem(pem: str) -> str:
    """Accept PEMs pasted with literal ``\\n`` sequences (common in JSON extras / env vars)."""
    text = pem.strip()
    if "\\n" in text and "\n" not in text:
        text = text.replace("\\n", "\n")
    return text + "\n"


def load_private_key(pem: str) -> rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey:
    try:
        key = serialization.load_pem_private_key(normalise_pem(pem).encode("ascii", "strict"), password=None)
    except (ValueError, TypeError, UnicodeEncodeError) as exc:
        raise ValueError(
            "NetSuite 'private_key' extra is not an unencrypted PEM private key (RSA or EC); "
            f"paste the key the M2M certificate was made from ({type(exc).__name__})"
        ) from None
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise ValueError(f"NetSuite 'private_key' must be an RSA or EC key, not {type(key).__name__}")
    return key


def choose_jwt_alg(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey, explicit: str | None = None) -> str:
    """RSA → PS256, EC P-256 → ES256 (P-384 → ES384, P-521 → ES512); an explicit alg is checked."""
    if explicit:
        alg = explicit.strip().upper()
        if alg.startswith("RS") or alg.startswith("HS") or alg == "NONE":
            raise ValueError(
                f"jwt_alg {explicit!r} is not accepted by NetSuite (RS256 client assertions are rejected since "
                "1 March 2025): use PS256 with an RSA key or ES256 with an EC P-256 key"
            )
        if alg not in ALLOWED_JWT_ALGS:
            raise ValueError(f"jwt_alg {explicit!r} is not one of {', '.join(sorted(ALLOWED_JWT_ALGS))}")
        if alg.startswith("PS") and not isinstance(key, rsa.RSAPrivateKey):
            raise ValueError(f"jwt_alg {alg} needs an RSA private key, but the 'private_key' extra is an EC key")
        if alg.startswith("ES"):
            if not isinstance(key, ec.EllipticCurvePrivateKey):
                raise ValueError(f"jwt_alg {alg} needs an EC private key, but the 'private_key' extra is an RSA key")
            expected = _EC_CURVE_ALG.get(key.curve.name)
            if expected != alg:
                raise ValueError(f"jwt_alg {alg} does not match the EC key's curve {key.curve.name} (use {expected})")
        return alg
    if isinstance(key, rsa.RSAPrivateKey):
        if key.key_size < 3072:
            log.warning("NetSuite M2M certificates must be RSA 3072 or 4096 bits; this key has %d bits", key.key_size)
        return "PS256"
    alg = _EC_CURVE_ALG.get(key.curve.name)
    if alg is None:
        raise ValueError(f"EC curve {key.curve.name} is not supported by NetSuite (use P-256, P-384 or P-521)")
    return alg


@dataclass
class _CachedToken:
    access_token: str
    expires_at: float


_TOKEN_CACHE: dict[tuple[str, ...], _CachedToken] = {}
_TOKEN_LOCKS: dict[tuple[str, ...], threading.Lock] = {}
_TOKEN_REGISTRY_LOCK = threading.Lock()


def clear_token_cache() -> None:
    """Forget every cached OAuth 2.0 access token of this process (tests, key rotation)."""
    with _TOKEN_REGISTRY_LOCK:
        _TOKEN_CACHE.clear()


#: ``fetch(url, form) -> parsed JSON``: POSTs the token form through the hook's request machinery.
TokenFetcher = Callable[[str, Mapping[str, str]], Mapping[str, Any]]


class OAuth2ClientCredentials:
    """OAuth 2.0 client-credentials grant with a signed JWT client assertion (NetSuite M2M).

    The access token is cached per process, keyed by token URL, client id, certificate id and a
    digest of the private key, until ``expires_in - 5 min`` (55 minutes when absent). Concurrent
    threads wait for one token request instead of each fetching their own.
    """

    def __init__(
        self,
        *,
        token_endpoint: str,
        client_id: str,
        certificate_id: str,
        private_key: str,
        scope: Sequence[str] = DEFAULT_SCOPE,
        jwt_alg: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        missing = [n for n, v in (("client_id", client_id), ("certificate_id", certificate_id),
                                  ("private_key", private_key)) if not v]
        if missing:
            raise ValueError(f"NetSuite OAuth 2.0 needs the connection extras {', '.join(missing)}")
        mask_secrets(private_key)
        self.token_endpoint = token_endpoint
        self.client_id = client_id
        self.certificate_id = certificate_id
        self.scope = list(scope) or list(DEFAULT_SCOPE)
        self._key = load_private_key(private_key)
        self.alg = choose_jwt_alg(self._key, jwt_alg)
        self._clock = clock
        digest = hashlib.sha256(normalise_pem(private_key).encode()).hexdigest()
        self._cache_key = (token_endpoint, client_id, certificate_id, digest)
        self.last_assertion: str | None = None
        with _TOKEN_REGISTRY_LOCK:
            self._lock = _TOKEN_LOCKS.setdefault(self._cache_key, threading.Lock())

    def __repr__(self) -> str:
        return f"OAuth2ClientCredentials(client_id={self.client_id!r}, kid={self.certificate_id!r}, alg={self.alg})"

    def build_assertion(self, now: float | None = None) -> str:
        """A fresh signed client assertion (``exp - iat`` = 55 minutes < NetSuite's 60-minute maximum)."""
        iat = int(self._clock() if now is None else now)
        claims = {
            "iss": self.client_id,
            "scope": self.scope,
            "aud": self.token_endpoint,
            "iat": iat,
            "exp": iat + ASSERTION_LIFETIME_S,
        }
        token = jwt.encode(claims, self._key, algorithm=self.alg, headers={"kid": self.certificate_id, "typ": "JWT"})
        mask_secrets(token)
        self.last_assertion = token
        return token

    def token_form(self) -> dict[str, str]:
        return {
            "grant_type": "client_credentials",
            "client_assertion_type": CLIENT_ASSERTION_TYPE,
            "client_assertion": self.build_assertion(),
        }

    def cached_token(self) -> str | None:
        with _TOKEN_REGISTRY_LOCK:
            cached = _TOKEN_CACHE.get(self._cache_key)
        if cached and cached.expires_at > self._clock():
            return cached.access_token
        return None

    def access_token(self, fetch: TokenFetcher) -> str:
        """The cached access token, or a new one obtained through ``fetch`` (one fetch at a time)."""
        token = self.cached_token()
        if token:
            return token
        with self._lock:
            token = self.cached_token()
            if token:
                return token
            payload = fetch(self.token_endpoint, self.token_form())
            token = payload.get("access_token") if isinstance(payload, Mapping) else None
            if not token or not isinstance(token, str):
                raise ValueError("NetSuite token endpoint answered without an access_token")
            mask_secrets(token)
            ttl = float(DEFAULT_TOKEN_TTL_S)
            expires_in = payload.get("expires_in")
            try:
                if expires_in is not None:
                    seconds = float(expires_in)
                    ttl = seconds - TOKEN_REFRESH_MARGIN_S if seconds > 2 * TOKEN_REFRESH_MARGIN_S else seconds / 2
            except (TypeError, ValueError):
                pass
            with _TOKEN_REGISTRY_LOCK:
                _TOKEN_CACHE[self._cache_key] = _CachedToken(token, self._clock() + ttl)
            return token

    def invalidate(self, token: str | None = None) -> None:
        """Drop the cached token (after a 401); with ``token`` only if it is still the cached one."""
        with _TOKEN_REGISTRY_LOCK:
            cached = _TOKEN_CACHE.get(self._cache_key)
            if cached and (token is None or cached.access_token == token):
                del _TOKEN_CACHE[self._cache_key]

    def secrets(self) -> list[str]:
        out: list[str] = []
        if self.last_assertion:
            out.append(self.last_assertion)
        with _TOKEN_REGISTRY_LOCK:
            cached = _TOKEN_CACHE.get(self._cache_key)
        if cached:
            out.append(cached.access_token)
        return out


class BearerAuth(AuthBase):
    """``Authorization: Bearer <access token>``."""

    def __init__(self, token: str) -> None:
        self.token = token

    def __repr__(self) -> str:
        return "BearerAuth(***)"

    def __call__(self, r: PreparedRequest) -> PreparedRequest:
        r.headers["Authorization"] = f"Bearer {self.token}"
        return r
