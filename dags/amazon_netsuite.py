"""Amazon Seller Central <-> NetSuite syncs: one DAG per marketplace and sync, from marketplaces.yaml.

Set AMZNETSUITE_CONFIG to use another file. Configuration problems surface here as one import error
listing every problem (run `amznetsuite config validate` for the same list on the command line).
"""

from airflow_provider_amznetsuite.dag_factory import build_dags_from_config

globals().update(build_dags_from_config())
