"""The side panels of the main window: the op palette, the inspector of the selected nodes,
and the problems / log list."""

from nodestudio.gui.panels.inspector import InspectorWidget
from nodestudio.gui.panels.palette import OP_MIME, PaletteWidget, op_from_mime, op_mime_data
from nodestudio.gui.panels.problems import ProblemsWidget

__all__ = ["OP_MIME", "InspectorWidget", "PaletteWidget", "ProblemsWidget", "op_from_mime",
           "op_mime_data"]
