"""Inference services of Study-Savvy and the serving pieces they share.

The modules ``errors`` and ``logs`` are standard-library only so that the CPU worker can
import them without pulling numpy or torch.
"""
