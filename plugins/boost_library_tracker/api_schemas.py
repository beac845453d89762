"""The GitHub answers this tracker reads, validated before anything is written."""

from __future__ import annotations

import base64
import binascii
from typing import Any, Literal, TypeVar

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from core.errors import DataValidationError, json_location

__all__ = ["ContentFile", "GitCommit", "GitTree", "Tag", "parse"]

_SHA = r"^[0-9a-f]{40}$"
M = TypeVar("M", bound=BaseModel)


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True)  # unknown fields are ignored (the API adds some)


class _Ref(_Model):
    sha: str = Field(pattern=_SHA)


class Tag(_Model):
    """An item of ``GET /repos/{o}/{r}/tags``: a tag needs no Release object to count."""

    name: str = Field(max_length=250)
    commit: _Ref


class _Signature(_Model):
    date: AwareDatetime


class GitCommit(_Model):
    """``GET /repos/{o}/{r}/git/commits/{sha}``: the tree and the commit date."""

    sha: str = Field(pattern=_SHA)
    tree: _Ref
    committer: _Signature


class TreeEntry(_Model):
    path: str
    type: Literal["blob", "tree", "commit"]
    sha: str = Field(pattern=_SHA)


class GitTree(_Model):
    """``GET /repos/{o}/{r}/git/trees/{sha}?recursive=1``: submodules are ``type: commit``."""

    sha: str = Field(pattern=_SHA)
    tree: list[TreeEntry]
    truncated: bool = False


class ContentFile(_Model):
    """``GET /repos/{o}/{r}/contents/{path}?ref=``: a file, base64-encoded (up to 1 MB)."""

    type: Literal["file"]
    path: str
    size: int = Field(ge=0)
    encoding: Literal["base64"]
    content: str

    def decoded(self) -> bytes:
        try:
            return base64.b64decode("".join(self.content.split()), validate=True)
        except (binascii.Error, ValueError) as exc:
            raise DataValidationError(
                f"content is not base64: {exc}", source=self.path, location="content"
            ) from None


def parse(model: type[M], data: Any, endpoint: str) -> M:
    """``model`` from a decoded body; a ``validation`` error names the endpoint and the field."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise DataValidationError(
            first["msg"], source=endpoint, location=json_location(first["loc"])
        ) from None
