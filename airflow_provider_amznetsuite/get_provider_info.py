"""Provider metadata read by Airflow's ProvidersManager (entry point ``apache_airflow_provider``).

Kept import-free and cheap: Airflow calls it in every component process and CLI command.
Connection forms are declarative (``conn-fields`` / ``ui-field-behaviour``), the Airflow 3.2+ way.
"""

from __future__ import annotations

from typing import Any

PACKAGE = "airflow-provider-amznetsuite"
VERSION = "0.1.0"


def get_provider_info() -> dict[str, Any]:
    return {
        "package-name": PACKAGE,
        "name": "Amazon Seller Central (SP-API) and Oracle NetSuite",
        "description": "Orders, inventory, listings, pricing and settlement reconciliation between Amazon "
        "Seller Central (Selling Partner API) and Oracle NetSuite (SuiteTalk REST).",
        "versions": [VERSION],
        "integrations": [
            {"integration-name": "Amazon Selling Partner API", "external-doc-url": "https://developer-docs.amazon.com/sp-api/",
             "tags": ["service"]},
            {"integration-name": "Oracle NetSuite", "external-doc-url": "https://docs.oracle.com/en/cloud/saas/netsuite/",
             "tags": ["service"]},
        ],
        "hooks": [
            {"integration-name": "Amazon Selling Partner API",
             "python-modules": ["airflow_provider_amznetsuite.hooks.spapi"]},
            {"integration-name": "Oracle NetSuite",
             "python-modules": ["airflow_provider_amznetsuite.hooks.netsuite"]},
        ],
        "operators": [
            {"integration-name": "Amazon Selling Partner API",
             "python-modules": [
                 "airflow_provider_amznetsuite.operators.orders",
                 "airflow_provider_amznetsuite.operators.inventory",
                 "airflow_provider_amznetsuite.operators.products",
                 "airflow_provider_amznetsuite.operators.pricing",
                 "airflow_provider_amznetsuite.operators.settlement",
             ]},
        ],
        "sensors": [
            {"integration-name": "Amazon Selling Partner API",
             "python-modules": ["airflow_provider_amznetsuite.sensors.spapi"]},
        ],
        "triggers": [
            {"integration-name": "Amazon Selling Partner API",
             "python-modules": ["airflow_provider_amznetsuite.triggers.spapi"]},
        ],
        "connection-types": [
            {
                "hook-class-name": "airflow_provider_amznetsuite.hooks.spapi.SpApiHook",
                "hook-name": "Amazon Selling Partner API",
                "connection-type": "amazon_sp_api",
                "ui-field-behaviour": {
                    "hidden-fields": ["schema", "port", "host"],
                    "relabeling": {"login": "LWA Client ID", "password": "LWA Client Secret"},
                    "placeholders": {"login": "amzn1.application-oa2-client.…"},
                },
                "conn-fields": {
                    "refresh_token": {"label": "Refresh token", "description": "LWA refresh token (Atzr|…) of the seller authorisation.",
                                      "schema": {"type": ["string", "null"], "format": "password"}},
                    "region": {"label": "Region", "description": "SP-API region: na, eu or fe.",
                               "schema": {"type": ["string", "null"], "enum": ["na", "eu", "fe", None], "default": "na"}},
                    "seller_id": {"label": "Seller ID", "description": "Merchant token (selling partner id); used by the Listings API and feeds.",
                                  "schema": {"type": ["string", "null"]}},
                    "endpoint": {"label": "Endpoint override", "description": "Base URL override (e.g. the local sandbox http://127.0.0.1:8701).",
                                 "schema": {"type": ["string", "null"], "format": "url"}},
                    "lwa_token_url": {"label": "LWA token URL override", "description": "Defaults to https://api.amazon.com/auth/o2/token.",
                                      "schema": {"type": ["string", "null"], "format": "url"}},
                    "sandbox": {"label": "Use Amazon's sandbox hosts", "description": "sandbox.sellingpartnerapi-<region>.amazon.com",
                                "schema": {"type": ["boolean", "null"], "default": False}},
                },
            },
            {
                "hook-class-name": "airflow_provider_amznetsuite.hooks.netsuite.NetSuiteHook",
                "hook-name": "Oracle NetSuite (SuiteTalk REST)",
                "connection-type": "netsuite",
                "ui-field-behaviour": {
                    "hidden-fields": ["schema", "port", "host", "login", "password"],
                    "relabeling": {},
                    "placeholders": {},
                },
                "conn-fields": {
                    "account_id": {"label": "Account ID", "description": "e.g. 1234567 or 1234567_SB1 (sandbox).",
                                   "schema": {"type": ["string", "null"]}},
                    "auth_type": {"label": "Authentication", "description": "oauth2 (client credentials, recommended) or tba (token-based, closing to new integrations from 2027.1).",
                                  "schema": {"type": ["string", "null"], "enum": ["oauth2", "tba", None], "default": "oauth2"}},
                    "client_id": {"label": "OAuth 2.0 client ID", "description": "Integration record client ID (JWT iss).",
                                  "schema": {"type": ["string", "null"]}},
                    "certificate_id": {"label": "OAuth 2.0 certificate ID", "description": "Certificate ID from the M2M setup (JWT kid).",
                                       "schema": {"type": ["string", "null"]}},
                    "private_key": {"label": "OAuth 2.0 private key (PEM)", "description": "RSA (PS256) or EC P-256 (ES256) private key.",
                                    "schema": {"type": ["string", "null"], "format": "password"}},
                    "consumer_key": {"label": "TBA consumer key", "schema": {"type": ["string", "null"]}},
                    "consumer_secret": {"label": "TBA consumer secret", "schema": {"type": ["string", "null"], "format": "password"}},
                    "token_id": {"label": "TBA token ID", "schema": {"type": ["string", "null"]}},
                    "token_secret": {"label": "TBA token secret", "schema": {"type": ["string", "null"], "format": "password"}},
                    "base_url": {"label": "Base URL override", "description": "e.g. the local sandbox http://127.0.0.1:8702",
                                 "schema": {"type": ["string", "null"], "format": "url"}},
                    "concurrency": {"label": "Concurrency limit", "description": "Client-side cap on in-flight requests for this account (default 5).",
                                    "schema": {"type": ["integer", "null"], "minimum": 1, "maximum": 100, "default": 5}},
                },
            },
        ],
    }
