"""Local NetSuite (SuiteTalk REST) sandbox: real HTTP on loopback, records in SQLite.

An independent implementation used to prove the provider end to end; it imports nothing from the
provider's product code. Entry point: :func:`airflow_provider_amznetsuite.sandbox.netsuite.server.create_server`;
sandbox-only credentials: :mod:`airflow_provider_amznetsuite.sandbox.netsuite.credentials`.
"""
