"""ONNX Runtime engines' plumbing: export from the packaged state dicts, int8 calibration on
rendered pages, a cache keyed by the weights' hash, and session creation per device.

Nothing here is imported unless an ONNX engine is configured (or exported at install).
"""
