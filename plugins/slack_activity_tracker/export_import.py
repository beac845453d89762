"""Slack's official workspace export -> the same rows as the API path, without API quota.

The export is a zip (or its unpacked folder): ``users.json``, ``channels.json`` (public),
``groups.json`` (private, in exports that include them), and one folder per channel named after
it, holding one ``YYYY-MM-DD.json`` per day: a JSON list of that day's messages, thread
replies included, in the API's message shape. Every file is validated whole before anything of
it is written (a bad file is a ``DataValidationError`` naming the file and the field); each
day file is one transaction through the writers the API path uses
(:func:`slack_activity_tracker.collector.write_messages`), so a message gives the same row
whichever way it arrived. Members of the zip are read, never extracted.
"""

from __future__ import annotations

import hashlib
import json
import re
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from core.errors import ConfigError, DataValidationError
from slack_activity_tracker.api_schemas import Channel, Message, User, parse_items

__all__ = ["WorkspaceExport"]

_DAY_FILE = re.compile(r"^\d{4}-\d{2}-\d{2}\.json$")


class WorkspaceExport:
    """Read access to one export (zip file or folder)."""

    def __init__(self, path: Path) -> None:
        if not path.exists():
            raise ConfigError(f"slack export {path}: no such file or folder (config.teams[].export_path)")
        self.path = path
        self._zip = zipfile.ZipFile(path) if path.is_file() else None
        self._folders: dict[str, str] | None = None
        self._sha256: str | None = None

    def close(self) -> None:
        if self._zip is not None:
            self._zip.close()

    def __enter__(self) -> WorkspaceExport:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ files

    def names(self) -> list[str]:
        if self._zip is not None:
            return [n for n in self._zip.namelist() if not n.endswith("/")]
        return sorted(str(p.relative_to(self.path)).replace("\\", "/") for p in self.path.rglob("*") if p.is_file())

    def _read(self, name: str) -> Any:
        source = f"{self.path.name}:{name}"
        try:
            raw = self._zip.read(name) if self._zip is not None else (self.path / name).read_bytes()
        except (KeyError, OSError):
            return None
        try:
            return json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise DataValidationError(f"Slack export file is not valid JSON ({exc})", source=source) from None

    @property
    def sha256(self) -> str:
        if self._sha256 is None:
            digest = hashlib.sha256()
            if self._zip is not None:
                with self.path.open("rb") as file:
                    digest = hashlib.file_digest(file, "sha256")
            else:
                for name in self.names():
                    digest.update(name.encode())
                    digest.update((self.path / name).read_bytes())
            self._sha256 = digest.hexdigest()
        return self._sha256

    # ------------------------------------------------------------------ contents

    def users(self) -> list[User]:
        data = self._read("users.json")
        return parse_items(User, data or [], source=f"{self.path.name}:users.json")

    def channels(self) -> list[tuple[Channel, str]]:
        """(channel, folder) of every channel in the export."""
        found: list[tuple[Channel, str]] = []
        for name, private in (("channels.json", False), ("groups.json", True)):
            data = self._read(name)
            if data is None:
                continue
            if not isinstance(data, list):
                raise DataValidationError("expected a JSON list", source=f"{self.path.name}:{name}", location="$")
            items = [{**item, "is_private": private} if isinstance(item, dict) else item for item in data]
            for channel in parse_items(Channel, items, source=f"{self.path.name}:{name}"):
                found.append((channel, channel.name or channel.id))
        return found

    def folder_of(self, channel_id: str) -> str | None:
        if self._folders is None:
            self._folders = {channel.id: folder for channel, folder in self.channels()}
        return self._folders.get(channel_id)

    def days(self, folder: str) -> Iterator[tuple[str, list[Message]]]:
        """(file name, messages) of each day file of ``folder``, oldest day first."""
        prefix = folder.rstrip("/") + "/"
        files = sorted(n for n in self.names() if n.startswith(prefix) and _DAY_FILE.match(n[len(prefix):]))
        for name in files:
            data = self._read(name)
            if not isinstance(data, list):
                raise DataValidationError("expected a JSON list of messages", source=f"{self.path.name}:{name}",
                                          location="$")
            # Slack's exports carry a few non-message records; keep messages only.
            messages = [m for m in data if not isinstance(m, dict) or m.get("type", "message") == "message"]
            yield name, parse_items(Message, messages, source=f"{self.path.name}:{name}")
