"""`mross`: sketch a photo into a layered SVG (locally or through a server), or preview a stroke SVG."""

from __future__ import annotations

import argparse
import logging
import math
import sys
import time
from pathlib import Path

from mross_server.engine.presets import INIT_METHODS, PRESETS
from mross_server.io.photo import photo_size, read_photo_bytes
from mross_server.io.preview import rasterize_layers, save_png
from mross_server.io.svg import read_svg, round_layers, write_svg
from mross_server.job import Progress, RoundResult, SketchCancelled, SketchInputError, SketchParams, SketchResult
from mross_server.output_paths import Output, SketchOutputs, check_outputs, sketch_outputs
from mross_shared.errors import ErrorCode, JobCancelled, JobFailed, MrossError, ProtocolError
from mross_shared.layers import LAYER_MODES, round_region, standing_rounds
from mross_shared.messages import RoiBox

#: Exit statuses: the job could not run or finish (server, files); the user's input is bad (as argparse's
#: own usage errors); a bug in mross (sysexits' EX_SOFTWARE); cancelled or interrupted (as for SIGINT).
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERNAL = 70
EXIT_CANCELLED = 130
PREVIEW_LONG_SIDE = 1024
# What a server says about a job whose input was bad: the same exit status as the same input locally.
_INPUT_ERROR_CODES = frozenset({ErrorCode.BAD_FIELD, ErrorCode.BAD_INPUT, ErrorCode.BAD_IMAGE, ErrorCode.IMAGE_TOO_LARGE, ErrorCode.LIMIT_EXCEEDED})


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `mross` console script; returns the exit status."""
    parser = _parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="mross: %(message)s")
    try:
        return int(args.run(args))
    except SketchInputError as error:
        return _fail(str(error), EXIT_USAGE)
    except (SketchCancelled, JobCancelled):
        return _fail("cancelled", EXIT_CANCELLED)
    except KeyboardInterrupt:
        return _fail("interrupted", EXIT_CANCELLED)
    except JobFailed as error:
        return _fail(str(error), EXIT_USAGE if error.code in _INPUT_ERROR_CODES else EXIT_FAILED)
    except MrossError as error:
        return _fail(str(error), EXIT_FAILED)
    except OSError as error:
        return _fail(f"cannot write {error.filename}: {error.strerror or error}", EXIT_FAILED)
    except Exception as error:
        if args.debug:
            raise
        return _fail(f"internal error ({type(error).__name__}: {error}); this is a bug in mross — rerun with --debug to see where", EXIT_INTERNAL)


def _fail(message: str, status: int) -> int:
    print(f"mross: {message}", file=sys.stderr)
    return status


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mross", description=__doc__)
    parser.add_argument("--debug", action="store_true", help="show the traceback of an internal error")
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    sketch = commands.add_parser("sketch", help="sketch a photo into a layered SVG (one layer per round)")
    sketch.add_argument("photo", type=Path)
    sketch.add_argument("-o", "--output", type=Path, required=True, help="SVG to write (OUT.svg); a PNG preview goes beside it (OUT.preview.png)")
    sketch.add_argument("--preview", type=Path, metavar="PATH", help="where to write the PNG preview instead of OUT.preview.png")
    sketch.add_argument("--roi", action="append", default=[], metavar="X,Y,W,H", help="region of interest in photo pixels; repeat for more rounds, in order")
    sketch.add_argument("--strokes", type=int, default=48, help="total strokes over all rounds (default 48)")
    sketch.add_argument("--iterations", type=int, help="optimization steps per round (default: the preset's)")
    sketch.add_argument("--sketches", type=int, help="seeds optimized side by side; the best is kept (default: the preset's, 3 for paper with CLIP, else 1)")
    sketch.add_argument("--seed", type=int, default=0)
    sketch.add_argument("--preset", choices=list(PRESETS), default="fast")
    sketch.add_argument("--objective", help="loss terms, e.g. 'ink', 'ink+0.1*vgg', 'clip+vgg' (default: the preset's)")
    sketch.add_argument("--init", choices=INIT_METHODS, help="where strokes start (default: the preset's)")
    sketch.add_argument("--roi-weight", type=float, help="weight of the zoomed ROI view in ROI rounds")
    sketch.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    sketch.add_argument("--clip-weights", type=Path, help="CLIP checkpoint file or directory (RN101.pt)")
    sketch.add_argument("--freeze-previous", action="store_true", help="only each round's new strokes move")
    sketch.add_argument("--layers", choices=LAYER_MODES, default="snapshot")
    sketch.add_argument("--color", default="#000000", help="stroke colour of the written SVG")
    sketch.add_argument("--server", help="run the job on an mross-server: endpoint or connection file")
    sketch.add_argument("--quiet", action="store_true", help="no progress bar")
    sketch.set_defaults(run=_sketch)

    render = commands.add_parser("render", help="rasterize a stroke SVG with the MROSS renderer")
    render.add_argument("svg", type=Path)
    render.add_argument("-o", "--output", type=Path, required=True, help="PNG to write")
    render.add_argument("--size", type=int, help="long side of the PNG in pixels (default: the SVG's size)")
    render.set_defaults(run=_render)
    return parser


def _rois(texts: list[str]) -> list[RoiBox]:
    """The --roi values (X,Y,W,H in photo pixels) as RoiBoxes, whose own checks name what is wrong."""
    rois = []
    for number, text in enumerate(texts, start=1):
        try:
            x, y, w, h = (float(v) for v in text.split(","))
        except ValueError:
            raise SketchInputError(f"ROI {number} must be X,Y,W,H in photo pixels, not {text!r}") from None
        try:
            rois.append(RoiBox(x, y, w, h))
        except ProtocolError as error:
            raise SketchInputError(f"ROI {number} ({text}): {error}") from None
    return rois


def _sketch(args: argparse.Namespace) -> int:
    try:
        params = SketchParams(
            strokes=args.strokes,
            preset=args.preset,
            iterations=args.iterations,
            sketches=args.sketches,
            seed=args.seed,
            freeze_previous=args.freeze_previous,
            roi_weight=args.roi_weight,
            objective=args.objective,
            init=args.init,
        )
    except ProtocolError as error:
        raise SketchInputError(str(error)) from None
    rois = _rois(args.roi)
    outputs = sketch_outputs(args.photo, args.output, args.preview, [args.clip_weights] if args.clip_weights else [])
    progress = _ProgressBar(enabled=not args.quiet)
    finished: list[RoundResult] = []

    def round_done(result: RoundResult) -> None:
        finished.append(result)
        progress.round_done(result)

    try:
        if args.server:
            from mross_server.remote import sketch_remote

            result = sketch_remote(args.server, args.photo, rois, params, progress.update, round_done)
        else:
            from mross_server.engine.pipeline import SketchEngine

            engine = SketchEngine(args.device, args.clip_weights)
            result = engine.sketch(args.photo, rois, params, progress.update, round_done)
    except BaseException:
        _keep_finished_rounds(finished, args.photo, outputs.partial, args.layers, args.color)
        raise
    _write_outputs(result, outputs, args.layers, args.color)
    for note in result.notes:
        print(f"mross: note: {note}", file=sys.stderr)
    return 0


def _keep_finished_rounds(finished: list[RoundResult], photo: Path, partial: Path, mode: str, color: str) -> None:
    """Write the rounds a failed job had finished to the partial SVG, and say so; its exit status stays the failure's."""
    if not finished:
        return
    rounds = standing_rounds(finished)  # a job restarted on another worker sends its rounds again
    try:
        width, height = photo_size(read_photo_bytes(photo))
        write_svg(partial, round_layers(rounds, mode, color), width, height)
    except (OSError, SketchInputError) as error:
        print(f"mross: could not keep the {len(rounds)} finished round(s) in {partial}: {error}", file=sys.stderr)
        return
    print(
        f"mross: the job did not finish; kept its {len(rounds)} finished round(s) of {rounds[-1].rounds} in {partial}",
        file=sys.stderr,
    )


def _write_outputs(result: SketchResult, outputs: SketchOutputs, mode: str, color: str) -> None:
    layers = round_layers(result.rounds, mode, color)
    write_svg(outputs.svg, layers, result.width, result.height)
    long_side = min(PREVIEW_LONG_SIDE, max(result.width, result.height))
    save_png(rasterize_layers(layers, result.width, result.height, long_side), outputs.preview)
    strokes = len(result.rounds[-1].points)
    print(f"wrote {outputs.svg} ({len(layers)} layers, {strokes} strokes, objective {result.objective}) and {outputs.preview}")


def _render(args: argparse.Namespace) -> int:
    check_outputs([Output(args.output, "the PNG (-o)", ".png")], [args.svg])
    try:
        width, height, layers = read_svg(args.svg)
    except OSError as error:
        raise SketchInputError(f"cannot read {args.svg}: {error.strerror or error}") from None
    except (ValueError, SyntaxError) as error:  # lxml's XMLSyntaxError is a SyntaxError
        raise SketchInputError(f"{args.svg} is not a stroke SVG that mross can read ({error})") from None
    save_png(rasterize_layers(layers, width, height, args.size), args.output)
    print(f"wrote {args.output}")
    return 0


class _ProgressBar:
    """One status line on stderr: round, iteration, loss and ETA; redrawn at most 5 times a second."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.interactive = sys.stderr.isatty()
        self.last = 0.0

    def update(self, progress: Progress) -> None:
        now = time.monotonic()
        period = 0.2 if self.interactive else 10.0
        if not self.enabled or (now - self.last < period and progress.iteration != progress.iterations):
            return
        self.last = now
        filled = round(20 * progress.iteration / max(1, progress.iterations))
        eta = f"{int(progress.eta_s) // 60}:{int(progress.eta_s) % 60:02d}" if math.isfinite(progress.eta_s) else "?"
        line = (
            f"round {progress.round}/{progress.rounds} [{'#' * filled}{'.' * (20 - filled)}] "
            f"{progress.iteration}/{progress.iterations} loss {progress.loss:.4f} best {progress.best_loss:.4f} ETA {eta}"
        )
        print(f"\r{line}" if self.interactive else line, end="" if self.interactive else "\n", file=sys.stderr, flush=True)

    def round_done(self, result: RoundResult) -> None:
        if self.enabled:
            print(f"{chr(13) if self.interactive else ''}round {result.index}/{result.rounds} done ({round_region(result.index)}): "
                  f"+{len(result.added)} strokes, loss {result.loss:.4f}, {result.seconds:.1f} s" + " " * 20, file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(main())
