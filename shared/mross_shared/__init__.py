"""What the Inkscape extension and the MROSS sketch server share: the wire protocol and its client.

Only the standard library and pyzmq are imported here, because the extension runs under the Python
that Inkscape starts (Debian: /usr/bin/python3), which has neither numpy nor Pillow.

Modules: `errors` (error codes and exception types), `fields` (JSON <-> typed dataclasses with
validation), `messages` (the message types), `signing` (HMAC and replay protection), `protocol`
(frames on the wire), `connection` (the connection file), `client` (the DEALER client), `layers`
(how rounds become Inkscape layers, shared by the CLI and the extension).
"""
