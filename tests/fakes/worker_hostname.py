"""``[core] hostname_callable`` for end-to-end tests that run several workers on one machine.

Airflow records ``task_instance.hostname`` from this callable; two Celery workers on one host
would otherwise report the same name. Each worker process is started with
``E2E_WORKER_HOSTNAME`` set to its own name (other processes fall back to the real FQDN).
"""

from __future__ import annotations

import os
import socket


def hostname() -> str:
    return os.environ.get("E2E_WORKER_HOSTNAME") or socket.getfqdn()
