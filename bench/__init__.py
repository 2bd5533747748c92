"""Benchmarks of airflow-provider-amznetsuite (``make bench`` runs ``python -m bench.run``); see bench/README.md."""
