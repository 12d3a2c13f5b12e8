"""CurveZMQ for a server reachable from other machines: key pairs, the server's keys, the client allow-list.

Ironhouse: the server has its own key pair, and only clients whose public key file (`*.key`) lies in
the allow-list directory may connect; `zmq.auth.ThreadAuthenticator` enforces it in the server's
process. A rejected client sees HANDSHAKE_FAILED_AUTH on its socket monitor, not a timeout.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import zmq
from zmq.auth.thread import ThreadAuthenticator

from mross_shared import connection

SERVER_KEY_NAME = "server"


class CurveSetupError(Exception):
    """The key directory or allow-list is missing or unusable; the message is one sentence."""


@dataclass(frozen=True)
class CurveKeys:
    """The server's key pair (Z85) and the directory of authorised client public keys."""

    public: bytes
    secret: bytes
    allow_dir: Path


def make_keypair(directory: Path, name: str) -> tuple[Path, Path]:
    """Write `<name>.key` (public) and `<name>.key_secret` into `directory`, the secret readable by its owner only."""
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    public, secret = zmq.auth.create_certificates(directory, name)
    # create_certificates leaves the secret file world-readable (0644).
    os.chmod(secret, 0o600)
    return Path(public), Path(secret)


def load_server_keys(key_dir: Path, allow_dir: Path) -> CurveKeys:
    """The server key pair from `key_dir/server.key_secret` and the allow-list directory.

    Raises:
        CurveSetupError: a file or directory is missing, or the allow-list holds no client key.
    """
    secret_file = key_dir / f"{SERVER_KEY_NAME}.key_secret"
    pair = connection.load_key_pair(secret_file)
    if pair is None:
        raise CurveSetupError(f"no server key pair at {secret_file} — make one with `mross-server keygen {key_dir} --name {SERVER_KEY_NAME}`")
    if not allow_dir.is_dir() or not any(allow_dir.glob("*.key")):
        raise CurveSetupError(f"the allow-list {allow_dir} holds no client public keys (*.key) — copy each client's .key file there")
    return CurveKeys(*pair, allow_dir)


def secure(socket: zmq.Socket[bytes], keys: CurveKeys) -> ThreadAuthenticator:
    """Make `socket` (not yet bound) a CURVE server that admits only allow-listed clients.

    Returns the running authenticator; stop it when the socket closes.
    """
    authenticator = ThreadAuthenticator(socket.context)
    authenticator.start()
    authenticator.configure_curve(domain="*", location=str(keys.allow_dir))
    socket.curve_secretkey = keys.secret
    socket.curve_publickey = keys.public
    socket.curve_server = True
    return authenticator
