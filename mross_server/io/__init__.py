"""Files in and out of the engine: photos decoded to pixels, stroke layers to and from SVG, raster previews."""
