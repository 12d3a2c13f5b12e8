"""`mross`: sketch a photo into a layered SVG (locally or through a server), or preview a stroke SVG."""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

from mross_shared.errors import JobCancelled, MrossError
from mross_shared.layers import LAYER_MODES

from mross_server.job import Progress, Roi, RoundResult, SketchCancelled, SketchInputError, SketchParams, SketchResult
from mross_server.engine.presets import PRESETS
from mross_server.io.preview import rasterize_layers, save_png
from mross_server.io.svg import read_svg, round_layers, write_svg

EXIT_USAGE = 2
PREVIEW_LONG_SIDE = 1024


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `mross` console script."""
    parser = _parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="mross: %(message)s")
    try:
        return args.run(args)
    except (SketchInputError, ValueError, OSError) as error:
        print(f"mross: {error}", file=sys.stderr)
        return EXIT_USAGE
    except (SketchCancelled, JobCancelled):
        print("mross: cancelled", file=sys.stderr)
        return 130
    except MrossError as error:
        print(f"mross: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\nmross: interrupted", file=sys.stderr)
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mross", description=__doc__)
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    sketch = commands.add_parser("sketch", help="sketch a photo into a layered SVG (one layer per round)")
    sketch.add_argument("photo", type=Path)
    sketch.add_argument("-o", "--output", type=Path, required=True, help="SVG to write; a PNG preview is written beside it")
    sketch.add_argument("--roi", type=_roi, action="append", default=[], metavar="X,Y,W,H", help="region of interest in photo pixels; repeat for more rounds, in order")
    sketch.add_argument("--strokes", type=int, default=48, help="total strokes over all rounds (default 48)")
    sketch.add_argument("--iterations", type=int, help="optimization steps per round (default: the preset's)")
    sketch.add_argument("--sketches", type=int, default=1, help="seeds optimized side by side; the best is kept")
    sketch.add_argument("--seed", type=int, default=0)
    sketch.add_argument("--preset", choices=list(PRESETS), default="fast")
    sketch.add_argument("--objective", help="loss terms, e.g. 'ink', 'ink+0.1*vgg', 'clip+vgg' (default: the preset's)")
    sketch.add_argument("--init", choices=["contours", "fps"], help="where strokes start (default: the preset's)")
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
    render.add_argument("-o", "--output", type=Path, required=True)
    render.add_argument("--size", type=int, help="long side of the PNG in pixels (default: the SVG's size)")
    render.set_defaults(run=_render)
    return parser


def _roi(text: str) -> Roi:
    try:
        x, y, w, h = (float(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"ROI must be X,Y,W,H in photo pixels, got {text!r}") from None
    return Roi(x, y, w, h)


def _sketch(args: argparse.Namespace) -> int:
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
    progress = _ProgressBar(enabled=not args.quiet)
    if args.server:
        from mross_server.remote import sketch_remote

        result = sketch_remote(args.server, args.photo, args.roi, params, progress.update, progress.round_done)
    else:
        from mross_server.engine.pipeline import SketchEngine

        engine = SketchEngine(args.device, args.clip_weights)
        result = engine.sketch(args.photo, args.roi, params, progress.update, progress.round_done)
    _write_outputs(result, args.output, args.layers, args.color)
    for note in result.notes:
        print(f"mross: note: {note}", file=sys.stderr)
    return 0


def _write_outputs(result: SketchResult, output: Path, mode: str, color: str) -> None:
    layers = round_layers(result.rounds, mode, color)
    write_svg(output, layers, result.width, result.height)
    preview = output.with_suffix(".png")
    save_png(rasterize_layers(layers, result.width, result.height, min(PREVIEW_LONG_SIDE, max(result.width, result.height))), preview)
    strokes = len(result.rounds[-1].points)
    print(f"wrote {output} ({len(layers)} layers, {strokes} strokes, objective {result.objective}) and {preview}")


def _render(args: argparse.Namespace) -> int:
    width, height, layers = read_svg(args.svg)
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
        line = (
            f"round {progress.round}/{progress.rounds} [{'#' * filled}{'.' * (20 - filled)}] "
            f"{progress.iteration}/{progress.iterations} loss {progress.loss:.4f} best {progress.best_loss:.4f} "
            f"ETA {int(progress.eta_s) // 60}:{int(progress.eta_s) % 60:02d}"
        )
        print(f"\r{line}" if self.interactive else line, end="" if self.interactive else "\n", file=sys.stderr, flush=True)

    def round_done(self, result: RoundResult) -> None:
        if self.enabled:
            where = "whole image" if result.roi is None else f"ROI {result.index - 1}"
            print(f"{chr(13) if self.interactive else ''}round {result.index}/{result.rounds} done ({where}): "
                  f"+{len(result.added)} strokes, loss {result.loss:.4f}, {result.seconds:.1f} s" + " " * 20, file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(main())
