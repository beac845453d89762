"""Publishing: Markdown renderings of stored rows to a GitHub repository, one commit per run.

``settings`` (the ``publish:`` section) · ``source`` (what a tracker implements) · ``ledger``
(which file holds which item, per target) · ``connection`` (the write-only token) · ``step``
(render -> plan -> commit -> ledger). The Git Data writer and safe file names live in
:mod:`core.operations.github.gitdata` and :mod:`core.operations.filenames`. No Airflow, no
tracker: a source is found by its ``renderer`` path. See docs/publishing.md.

Import from the modules themselves: this package imports nothing, so the DAG files (which read
``publish:`` through :mod:`core.config`) do not load the writer, ``requests`` or the store.
"""
