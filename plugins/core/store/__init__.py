"""Storage for collected data: engine, migrations, checkpoints, run history, upserts."""

from core.store.checkpoints import delete_checkpoints, load_checkpoint, save_checkpoint
from core.store.engine import create_store_engine, default_sqlite_url, local_state_dir, normalize_url
from core.store.http_cache import StoreEtagCache, save_validators
from core.store.migrations import Migration, apply_migrations, create_tables
from core.store.runs import RunRecord, latest_runs, record_run
from core.store.schema import collector_checkpoints, collector_runs, http_validators
from core.store.store import Store
from core.store.timestamps import as_utc
from core.store.upsert import upsert_rows

__all__ = [
    "Migration",
    "RunRecord",
    "Store",
    "StoreEtagCache",
    "apply_migrations",
    "as_utc",
    "collector_checkpoints",
    "collector_runs",
    "create_store_engine",
    "create_tables",
    "default_sqlite_url",
    "delete_checkpoints",
    "http_validators",
    "latest_runs",
    "load_checkpoint",
    "local_state_dir",
    "normalize_url",
    "record_run",
    "save_checkpoint",
    "save_validators",
    "upsert_rows",
]
