"""DAG parse time: ``dags/amazon_netsuite.py`` with a generated 20-marketplace configuration.

The configuration takes the example file's ``defaults`` and adds ``--marketplaces`` Amazon marketplaces
(the 23 Amazon marketplaces the config knows, each with its own seller connection id so that reusing a
marketplace id beyond 23 stays valid), every sync enabled. It is validated with ``load_config`` first.

Two timings, each in a fresh interpreter (Airflow itself is imported before the clock starts, as in
the DAG processor, which pre-imports Airflow), cold (first parse: imports the provider's modules too)
and warm (a second parse in the same interpreter: building the DAGs alone, which is what the DAG
processor pays when ``[dag_processor] parsing_pre_import_modules`` has pre-imported the modules the
DAG file imports):

* **processor** — ``DagBag(dag_folder=dags/amazon_netsuite.py)`` builds every DAG (marketplaces × syncs
  whose builder exists); the median of ``--repeats`` fresh processes;
* **worker** — the same file with Airflow's parsing context set to one DAG id
  (``_AIRFLOW_PARSING_CONTEXT_DAG_ID``, what ``airflow tasks run`` sets; read by ``get_parsing_context()``),
  so only that DAG is built.

Run:  .venv/bin/python -m bench.dag_parse_bench [--marketplaces 20] [--repeats 5]
Prints one JSON object on stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from bench.common import ROOT

DAG_FILE = ROOT / "dags" / "amazon_netsuite.py"
EXAMPLE_CONFIG = ROOT / "dags" / "marketplaces.yaml"

# country -> (currency, timezone, language tag); marketplace ids and regions come from config.MARKETPLACES
COUNTRY_FACTS: dict[str, tuple[str, str, str]] = {
    "US": ("USD", "America/New_York", "en_US"), "CA": ("CAD", "America/Toronto", "en_CA"),
    "MX": ("MXN", "America/Mexico_City", "es_MX"), "BR": ("BRL", "America/Sao_Paulo", "pt_BR"),
    "IE": ("EUR", "Europe/Dublin", "en_IE"), "ES": ("EUR", "Europe/Madrid", "es_ES"),
    "UK": ("GBP", "Europe/London", "en_GB"), "FR": ("EUR", "Europe/Paris", "fr_FR"),
    "BE": ("EUR", "Europe/Brussels", "fr_BE"), "NL": ("EUR", "Europe/Amsterdam", "nl_NL"),
    "DE": ("EUR", "Europe/Berlin", "de_DE"), "IT": ("EUR", "Europe/Rome", "it_IT"),
    "SE": ("SEK", "Europe/Stockholm", "sv_SE"), "ZA": ("ZAR", "Africa/Johannesburg", "en_ZA"),
    "PL": ("PLN", "Europe/Warsaw", "pl_PL"), "EG": ("EGP", "Africa/Cairo", "ar_EG"),
    "TR": ("TRY", "Europe/Istanbul", "tr_TR"), "SA": ("SAR", "Asia/Riyadh", "ar_SA"),
    "AE": ("AED", "Asia/Dubai", "en_AE"), "IN": ("INR", "Asia/Kolkata", "en_IN"),
    "SG": ("SGD", "Asia/Singapore", "en_SG"), "AU": ("AUD", "Australia/Sydney", "en_AU"),
    "JP": ("JPY", "Asia/Tokyo", "ja_JP"),
}


def build_config(marketplaces: int) -> dict[str, Any]:
    from airflow_provider_amznetsuite.config import MARKETPLACES

    example = yaml.safe_load(EXAMPLE_CONFIG.read_text(encoding="utf-8"))
    countries = [c for c in MARKETPLACES if c in COUNTRY_FACTS]
    markets: dict[str, Any] = {}
    for n in range(marketplaces):
        country = countries[n % len(countries)]
        marketplace_id, region = MARKETPLACES[country]
        currency, tz, lang = COUNTRY_FACTS[country]
        code = f"{country.lower()}{n:02d}"
        markets[code] = {
            "marketplace_id": marketplace_id, "region": region, "country": country, "currency": currency,
            "language_tag": lang, "timezone": tz, "subsidiary": 2 + n % 3,
            "spapi_conn_id": f"amazon_sp_api_{code}",      # own seller connection per marketplace
            "customer": {"customer_id": 101 + n % 3},
            "locations": {"mfn": [{"location_id": 1 + n % 4}], "fba": 11 + n % 3},
            "tax": {"seller_collected_code": 10 + n % 3},
            "channel": {"class": 5},
        }
    return {"defaults": example.get("defaults", {}), "marketplaces": markets}


CHILD = r"""
import json, os, sys, time
mode, dag_file = sys.argv[1], sys.argv[2]
t0 = time.perf_counter()
import airflow  # noqa: F401  (pre-imported by the DAG processor / worker)
from airflow.dag_processing.dagbag import DagBag
t1 = time.perf_counter()
bag = DagBag(dag_folder=dag_file, safe_mode=False)
t2 = time.perf_counter()
again = DagBag(dag_folder=dag_file, safe_mode=False)  # provider modules already imported: the build alone
t3 = time.perf_counter()
tasks = sum(len(d.tasks) for d in bag.dags.values())
print(json.dumps({"mode": mode, "airflow_import_s": t1 - t0, "parse_s": t2 - t1, "warm_parse_s": t3 - t2,
                  "dags": len(bag.dags), "warm_dags": len(again.dags),
                  "tasks": tasks, "import_errors": {k: v[:300] for k, v in bag.import_errors.items()},
                  "dag_ids": sorted(bag.dags)[:3]}))
"""


def _child(mode: str, env: dict[str, str]) -> dict[str, Any]:
    out = subprocess.run([sys.executable, "-c", CHILD, mode, str(DAG_FILE)], env=env, capture_output=True,
                         text=True, timeout=600, cwd=str(ROOT))
    lines = [ln for ln in out.stdout.splitlines() if ln.startswith("{")]
    if out.returncode != 0 or not lines:
        raise RuntimeError(f"parse child ({mode}) failed with {out.returncode}: {out.stderr[-2000:]}")
    return json.loads(lines[-1])


def run(marketplaces: int = 20, repeats: int = 5) -> dict[str, Any]:
    from airflow_provider_amznetsuite.config import SYNCS, load_config

    with tempfile.TemporaryDirectory(prefix="dag-parse-bench-") as tmp:
        cfg_path = Path(tmp) / "marketplaces.yaml"
        cfg_path.write_text(yaml.safe_dump(build_config(marketplaces), sort_keys=False), encoding="utf-8")
        app = load_config(cfg_path)  # raises ConfigError listing every problem
        home = Path(tmp) / "airflow_home"
        home.mkdir()
        env = {**os.environ, "AMZNETSUITE_CONFIG": str(cfg_path), "AIRFLOW_HOME": str(home),
               "AIRFLOW__CORE__LOAD_EXAMPLES": "False", "AIRFLOW__LOGGING__LOGGING_LEVEL": "ERROR",
               "AIRFLOW__CORE__DAGS_FOLDER": str(DAG_FILE.parent),
               "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
        env.pop("_AIRFLOW_PARSING_CONTEXT_DAG_ID", None)
        full = [_child("processor", env) for _ in range(repeats)]
        first = next(iter(app.marketplaces.values()))
        worker_dag = first.dag_id("orders")
        worker_env = {**env, "_AIRFLOW_PARSING_CONTEXT_DAG_ID": worker_dag}
        worker = [_child("worker", worker_env) for _ in range(repeats)]
    errors = full[0]["import_errors"] or worker[0]["import_errors"]
    return {
        "benchmark": "dag_parse", "marketplaces": marketplaces, "syncs_configured": len(SYNCS),
        "syncs": list(SYNCS), "repeats": repeats,
        "processor": {
            "dags": full[0]["dags"], "tasks": full[0]["tasks"],
            "parse_s_median": round(statistics.median(r["parse_s"] for r in full), 3),
            "parse_s_all": [round(r["parse_s"], 3) for r in full],
            "ms_per_dag": round(1000 * statistics.median(r["parse_s"] for r in full) / max(1, full[0]["dags"]), 1),
            "airflow_import_s_median": round(statistics.median(r["airflow_import_s"] for r in full), 3),
            "warm_parse_s_median": round(statistics.median(r["warm_parse_s"] for r in full), 3),
        },
        "worker": {
            "dag_id": worker_dag, "dags": worker[0]["dags"],
            "parse_s_median": round(statistics.median(r["parse_s"] for r in worker), 3),
            "parse_s_all": [round(r["parse_s"], 3) for r in worker],
            "warm_parse_s_median": round(statistics.median(r["warm_parse_s"] for r in worker), 3),
        },
        "import_errors": errors,
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--marketplaces", type=int, default=20)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args(argv)
    from bench.common import emit

    emit(run(args.marketplaces, args.repeats))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
