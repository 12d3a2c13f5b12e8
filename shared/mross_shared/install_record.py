"""The install record: how the Inkscape extension starts the locally installed sketch server.

install.py writes it beside the extension (`mross_vendor/mross_install.json`); the extension reads it
when no server answers. Standard library only, and Python 3.9 compatible: install.py imports it too.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

RECORD_NAME = "mross_install.json"


class InstallRecordError(ValueError):
    """The record is missing, unreadable or malformed."""


@dataclass(frozen=True)
class InstallRecord:
    """The command that runs the server, the environment variables it needs, and its Python interpreter."""

    server_command: tuple[str, ...]
    server_env: dict[str, str] = field(default_factory=dict)
    server_python: tuple[str, ...] = ()

    def write(self, path: Path) -> None:
        """Write the record as JSON to `path`."""
        fields = {"server_command": list(self.server_command), "server_env": dict(self.server_env), "server_python": list(self.server_python)}
        Path(path).write_text(json.dumps(fields, indent=2) + "\n", encoding="utf-8")

    @classmethod
    def read(cls, path: Path) -> InstallRecord:
        """The record at `path`; InstallRecordError when it is missing or malformed."""
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
            command = tuple(str(part) for part in data["server_command"])
            env = {str(name): str(value) for name, value in (data.get("server_env") or {}).items()}
            python = tuple(str(part) for part in data.get("server_python") or ())
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
            raise InstallRecordError(f"{path} is not a readable install record ({error})") from None
        if not command:
            raise InstallRecordError(f"{path} names no server command")
        return cls(command, env, python)
