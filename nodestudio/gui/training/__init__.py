"""Training from the studio: the Training dock (settings, Train / Pause / Stop, progress), the
Curves dock, and the session that runs the trainer off the GUI thread."""

from nodestudio.gui.training.curves import CurvesPanel
from nodestudio.gui.training.panel import TrainingPanel
from nodestudio.gui.training.session import BatchProgress, TrainingSession

__all__ = ["BatchProgress", "CurvesPanel", "TrainingPanel", "TrainingSession"]
