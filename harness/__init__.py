"""convbench harness: measuring convolution backends (sweeps, timing, results, plots, CLI).

Everything about measuring lives here; the convolutions themselves live in
:mod:`kernels`, which never imports this package.
"""
