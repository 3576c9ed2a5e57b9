"""Training progress for a terminal (`nodestudio train` / `pretrain`): a line per epoch, on a
terminal also a line redrawn during the epoch; under layer-wise pretraining each layer's
heading, its epochs indented and its own summary. It listens to the Trainer's events."""

from __future__ import annotations

import time
from typing import Any, TextIO


class Progress:
    """Training progress on stderr: a line per epoch; on a terminal also a line redrawn (at most
    four times a second) during the epoch."""

    WIDTH = 24

    def __init__(self, stream: TextIO, n_train: int, epochs: int, batch_size: int = 0):
        self.stream, self.n_train, self.epochs = stream, n_train, epochs
        self.steps = -(-n_train // batch_size) if batch_size else 0  # steps per epoch
        self.live = bool(getattr(stream, "isatty", lambda: False)())
        self.seen, self.drawn = 0, 0.0
        self.layer: str | None = None  # layer-wise pretraining: the layer now training
        self.indent = ""

    def bar(self) -> str:
        """`[=======>        ]  45%` for the current epoch (empty when the length is unknown)."""
        if not self.steps:
            return f"step {self.seen}"
        done = min(self.seen / self.steps, 1.0)
        filled = int(done * self.WIDTH)
        arrow = ">" if filled < self.WIDTH else ""
        return f"[{'=' * filled}{arrow}{' ' * (self.WIDTH - filled - len(arrow))}] {done:4.0%}"

    def __call__(self, event: Any) -> None:
        if event.kind == "layer_start":  # its epochs follow, indented, then its summary
            self.layer, self.indent = event.layer, "  "
            self.stream.write(f"layer {event.index}/{event.total}: {event.layer} "
                              f"({event.method}), up to {event.epochs} epochs\n")
            return
        if (event.kind == "epoch_end" and self.layer is not None
                and f"{self.layer}/epochs" in event.record.metrics):
            self._layer_done(event.record)
            return
        if event.kind == "batch_end":
            self.seen += 1
            now = time.perf_counter()
            if self.live and now - self.drawn > 0.25:
                self.drawn = now
                self.stream.write(f"\r{self.indent}epoch {event.epoch}/{self.epochs} {self.bar()}  "
                                  f"loss {event.loss:.4f}  "
                                  f"{event.samples_per_second:,.0f} samples/s ")
                self.stream.flush()
        elif event.kind == "epoch_end":
            r = event.record
            line = (f"epoch {r.epoch:3d}/{self.epochs}  train loss {r.train_loss:.4f}"
                    + percent("error", r.train_error)
                    + (f"  valid loss {r.valid_loss:.4f}" if r.valid_loss is not None else "")
                    + percent("error", r.valid_error)
                    + "".join(f"  {name} {value:.4g}" for name, value in r.metrics.items())
                    + f"  {self.n_train / max(r.seconds, 1e-9):,.0f} samples/s"
                    + f"  {r.seconds:.2f} s" + ("  *" if event.best_epoch == r.epoch else ""))
            self.stream.write(("\r\033[K" if self.live else "") + self.indent + line + "\n")
            self.stream.flush()
            self.seen = 0
        elif self.live and self.seen:  # finished or failed mid-epoch: clear the live line
            self.stream.write("\r\033[K")
            self.stream.flush()


    def _layer_done(self, record: Any) -> None:
        """A layer's summary: its own figures (the graph's loss means nothing yet)."""
        prefix = f"{self.layer}/"
        own = {k[len(prefix):]: v for k, v in record.metrics.items() if k.startswith(prefix)}
        rest = {k: v for k, v in record.metrics.items() if not k.startswith(prefix)}
        line = (f"  {self.layer} done after {own.pop('epochs', 0):.0f} epochs"
                + "".join(f"  {name.replace('_', ' ')} {value:.4g}"
                          for name, value in {**own, **rest}.items())
                + f"  {record.seconds:.1f} s")
        self.stream.write(("\r\033[K" if self.live else "") + line + "\n")
        self.stream.flush()
        self.layer, self.indent, self.seen = None, "", 0


def percent(label: str, value: float | None) -> str:
    return "" if value is None else f" {label} {100 * value:.2f}%"
