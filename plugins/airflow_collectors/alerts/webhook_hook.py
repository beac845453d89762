"""A small hook that POSTs JSON to a webhook URL held by an Airflow connection.

For every alert destination that is not Slack: a generic JSON endpoint, or Discord (a payload
variant: ``{"format": "discord"}`` in the connection's extra, see
:func:`airflow_collectors.alerts.formatter.webhook_body`). The connection is an ``http``
connection as the HTTP provider defines it; the URL is the first of ``extra.url``,
``extra.webhook_url``, the password or the host that holds a full URL, else
``<schema or https>://<host>[:<port>]/<extra.endpoint>``.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseHook

if TYPE_CHECKING:
    import requests
    from airflow.sdk import Connection

__all__ = ["WebhookHook", "webhook_secrets", "webhook_url"]


def webhook_url(fields: Mapping[str, Any]) -> str:
    """The URL of a webhook connection given as fields (``host``, ``password``, ``extra``...)."""
    extra = fields.get("extra") or {}
    for candidate in (extra.get("url"), extra.get("webhook_url"), fields.get("password"), fields.get("host")):
        if isinstance(candidate, str) and "://" in candidate:
            return candidate
    host = fields.get("host") or ""
    if not host:
        raise ValueError(
            f"connection {fields.get('conn_id')!r} has no webhook URL (host, password or extra.url)"
        )
    scheme = fields.get("schema") or "https"
    port = f":{fields['port']}" if fields.get("port") else ""
    path = str(extra.get("endpoint") or "")
    return f"{scheme}://{host}{port}/{path.lstrip('/')}"


def webhook_secrets(fields: Mapping[str, Any]) -> list[str]:
    """What of a destination connection must never be shown: the URL and its parts."""
    values = [str(v) for v in (fields.get("password"), fields.get("host"), fields.get("uri")) if v]
    extra = fields.get("extra") or {}
    values += [str(v) for k, v in extra.items() if isinstance(v, str) and k.lower() in {"url", "webhook_url"}]
    return values


class WebhookHook(BaseHook):
    """POST a JSON body to the webhook of connection ``webhook_conn_id``.

    :param webhook_conn_id: an ``http`` connection holding the webhook URL.
    :param timeout: seconds to connect and to wait for the answer.
    """

    conn_name_attr = "webhook_conn_id"
    default_conn_name = "webhook_default"
    conn_type = "http"
    hook_name = "Alert webhook"

    def __init__(
        self, webhook_conn_id: str = default_conn_name, *, timeout: float = 15, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.webhook_conn_id = webhook_conn_id
        self.timeout = timeout

    @cached_property
    def connection(self) -> Connection:
        return self.get_connection(self.webhook_conn_id)

    @property
    def fields(self) -> dict[str, Any]:
        conn = self.connection
        return {
            "conn_id": conn.conn_id,
            "host": conn.host,
            "password": conn.password,
            "schema": conn.schema,
            "port": conn.port,
            "extra": conn.extra_dejson,
        }

    @property
    def url(self) -> str:
        return webhook_url(self.fields)

    @property
    def payload_format(self) -> str:
        """``extra.format`` (``"discord"``), else ``"json"``."""
        return str(self.connection.extra_dejson.get("format") or "json").lower()

    def get_conn(self) -> requests.Session:
        import requests

        return requests.Session()

    def send(self, body: Mapping[str, Any]) -> requests.Response:
        """POST ``body`` as JSON; a non-2xx answer raises ``requests.HTTPError``."""
        with self.get_conn() as session:
            response = session.post(self.url, json=dict(body), timeout=self.timeout)
        response.raise_for_status()
        return response
