#!/usr/bin/env bash
# The whole test suite: install, lint (ruff), types (pyright), layering (import-linter), pytest.
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$PROJECT_ROOT"
"$PROJECT_ROOT/scripts/bootstrap.sh"
"$PROJECT_ROOT/scripts/ensure_postgres.sh"
"$PROJECT_ROOT/scripts/ensure_redis.sh"

echo "== ruff"; ruff check plugins dags tests benchmarks
echo "== import-linter"; lint-imports pyproject.toml
echo "== pyright"; pyright plugins dags
echo "== pytest"
exec python -m pytest -p no:cacheprovider "$@"
