"""Shared GitHub operations: the REST client and its parts (see :mod:`core.operations.github`).

Trackers import from here (the supported import path); the GitHub layer lives in the
``github`` subpackage, the generic machinery in the HTTP source kit (:mod:`core.operations.http`).
This module re-exports the layer's names and the GraphQL helpers.
"""

from core.operations import github
from core.operations.github import *  # noqa: F403 - the layer's public names, listed in its __all__
from core.operations.github.graphql import GraphQLAnswer, PointBudget, graphql_url, run_query

__all__ = ["GraphQLAnswer", "PointBudget", "graphql_url", "run_query"]
__all__ += github.__all__
