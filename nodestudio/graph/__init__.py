"""The graph document: the editable model the canvas, the API and the CLI share (pure Python)."""
