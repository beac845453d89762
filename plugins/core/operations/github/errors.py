"""GitHub's names for the statuses callers catch (subclasses of the kit's, same categories)."""

from __future__ import annotations

from core.operations.http import GoneError, HttpConflictError, NotFoundError, StatusErrors

__all__ = ["GITHUB_ERRORS", "GitHubConflictError", "GitHubGoneError", "GitHubNotFoundError"]


class GitHubNotFoundError(NotFoundError):
    """404: the resource does not exist or the token may not see it (GitHub does not say which).

    Callers for whom absence is normal (``contents/.gitmodules``) catch this class.
    """


class GitHubConflictError(HttpConflictError):
    """409: e.g. listing commits of an empty repository ("Git Repository is empty.")."""


class GitHubGoneError(GoneError):
    """410: the feature behind the endpoint is turned off ("Issues are disabled for this repo").

    Callers for whom a disabled feature is normal (the tracker's issue streams) catch it.
    """


GITHUB_ERRORS = StatusErrors(
    not_found=GitHubNotFoundError, conflict=GitHubConflictError, gone=GitHubGoneError
)
