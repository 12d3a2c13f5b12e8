"""The connection file: the one place that says where the sketch server listens and how to talk to it.

A small JSON file, readable only by its owner (mode 0600), that the server writes at start-up and
removes on exit: endpoint, HMAC key (hex), the server's CurveZMQ public key when CURVE is on, and the
server's process id. Default location: `$MROSS_CONFIG_DIR/server.json`, else
`$XDG_CONFIG_HOME/mross/server.json` (~/.config/mross), or `%APPDATA%\\mross` on Windows.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

FILE_NAME = "server.json"
CLIENT_KEY_NAME = "client"


class ConnectionFileError(Exception):
    """The connection file is missing, unreadable or malformed; the message is one sentence."""


@dataclass(frozen=True)
class ConnectionInfo:
    """Where and how to reach one server: endpoint, hex HMAC key, optional Z85 CURVE server key, its pid."""

    endpoint: str
    key: str
    server_public_key: str | None = None
    pid: int = 0

    def __post_init__(self) -> None:
        if not isinstance(self.endpoint, str) or "://" not in self.endpoint:
            raise ValueError("the endpoint must look like tcp://host:port")
        bytes.fromhex(self.key)

    @property
    def key_bytes(self) -> bytes:
        """The HMAC key as bytes."""
        return bytes.fromhex(self.key)


def config_dir() -> Path:
    """The directory holding MROSS's connection file and client keys (created by `write`)."""
    override = os.environ.get("MROSS_CONFIG_DIR")
    if override:
        return Path(override)
    if sys.platform == "win32" and os.environ.get("APPDATA"):
        return Path(os.environ["APPDATA"]) / "mross"
    return Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config") / "mross"


def default_path() -> Path:
    """Where a server writes, and a client looks for, the connection file by default."""
    return config_dir() / FILE_NAME


def default_client_keys() -> Path:
    """Where a client looks for its CurveZMQ key pair (`mross-server keygen` writes it there by default)."""
    return config_dir() / f"{CLIENT_KEY_NAME}.key_secret"


def load_key_pair(path: Path) -> tuple[bytes, bytes] | None:
    """The (public, secret) Z85 CurveZMQ keys of a `.key_secret` file (`mross-server keygen`), or None
    when the file is missing, unreadable or holds no secret key."""
    import zmq.auth  # only CURVE users need it; the rest of this module is standard library

    try:
        public, secret = zmq.auth.load_certificate(path)
    except (OSError, ValueError):
        return None
    return (public, secret) if secret else None


def write(info: ConnectionInfo, path: Path | None = None) -> Path:
    """Write `info` atomically to `path` (default location if None), readable by the owner only."""
    target = Path(path) if path else default_path()
    target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    staging = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    # Created 0600 from the start, so the key is never readable by others, not even briefly.
    fd = os.open(staging, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as stream:
        json.dump(asdict(info), stream, indent=2)
    os.replace(staging, target)
    return target


def read(path: Path | None = None) -> ConnectionInfo:
    """The connection file at `path` (default location if None).

    Raises:
        ConnectionFileError: the file does not exist, cannot be read or is not a connection file.
    """
    source = Path(path) if path else default_path()
    try:
        data = json.loads(source.read_text(encoding="utf-8"))
        return ConnectionInfo(**data)
    except FileNotFoundError:
        raise ConnectionFileError(f"no MROSS server connection file at {source} — start the server with `mross-server`") from None
    except OSError as error:
        raise ConnectionFileError(f"cannot read the connection file {source}: {error.strerror or error}") from None
    except (ValueError, TypeError):
        raise ConnectionFileError(f"{source} is not an MROSS connection file") from None


def locate(target: str | os.PathLike[str] | None, key: bytes | None = None) -> ConnectionInfo:
    """Resolve what a user gave into a ConnectionInfo: an endpoint, a connection-file path, or None.

    None reads the default connection file. An endpoint such as `tcp://127.0.0.1:5555` uses `key` if
    given, else the key (and CURVE server key) of the default connection file.
    """
    if target is None or not str(target).startswith(("tcp://", "ipc://")):
        return read(Path(target) if target is not None else None)
    if key is not None:
        return ConnectionInfo(endpoint=str(target), key=key.hex())
    default = read()
    return ConnectionInfo(endpoint=str(target), key=default.key, server_public_key=default.server_public_key, pid=default.pid)


def remove(path: Path, pid: int) -> None:
    """Delete the connection file at `path` if it still belongs to process `pid` (another server may have replaced it)."""
    try:
        if read(path).pid == pid:
            path.unlink()
    except (ConnectionFileError, FileNotFoundError):
        pass

