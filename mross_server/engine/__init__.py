"""The sketch engine: photo and ROIs in, rounds of cubic Bézier strokes out.

`pipeline` runs the MROSS rounds; `initial_strokes`, `contours` and `saliency/` decide where strokes
start; `objective` and `losses/` say what a round minimizes; `optimizer` minimizes it; `renderer` is
the differentiable rasterizer; `models/` loads the loss networks' weights. Nothing here knows about
the wire protocol or files: `mross_server.serve` and `mross_server.io` sit on top of it.
"""
