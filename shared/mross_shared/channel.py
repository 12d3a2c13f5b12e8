"""The client's end of the wire: one DEALER socket to one server, sending and receiving verified messages.

LINGER 0, so closing never hangs on a dead server; a fixed routing id, so a reconnect after a network
blip keeps receiving the same jobs; CurveZMQ when the connection file names a server key; a socket
monitor that turns a failed handshake (a rejected CURVE key, or a connection file that disagrees
with the server about using CURVE) into NotAuthorised at once instead of a timeout. What a
job is, and which reply answers which request, is `client.py`'s business, not this module's.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from pathlib import Path
from typing import Any

import zmq
from zmq.utils.monitor import recv_monitor_message

from mross_shared import connection
from mross_shared.errors import ErrorCode, JobFailed, NotAuthorised, ProtocolError
from mross_shared.messages import SERVER_MESSAGES, Limits
from mross_shared.protocol import Codec, Encoded, Envelope

_HANDSHAKE_EVENTS = (
    zmq.EVENT_HANDSHAKE_FAILED_AUTH | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL | zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL | zmq.EVENT_HANDSHAKE_SUCCEEDED
)
# libzmq reconnects every 100 ms; three hang-ups in the handshake are no accident.
_HANG_UPS_MEANING_MISMATCH = 3


class ServerChannel:
    """A connected socket to the server in `info`; belongs to the thread that made it, as zmq sockets do.

    Raises NotAuthorised when the server uses CURVE and this client has no key pair at `client_keys`
    (default: the one `mross-server keygen` writes into the config directory).
    """

    def __init__(self, info: connection.ConnectionInfo, client_keys: Path | None = None) -> None:
        self.endpoint = info.endpoint
        # Decoding limits for what the server sends; its own limits arrive in `hello`.
        self._codec = Codec(info.key_bytes, SERVER_MESSAGES, Limits())
        self.last_heard = time.monotonic()
        self._public_key_file: Path | None = None
        self._hang_ups = 0
        self._context: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
        try:
            self._socket = self._context.socket(zmq.DEALER)
            self._socket.linger = 0
            self._socket.routing_id = uuid.uuid4().bytes
            if info.server_public_key:
                self._use_curve(info.server_public_key, client_keys)
            self._monitor = self._socket.get_monitor_socket(_HANDSHAKE_EVENTS)
            self._socket.connect(self.endpoint)
        except BaseException:
            self.close()
            raise

    @property
    def closed(self) -> bool:
        """Whether `close` has run."""
        return self._context.closed

    def close(self) -> None:
        """Close the socket at once, discarding anything unsent."""
        self._context.destroy(linger=0)

    def send(self, message: Any) -> Encoded:
        """Encode, sign and send a client message; returns what was sent (its msg_id names the request)."""
        encoded = self.encode(message)
        self.transmit(encoded)
        return encoded

    def encode(self, message: Any) -> Encoded:
        """Encode and sign a client message without sending it (to check it against the server's limits first)."""
        return self._codec.encode(message)

    def transmit(self, encoded: Encoded) -> None:
        """Send already encoded frames."""
        # The send queue is full only when the server has been gone for a while; waiting for the
        # reply then reports it, and a lost ping or cancel does not matter.
        with contextlib.suppress(zmq.Again):
            self._socket.send_multipart(encoded.frames, flags=zmq.NOBLOCK, copy=False)

    def receive(self, timeout_s: float) -> Envelope[Any] | None:
        """The next verified message, or None after `timeout_s`.

        Raises:
            NotAuthorised: the server rejected this client's CURVE key, or signs with another HMAC key.
            JobFailed: the server sent something this client cannot decode.
        """
        poller = zmq.Poller()
        poller.register(self._socket, zmq.POLLIN)
        poller.register(self._monitor, zmq.POLLIN)
        end = time.monotonic() + timeout_s
        while True:
            ready = dict(poller.poll(max(1, int((end - time.monotonic()) * 1000))))
            if self._monitor in ready:  # handshake news, not a message: keep waiting unless it is a refusal
                event = recv_monitor_message(self._monitor)
                self._check_handshake(event["event"], event["value"])
            if self._socket in ready:
                break
            if time.monotonic() >= end:
                return None
        frames = self._socket.recv_multipart()
        self.last_heard = time.monotonic()
        try:
            return self._codec.decode(frames)
        except ProtocolError as error:
            if error.code is ErrorCode.BAD_SIGNATURE:
                raise NotAuthorised(
                    f"the server at {self.endpoint} signs with a different key than this client has — "
                    "use its current connection file (was the server restarted?)"
                ) from None
            raise JobFailed(error.code, f"the server sent a message this client cannot read: {error}") from None

    def _check_handshake(self, event: int, value: int) -> None:
        """NotAuthorised for a handshake the server refused: this client's key, or CURVE on one side only.

        Which side notices a mechanism mismatch first is a race: the client either reads the server's
        greeting (a protocol error naming the mismatch) or finds the connection closed under it
        (no detail). A few hang-ups in a row, with no handshake succeeding in between, mean the same.
        """
        if event == zmq.EVENT_HANDSHAKE_SUCCEEDED:
            self._hang_ups = 0
            return
        if event == zmq.EVENT_HANDSHAKE_FAILED_AUTH:
            raise NotAuthorised(
                f"the server at {self.endpoint} did not accept this client's CurveZMQ key (not authorised) — "
                f"ask its operator to add {self._public_key_file} to the server's --allow directory"
            )
        if event == zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL:
            self._hang_ups += 1
            mismatch = self._hang_ups >= _HANG_UPS_MEANING_MISMATCH
        else:
            mismatch = value == zmq.PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH
            if not mismatch:
                raise NotAuthorised(f"the handshake with {self.endpoint} failed — is an MROSS server listening there?")
        if not mismatch:
            return
        if self._public_key_file is None:
            raise NotAuthorised(
                f"the server at {self.endpoint} uses CurveZMQ, but the connection details give no server key — "
                "use the connection file that server wrote (it holds the key)"
            )
        raise NotAuthorised(
            f"the server at {self.endpoint} refused the CurveZMQ handshake: it does not use CurveZMQ, or has another key "
            "than the connection details give — use the connection file that server wrote"
        )

    def _use_curve(self, server_key: str, client_keys: Path | None) -> None:
        path = Path(client_keys) if client_keys else connection.default_client_keys()
        pair = connection.load_key_pair(path)
        if pair is None:
            raise NotAuthorised(
                f"the server at {self.endpoint} needs this client's CurveZMQ key pair, which is not at {path} — make one with `mross-server keygen`"
            )
        self._socket.curve_publickey, self._socket.curve_secretkey = pair
        self._socket.curve_serverkey = server_key.encode("ascii")
        self._public_key_file = path.with_suffix(".key")
