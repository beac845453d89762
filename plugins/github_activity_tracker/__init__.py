"""GitHub tracker: commits, issues, pull requests, comments and reviews into the store.

Modules: ``config`` (collectors.yaml ``config:`` block and the ``github_default``
connection), ``tables`` (schema and migrations), ``api_schemas`` (REST payload models),
``streams`` (one declarative definition per stream), ``rows`` (payload -> table rows),
``collector`` (:class:`~github_activity_tracker.collector.GitHubCollector`),
``commit_files`` (full file lists of commits GitHub truncates), ``protocol_impl``,
``preprocess`` (vector documents) and ``markdown_export``.
"""
