"""Helpers of the MROSS Inkscape extension: everything except reading and writing the document.

These modules run under the Python that Inkscape starts, so they use only the standard library, inkex
(1.2 API and later) and the pyzmq + mross_shared copy that install.py puts into `mross_vendor/`.
"""
