"""Airflow loads this file as a plugin (see .airflowignore): the project's API-server route."""

from airflow_collectors.plugin import CollectorsPlugin

__all__ = ["CollectorsPlugin"]
