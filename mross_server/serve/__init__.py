"""The long-lived sketch server: the ZeroMQ front door, the job book, the worker on the warm engine, its CLI."""
