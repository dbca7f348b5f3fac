"""The Triton model repository of Study-Savvy and the tools around it.

Each ``<model>/config.pbtxt`` with ``<model>/<version>/model.py`` is a Triton model; the
model code lives in :mod:`triton_models.runtime` and reuses the engines of
:mod:`inference`. :mod:`triton_models.repository` writes a deployable copy (CPU instances,
other weights) and :mod:`triton_models.swap` hot-swaps a model version on a live server.
"""
