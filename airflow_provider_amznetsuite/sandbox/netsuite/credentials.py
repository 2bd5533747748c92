"""Public, sandbox-only credentials of the local NetSuite sandbox.

SANDBOX ONLY: every value and key here is public (it ships with the source code) and opens nothing
but the NetSuite sandbox on loopback. Never use any of it against a real NetSuite account. The
product still treats them like real secrets (masked, never logged), which the secret-scan tests use,
so the values are kept distinctive.

* OAuth 2.0 client credentials (M2M): :data:`CLIENT_ID` plus a certificate id and its private key —
  :data:`CERTIFICATE_ID_PS256` (RSA 3072, JWT ``alg`` PS256) or :data:`CERTIFICATE_ID_ES256`
  (EC P-256, ``alg`` ES256).
* Token-based authentication (OAuth 1.0a HMAC-SHA256): :data:`CONSUMER_KEY`, :data:`CONSUMER_SECRET`,
  :data:`TOKEN_ID`, :data:`TOKEN_SECRET`; ``realm`` = :data:`ACCOUNT_ID`.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

ACCOUNT_ID = "1234567_SB1"
# Integration record (client id / consumer key are the same value in NetSuite).
CLIENT_ID = "5a9c1f7e0b3d4c2a8e6f1b0d9c7a5e3f2b1d0c9e8f7a6b5c4d3e2f1a0b9c8d7e"
CERTIFICATE_ID_PS256 = "sbxCertRsa3072PS256-Q1w2E3r4T5y6U7i8O9p0AsDfGh"
CERTIFICATE_ID_ES256 = "sbxCertEcP256ES256-Z1x2C3v4B5n6M7q8W9e0RtYuIo"
OAUTH2_SCOPE = "rest_webservices"

# Token-based authentication (four values; realm = ACCOUNT_ID).
CONSUMER_KEY = "c0a8e1f2d3b4a5968778695a4b3c2d1e0f1a2b3c4d5e6f708192a3b4c5d6e7f8"
CONSUMER_SECRET = "5e4d3c2b1a09f8e7d6c5b4a3928170f6e5d4c3b2a1908f7e6d5c4b3a29180f7e"
TOKEN_ID = "7b6a5f4e3d2c1b0a9f8e7d6c5b4a39281706f5e4d3c2b1a0f9e8d7c6b5a49382"
TOKEN_SECRET = "9f8e7d6c5b4a3928170f6e5d4c3b2a19087f6e5d4c3b2a1f0e9d8c7b6a594837"

DEFAULT_CONCURRENCY = 5
TOKEN_PATH = "/services/rest/auth/oauth2/v1/token"

_KEY_DIR = Path(__file__).resolve().parent / "keys"
_KEY_FILES = {
    "PS256": "sandbox_rsa3072_ps256",
    "ES256": "sandbox_ec_p256_es256",
}
# certificate id -> (key file stem, JWT algorithms the certificate's key can produce and NetSuite accepts)
CERTIFICATES: dict[str, tuple[str, frozenset[str]]] = {
    CERTIFICATE_ID_PS256: (_KEY_FILES["PS256"], frozenset({"PS256", "PS384", "PS512"})),
    CERTIFICATE_ID_ES256: (_KEY_FILES["ES256"], frozenset({"ES256"})),
}
CERTIFICATE_IDS = {"PS256": CERTIFICATE_ID_PS256, "ES256": CERTIFICATE_ID_ES256}

AuthType = Literal["oauth2", "tba"]


def _norm_alg(alg: str) -> str:
    key = alg.upper()
    if key not in _KEY_FILES:
        raise ValueError(f"alg must be one of {sorted(_KEY_FILES)} (the sandbox has one key per algorithm), got {alg!r}")
    return key


@lru_cache(maxsize=8)
def _read_pem(stem: str, kind: str) -> str:
    text = (_KEY_DIR / f"{stem}_{kind}.pem").read_text(encoding="ascii")
    # Drop the "SANDBOX ONLY" banner so that strict PEM readers get a bare PEM block.
    start = text.index("-----BEGIN ")
    return text[start:]


def private_key_pem(alg: str = "PS256") -> str:
    """The sandbox-only private key (PKCS#8 PEM) for ``alg`` ("PS256" -> RSA 3072, "ES256" -> EC P-256)."""
    return _read_pem(_KEY_FILES[_norm_alg(alg)], "private")


def public_key_pem(alg: str = "PS256") -> str:
    """The public half (SubjectPublicKeyInfo PEM) the sandbox verifies client assertions with."""
    return _read_pem(_KEY_FILES[_norm_alg(alg)], "public")


def certificate_id(alg: str = "PS256") -> str:
    return CERTIFICATE_IDS[_norm_alg(alg)]


def token_url(base_url: str) -> str:
    """The OAuth 2.0 token endpoint (also the JWT ``aud``) of a sandbox at ``base_url``."""
    return base_url.rstrip("/") + TOKEN_PATH


def connection_extra(base_url: str, auth_type: AuthType = "oauth2", alg: str = "PS256") -> dict[str, Any]:
    """The ``extra`` of an Airflow ``netsuite`` connection pointing at a sandbox at ``base_url``.

    ``auth_type="oauth2"`` carries client_id, certificate_id and private_key (the key decides the
    JWT algorithm: RSA -> PS256, EC -> ES256); ``auth_type="tba"`` carries the four TBA values.
    """
    extra: dict[str, Any] = {"account_id": ACCOUNT_ID, "auth_type": auth_type, "base_url": base_url.rstrip("/"),
                             "concurrency": DEFAULT_CONCURRENCY}
    if auth_type == "oauth2":
        extra.update(client_id=CLIENT_ID, certificate_id=certificate_id(alg), private_key=private_key_pem(alg))
    elif auth_type == "tba":
        extra.update(consumer_key=CONSUMER_KEY, consumer_secret=CONSUMER_SECRET, token_id=TOKEN_ID,
                     token_secret=TOKEN_SECRET)
    else:
        raise ValueError(f"auth_type must be 'oauth2' or 'tba', got {auth_type!r}")
    return extra


def connection_json(base_url: str, auth_type: AuthType = "oauth2", alg: str = "PS256") -> str:
    """The JSON form of the connection, as used in ``AIRFLOW_CONN_NETSUITE_DEFAULT``."""
    return json.dumps({"conn_type": "netsuite", "host": base_url.rstrip("/"),
                       "extra": connection_extra(base_url, auth_type, alg)})
