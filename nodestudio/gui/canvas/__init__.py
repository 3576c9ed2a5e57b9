"""The node-editor canvas: `GraphScene` mirrors a Document's graph, `GraphView` shows and edits it.

    scene = GraphScene(document)
    view = GraphView(scene)
"""

from nodestudio.gui.canvas.scene import GraphScene
from nodestudio.gui.canvas.view import OP_MIME, GraphView

__all__ = ["GraphScene", "GraphView", "OP_MIME"]
