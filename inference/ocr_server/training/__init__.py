"""Train the line recognizer on handwriting, and put the result in service.

    python -m inference.ocr_server.training synth  --out data/hw ...   # synthetic lines
    python -m inference.ocr_server.training train  --train data/hw/train --val data/hw/val \
        --out runs/hw
    python -m inference.ocr_server.training export --weights runs/hw/best.pth --val data/hw/val
    python -m inference.ocr_server.training triton --weights runs/hw/best.pth --val data/hw/val \\
        --repository /models [--swap --url 127.0.0.1:8000]

See docs/ocr.md ("Training the recognizer on handwriting").
"""
