"""``BaseCollectorCommand``: run any collector from a console, outside Airflow."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from typing import Any

import orjson

from core.collectors.runnable import CollectorRunnable
from core.errors import classify_failure, sanitize_exception_message
from core.protocols import tracker_result_to_dict

__all__ = ["BaseCollectorCommand"]


class BaseCollectorCommand:
    """Parse options, build the collector, ``run()`` it, then ``sync_pinecone()``.

    Subclasses override :meth:`add_arguments` and :meth:`get_collector`. Exit code 0 on
    success, 1 on failure (the category and the sanitized message go to stderr as JSON).
    """

    help = "Run a collector"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--skip-sync", action="store_true", help="do not run the vector sync step")

    def get_collector(self, **options: Any) -> CollectorRunnable:
        raise NotImplementedError

    def create_parser(self, prog: str | None = None) -> argparse.ArgumentParser:
        parser = argparse.ArgumentParser(prog=prog, description=self.help)
        self.add_arguments(parser)
        return parser

    def main(self, argv: Sequence[str] | None = None) -> int:
        options = vars(self.create_parser().parse_args(argv))
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        skip_sync = bool(options.get("skip_sync"))
        collector = self.get_collector(**options)
        try:
            outcome: dict[str, Any] = {}
            result = collector.run()
            if result is not None:
                outcome["collect"] = tracker_result_to_dict(result)
            if not skip_sync:
                synced = collector.sync_pinecone()
                if synced is not None:
                    outcome["sync_pinecone"] = tracker_result_to_dict(synced)
        except Exception as exc:  # noqa: BLE001 - reported as a structured failure
            failure = {
                "success": False,
                "failure_category": classify_failure(exc).value,
                "error": sanitize_exception_message(exc),
            }
            sys.stderr.write(orjson.dumps(failure).decode() + "\n")
            return 1
        sys.stdout.write(orjson.dumps(outcome, option=orjson.OPT_INDENT_2).decode() + "\n")
        return 0
