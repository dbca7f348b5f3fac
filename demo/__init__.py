"""The embedded demo: every part of Study-Savvy on one machine."""
