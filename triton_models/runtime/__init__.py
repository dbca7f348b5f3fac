"""Code that runs inside Triton's python-backend stub, one module per model.

Modules here import ``triton_python_backend_utils`` lazily (it exists only inside the
stub); the request plumbing in :mod:`triton_models.runtime.common` is pure and tested
without Triton.
"""
