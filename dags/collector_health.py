"""The hourly ``collector_health`` DAG: alerts when a collector has gone stale (docs/operations.md).

Thin on purpose: the store and collectors.yaml are read when the task runs, not at parse time.
"""

from airflow_collectors.health import build_health_dag

dag = build_health_dag()
