#!/usr/bin/env bash
# The CeleryExecutor end-to-end test (tests/e2e/test_celery.py) needs Redis at 127.0.0.1:6379
# as its broker. Start a local server if one is installed and down; the test itself fails under
# CI=true (skips otherwise) when Redis still does not answer.
set -euo pipefail
source "$(dirname "$0")/env.sh"
check() { "$VENV/bin/python" -c 'import redis; redis.Redis(host="127.0.0.1", port=6379, socket_connect_timeout=2).ping()' 2>/dev/null; }
check && exit 0
if command -v redis-server >/dev/null; then
  echo "ensure_redis: starting a local Redis (no persistence)"
  mkdir -p /var/lib/redis /var/log/redis 2>/dev/null || true
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log || true
  for _ in $(seq 1 15); do check && exit 0; sleep 1; done
fi
echo "ensure_redis: no Redis at 127.0.0.1:6379 (the CeleryExecutor e2e test will not run)" >&2
