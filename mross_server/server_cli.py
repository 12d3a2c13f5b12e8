"""The `mross-server` entry point under its pre-0.2 module name.

A virtual environment installed before the engine/serve/io layout has a `mross-server` script that
imports `mross_server.server_cli:main`, and install records that run `-m mross_server.server_cli`;
both keep working until the next `install.py` rewrites them to `mross_server.serve.cli`.
"""

import sys

from mross_server.serve.cli import main

__all__ = ["main"]

if __name__ == "__main__":
    sys.exit(main())
