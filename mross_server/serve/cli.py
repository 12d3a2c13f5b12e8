"""`mross-server`: the long-lived sketch server that the Inkscape extension and `mross sketch --server` use.

    mross-server [run] [--port N] [--idle-exit SECONDS] [--device auto|cpu|cuda] [--log-file PATH] ...
    mross-server run --ray HOST:PORT [--workers N] [--worker-cpus N] ...
    mross-server keygen [DIR] [--name NAME]
    mross-server fetch-weights [--dir DIR] [--base-url URL]

`run` (the default) loads the loss networks once, listens on 127.0.0.1 (a free port unless `--port`),
writes the connection file (endpoint, HMAC key, CURVE server key; mode 0600) and removes it on exit,
SIGTERM and SIGINT included. Listening on any other address needs CurveZMQ: `--curve-keys DIR`
(the server's key pair) and `--allow DIR` (public keys of the clients let in). With `--ray` the
server runs no engine itself: it joins a Ray cluster and runs each job on a pool of Ray actors
(docs/scale-out.md); that needs the `cluster` extra, and nothing of Ray is imported without it.
`--log-file` logs to a file that is rotated at LOG_FILE_BYTES and keeps LOG_FILE_BACKUPS old copies,
so a long-lived server's log stays bounded (the extension's auto-start uses it); without it, the log
goes to stderr.
`fetch-weights` downloads OpenAI's CLIP RN101 and ViT-B/32 checkpoints into the folder `run` loads
them from.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import ipaddress
import logging
import logging.handlers
import math
import os
import secrets
import signal
import socket
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import zmq

from mross_server.io.photo import PILLOW_HARD_LIMIT
from mross_server.job import SketchInputError
from mross_server.serve.curve import CurveKeys, CurveSetupError, load_server_keys, make_keypair
from mross_server.serve.dispatch import Dispatcher
from mross_server.serve.server import ServerConfig, SketchServer
from mross_shared import connection
from mross_shared.messages import DEFAULT_MAX_IMAGE_PIXELS, DEFAULT_MAX_JOB_COST, Limits

EXIT_USAGE = 2
LOG_FILE_BYTES = 2 * 2**20
LOG_FILE_BACKUPS = 2
LOG_FORMAT = "%(asctime)s mross-server %(levelname)s: %(message)s"
COMMANDS = ("run", "keygen", "fetch-weights")
log = logging.getLogger("mross-server")


class SetupError(Exception):
    """The server cannot start as asked; the message is one sentence for the operator."""


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `mross-server` console script; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in (*COMMANDS, "-h", "--help"):
        argv.insert(0, "run")
    args = _parser().parse_args(argv)
    try:
        _configure_logging(getattr(args, "log_file", None))
        return int(args.command(args))
    except SetupError as error:
        print(f"mross-server: {error}", file=sys.stderr)
        return EXIT_USAGE


def _configure_logging(log_file: Path | None) -> None:
    """Log to stderr, or to `log_file` rotated at LOG_FILE_BYTES; Python warnings go the same way."""
    handlers: list[logging.Handler] = [logging.StreamHandler()]
    if log_file is not None:
        try:
            log_file.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            handlers = [logging.handlers.RotatingFileHandler(log_file, maxBytes=LOG_FILE_BYTES, backupCount=LOG_FILE_BACKUPS, encoding="utf-8")]
        except OSError as error:
            raise SetupError(f"cannot write the log file {log_file}: {error.strerror or error}") from None
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT, handlers=handlers, force=True)
    logging.captureWarnings(True)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mross-server", description="MROSS sketch server (ZeroMQ).")
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    run = commands.add_parser("run", help="serve sketch jobs (the default command)")
    run.set_defaults(command=_run)
    run.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1; others need --curve-keys and --allow)")
    run.add_argument("--port", type=_port, default=0, help="TCP port (default: a free one, written to the connection file)")
    run.add_argument("--connection-file", type=Path, help=f"where to write the connection file (default {connection.default_path()})")
    run.add_argument("--idle-exit", type=_positive(float), metavar="SECONDS", help="exit after this long with no job and no message")
    run.add_argument(
        "--client-timeout", type=_positive(float), default=10.0, metavar="SECONDS",
        help="cancel a job whose client sent nothing for this long (default 10)",
    )
    run.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto", help="with --ray: the workers' device (auto: GPUs when the cluster has any)")
    run.add_argument("--clip-weights", type=Path, help="CLIP checkpoint file or directory (RN101.pt)")
    run.add_argument("--curve-keys", type=Path, metavar="DIR", help="directory holding server.key_secret (from `mross-server keygen DIR --name server`)")
    run.add_argument("--allow", type=Path, metavar="DIR", help="directory of authorised client public keys (*.key)")
    run.add_argument("--max-queue", type=_positive(int), default=32, help="jobs that may wait at once (default 32)")
    run.add_argument(
        "--max-job-cost", type=_positive(int), default=DEFAULT_MAX_JOB_COST, metavar="STROKE_STEPS",
        help=f"largest job admitted, in estimated stroke-steps (default {DEFAULT_MAX_JOB_COST:,}; see docs/limits.md)",
    )
    run.add_argument("--log-file", type=Path, metavar="PATH", help=f"log to this file, rotated at {LOG_FILE_BYTES // 2**20} MiB (default: stderr)")
    run.add_argument(
        "--max-image-pixels", type=_positive(int, PILLOW_HARD_LIMIT), default=DEFAULT_MAX_IMAGE_PIXELS,
        help=f"largest photo accepted, width × height (default {DEFAULT_MAX_IMAGE_PIXELS:,}; at most {PILLOW_HARD_LIMIT:,})",
    )

    ray = run.add_argument_group("Ray pool (needs `pip install mross-inkscape[cluster]`)")
    ray.add_argument(
        "--ray", nargs="?", const=os.environ.get("RAY_ADDRESS", ""), metavar="HOST:PORT",
        help="run jobs on a Ray cluster whose head is at HOST:PORT (default: $RAY_ADDRESS)",
    )
    ray.add_argument("--workers", type=_positive(int), help="Ray actors to start (default: one per GPU of the cluster; one without GPUs)")
    ray.add_argument("--worker-cpus", type=_positive(float), help="CPUs each Ray actor reserves (default 1; a CPU actor's torch uses that many threads)")

    keygen = commands.add_parser("keygen", help="make a CurveZMQ key pair (NAME.key public, NAME.key_secret private)")
    keygen.set_defaults(command=_keygen)
    keygen.add_argument("directory", type=Path, nargs="?", default=connection.config_dir(), help=f"where to write the pair (default {connection.config_dir()})")
    keygen.add_argument("--name", default=connection.CLIENT_KEY_NAME, help="file name stem: 'client' (default) or 'server'")

    fetch = commands.add_parser("fetch-weights", help="download OpenAI's CLIP RN101 and ViT-B/32 checkpoints (about 640 MB), verified")
    fetch.set_defaults(command=_fetch_weights)
    fetch.add_argument("--dir", type=Path, help="where to put them (default: $MROSS_CLIP_DIR, else ~/.cache/mross/clip, where `run` looks)")
    fetch.add_argument("--base-url", help="fetch from this mirror of OpenAI's layout <URL>/<sha256>/<name>.pt (default: $MROSS_CLIP_BASE_URL, else OpenAI's)")
    return parser


def _positive(kind: type[int] | type[float], most: float = math.inf) -> Callable[[str], int | float]:
    """An argparse type: a number of `kind` above zero and at most `most`."""

    def parse(text: str) -> int | float:
        try:
            value = kind(text)
        except ValueError:
            value = 0
        if not 0 < value <= most:
            bound = "" if math.isinf(most) else f" and at most {most:,}"
            raise argparse.ArgumentTypeError(f"expected a number above 0{bound}, not {text!r}")
        return value

    return parse


def _port(text: str) -> int:
    """An argparse type: a TCP port number, 0 meaning any free port."""
    if not text.isdigit() or int(text) > 65535:
        raise argparse.ArgumentTypeError(f"expected a port number 0-65535, not {text!r}")
    return int(text)


def _keygen(args: argparse.Namespace) -> int:
    public, secret = make_keypair(args.directory, args.name)
    print(f"public key: {public}\nsecret key: {secret} (keep it private; mode 0600)")
    return 0


def _fetch_weights(args: argparse.Namespace) -> int:
    # Standard library only: no torch import, so this answers in a moment when the files are there.
    from mross_server.engine.models.clip_download import fetch_clip_weights
    from mross_server.engine.models.locations import WeightsError

    try:
        fetched = fetch_clip_weights(dest_dir=args.dir, base=args.base_url)
    except WeightsError as error:
        print(f"mross-server: {error}", file=sys.stderr)
        return 1
    for item in fetched:
        print(f"{item.path} ({'downloaded and verified' if item.downloaded else 'already there, verified'})")
    return 0


def _run(args: argparse.Namespace) -> int:
    curve = _curve_keys(args)
    path = args.connection_file or connection.default_path()
    _refuse_second_server(path)
    # Installed before the slow start-up, so Ctrl-C or SIGTERM then ends the server without a traceback.
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    if args.ray is None and (args.workers or args.worker_cpus):
        raise SetupError("--workers and --worker-cpus size a Ray pool; pass --ray HOST:PORT too")
    dispatcher, description = _ray_pool(args) if args.ray is not None else _local_engine(args)
    key = secrets.token_bytes(32)
    config = ServerConfig(
        endpoint=f"tcp://{_bracketed(args.host)}:{args.port or '*'}",
        key=key,
        limits=_limits(args),
        server_version=_version(),
        client_timeout_s=args.client_timeout,
        idle_exit_s=args.idle_exit,
        max_queue=args.max_queue,
        curve=curve,
    )
    try:
        server = SketchServer(dispatcher, config)
    except zmq.ZMQError as error:
        dispatcher.stop(timeout_s=5.0)
        raise SetupError(f"cannot listen on {config.endpoint}: {error}") from None
    info = connection.ConnectionInfo(
        endpoint=_advertised(server.endpoint),
        key=key.hex(),
        server_public_key=curve.public.decode("ascii") if curve else None,
        pid=os.getpid(),
    )
    try:
        written = connection.write(info, path)
    except OSError as error:
        server.close()
        raise SetupError(f"cannot write the connection file {path}: {error.strerror or error}") from None
    log.info("listening on %s (%s); connection file %s", info.endpoint, description, written)
    try:
        server.serve(stop)
    finally:
        server.close()
        connection.remove(written, os.getpid())
        log.info("stopped; removed %s", written)
    return 0


def _limits(args: argparse.Namespace) -> Limits:
    """What this server admits; its engines (local or in the Ray pool) apply the same limits."""
    return Limits(max_image_pixels=args.max_image_pixels, max_job_cost=args.max_job_cost)


def _local_engine(args: argparse.Namespace) -> tuple[Dispatcher, str]:
    """A single engine in this process, and a description for the log."""
    # Imported here so `mross-server keygen` and refusals answer without loading torch (seconds).
    from mross_server.engine.models.locations import WeightsError
    from mross_server.engine.pipeline import SketchEngine
    from mross_server.serve.runner import JobRunner

    try:
        engine = SketchEngine(device=args.device, clip_weights=args.clip_weights, limits=_limits(args))
    except (SketchInputError, WeightsError) as error:
        raise SetupError(str(error)) from None
    return JobRunner(engine), f"device {engine.device}, backbones {', '.join(engine.backbones) or 'none'}"


def _ray_pool(args: argparse.Namespace) -> tuple[Dispatcher, str]:
    """A pool of Ray actors with warm engines, joined before the server listens, and a description for the log."""
    if not args.ray:
        raise SetupError("--ray needs the Ray head's address (HOST:PORT, e.g. 10.0.0.5:6379) or RAY_ADDRESS set")
    if importlib.util.find_spec("ray") is None:
        raise SetupError("--ray needs Ray, which is not installed here; install the server with the cluster extra: pip install 'mross-inkscape[cluster]'")
    # Imported here: the single-engine server has no use for the pool's code.
    from mross_server.serve.cluster.dispatcher import ClusterDispatcher, ClusterError
    from mross_server.serve.cluster.link import PoolSettings, split_address

    try:
        split_address(args.ray)
    except ValueError as error:
        raise SetupError(str(error)) from None
    settings = PoolSettings(
        address=args.ray,
        workers=args.workers,
        device=args.device,
        worker_cpus=args.worker_cpus or 1.0,
        clip_weights=str(args.clip_weights) if args.clip_weights else None,
        limits=_limits(args),
        prefix=f"{socket.gethostname()}-{os.getpid()}",
    )
    log.info("joining the Ray cluster at %s and warming the workers' engines", args.ray)
    dispatcher = ClusterDispatcher(settings)
    try:
        dispatcher.connect()
    except ClusterError as error:
        raise SetupError(str(error)) from None
    workers = dispatcher.workers()
    return dispatcher, f"Ray pool at {args.ray}: " + "; ".join(f"{w.name} {w.device} [{', '.join(w.backbones) or 'no backbones'}]" for w in workers)


def _curve_keys(args: argparse.Namespace) -> CurveKeys | None:
    """The CURVE keys to use, refusing a non-loopback address without them."""
    if args.curve_keys is None and args.allow is None:
        if not _is_loopback(args.host):
            raise SetupError(
                f"refusing to listen on {args.host} without CurveZMQ, since anyone on the network could then submit jobs; "
                "pass --curve-keys DIR and --allow DIR (make keys with `mross-server keygen`)"
            )
        return None
    if args.curve_keys is None or args.allow is None:
        raise SetupError("CurveZMQ needs both --curve-keys DIR (the server's key pair) and --allow DIR (the clients' public keys)")
    try:
        return load_server_keys(args.curve_keys, args.allow)
    except CurveSetupError as error:
        raise SetupError(str(error)) from None


def _refuse_second_server(path: Path) -> None:
    try:
        info = connection.read(path)
    except connection.ConnectionFileError:
        return
    if _process_alive(info.pid) and info.pid != os.getpid():
        raise SetupError(f"a server (pid {info.pid}) already runs at {info.endpoint} per {path}; stop it or pass --connection-file")


def _process_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)  # signal 0 only checks that the process exists (POSIX)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _bracketed(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _advertised(endpoint: str) -> str:
    """The bound endpoint as clients should dial it: a wildcard address becomes this machine's name."""
    for wildcard in ("0.0.0.0", "[::]"):
        endpoint = endpoint.replace(f"//{wildcard}:", f"//{socket.gethostname()}:")
    return endpoint


def _version() -> str:
    try:
        return importlib.metadata.version("mross-inkscape")
    except importlib.metadata.PackageNotFoundError:
        return "0+source"  # running from a checkout that is not pip-installed


if __name__ == "__main__":
    sys.exit(main())
