"""One DAG per collector in include/collectors.yaml (see docs/configuration.md).

Thin on purpose: no network, no database and no tracker import at parse time.
"""

from airflow_collectors.dag_factory import build_dags

globals().update(build_dags())
