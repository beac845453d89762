"""Collector alerts, split the way Airflow's providers are built.

* :mod:`.formatter`: the message (:class:`~.formatter.CollectorAlert`), its redaction and its
  renderings (plain text, Slack blocks, generic JSON and Discord webhook bodies). Pure data,
  no I/O.
* :mod:`.context`: builds an alert from an Airflow callback context (task failure, retry,
  missed deadline).
* :mod:`.router`: whether an alert goes out: by category and try (``alerts:`` routing), then
  by repeat suppression (the store's ``collector_alerts`` table).
* :mod:`.webhook_hook` and :mod:`.delivery`: the destinations: Slack through the Slack
  provider's ``SlackWebhookNotifier``/``SlackWebhookHook``, everything else through
  :class:`~.webhook_hook.WebhookHook` (Discord is a payload variant).
* :mod:`.dispatch`: router, then delivery, then metrics; :mod:`.vanished`: tasks that died
  without reporting; :mod:`.notifier`: the ``BaseNotifier`` the DAGs use.

``airflow_collectors.notifier`` re-exports the public names for existing imports.
"""
