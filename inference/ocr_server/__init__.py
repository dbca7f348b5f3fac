"""OCR inference service: CRAFT text detection, line layout and line recognition.

Layers: ``routes`` (HTTP) and ``schemas`` talk to ``service.OcrService``, which holds a
detector and a recognizer behind the Protocols in ``detectors`` and ``recognizers``.
Nothing below ``service`` imports FastAPI.
"""
