"""Shared I/O for trackers: API clients and file helpers (no Airflow, no tracker imports)."""
