"""Apache Airflow provider: Amazon Seller Central (SP-API) <-> Oracle NetSuite (SuiteTalk REST)."""

from airflow_provider_amznetsuite.get_provider_info import VERSION as __version__
from airflow_provider_amznetsuite.get_provider_info import get_provider_info

__all__ = ["__version__", "get_provider_info"]
