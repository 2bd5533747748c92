-- Second database for the provider's sync-state store (the first, "airflow", is the metadata DB).
CREATE DATABASE amznetsuite_state;
