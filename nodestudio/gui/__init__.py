"""The desktop studio (PySide6). The only layer that imports Qt; it reads the graph document,
the op registry, the IR annotations and the training engine from below."""
