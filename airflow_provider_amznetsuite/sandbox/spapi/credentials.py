"""Public, sandbox-only credentials of the local SP-API sandbox.

These values are not secrets: they only open the sandbox on loopback. They are still treated like
real credentials by the product code (masked, never logged), which is what the PII/secret scan tests
rely on, so keep them distinctive.
"""

from __future__ import annotations

import json
from typing import Any

LWA_CLIENT_ID = "amzn1.application-oa2-client.sandbox00000000000000000000000001"
LWA_CLIENT_SECRET = "amzn1.oa2-cs.v1.sandbox-client-secret-7f3c9e2a51d84b06"
REFRESH_TOKEN = "Atzr|IwEBIsandbox-refresh-token-4b1d9c0e7a2f4e8b9c3d"
SELLER_ID = "A2SANDBOXSELLER1"
DEFAULT_REGION = "eu"
# Scopes accepted for grantless (client_credentials) tokens.
GRANTLESS_SCOPES = frozenset({
    "sellingpartnerapi::notifications",
    "sellingpartnerapi::client_credential:rotation",
})


def connection_extra(endpoint: str, *, time_scale: float = 1.0, region: str = DEFAULT_REGION) -> dict[str, Any]:
    """The ``extra`` of an ``amazon_sp_api`` Airflow connection pointing at a sandbox at ``endpoint``."""
    endpoint = endpoint.rstrip("/")
    return {
        "refresh_token": REFRESH_TOKEN,
        "region": region,
        "seller_id": SELLER_ID,
        "endpoint": endpoint,
        "lwa_token_url": endpoint + "/auth/o2/token",
        "rate_limit_time_scale": time_scale,
    }


def connection_json(endpoint: str, *, time_scale: float = 1.0, region: str = DEFAULT_REGION) -> str:
    """The JSON form of the connection, as used in ``AIRFLOW_CONN_AMAZON_SP_API_DEFAULT``."""
    return json.dumps({
        "conn_type": "amazon_sp_api",
        "login": LWA_CLIENT_ID,
        "password": LWA_CLIENT_SECRET,
        "extra": connection_extra(endpoint, time_scale=time_scale, region=region),
    })
