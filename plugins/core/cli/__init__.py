"""Console commands (``python -m core.cli ...``): run collectors outside Airflow, inspect the store."""
