"""MROSS sketch server side: `engine` (photo + ROIs -> strokes), `serve` (the ZeroMQ server), `io` (files).

`job` is the contract between the engine and whatever drives it; `cli` is the `mross` command, which
runs the engine locally or, through `remote`, on a server.
"""
