"""The pretraining methods of `nodestudio pretrain` (and the studio's Pretrain action): one
table, method name -> how to make its training strategy from the options given.

A method's result is the graph's parameter values keyed as the document keys them
("rbm1/W"), saved with `Model.save_values` to DIR/params.npz; `nodestudio train GRAPH
--init DIR/params.npz` starts from them. Adding a method is one entry of `METHODS`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from nodestudio.train.strategies import ContrastiveDivergence, Strategy


@dataclass(frozen=True)
class PretrainMethod:
    name: str
    doc: str  # one line for --help
    make: Callable[[Mapping[str, Any]], Strategy]  # options (k, ...) -> the strategy


def _rbm(options: Mapping[str, Any]) -> Strategy:
    return ContrastiveDivergence(k=options.get("k"), objective="layers")


def _layerwise(method: str) -> Callable[[Mapping[str, Any]], Strategy]:
    """Greedy layer-wise pretraining (train/strategies/layerwise.py): --epochs per layer."""
    def make(options: Mapping[str, Any]) -> Strategy:
        from nodestudio.train.strategies.layerwise import LayerwiseStrategy
        return LayerwiseStrategy(method, k=options.get("k"))
    return make


METHODS: dict[str, PretrainMethod] = {method.name: method for method in (
    PretrainMethod("rbm", "contrastive divergence (CD-k / PCD-k as each rbm_layer says, "
                   "--k overrides) on the costs of the graph's RBM layers", _rbm),
    PretrainMethod("sae", "stacked autoencoders, layer by layer, noise off", _layerwise("sae")),
    PretrainMethod("dae", "stacked denoising autoencoders, layer by layer", _layerwise("dae")),
    PretrainMethod("dbn", "a deep belief net: its RBMs by CD, layer by layer", _layerwise("dbn")),
    PretrainMethod("supervised", "greedy supervised: one hidden layer at a time",
                   _layerwise("supervised")),
)}


def parse_k(text: str | None) -> int | dict[int, int] | None:
    """--k: "3" (every epoch) or "1:1,5:3,10:10" (from epoch 1 on k=1, from 5 on 3, ...)."""
    if text is None:
        return None
    try:
        if ":" not in text:
            return int(text)
        pairs = (part.split(":") for part in text.split(",") if part.strip())
        return {int(epoch): int(k) for epoch, k in pairs}
    except ValueError:
        raise ValueError(f"--k must be a number of Gibbs steps or EPOCH:K pairs such as "
                         f"1:1,5:3; got {text!r}") from None


def make_strategy(method: str, options: Mapping[str, Any]) -> Strategy:
    if method not in METHODS:
        raise ValueError(f"unknown pretraining method {method!r} (known: "
                         f"{', '.join(METHODS)})")
    return METHODS[method].make(options)


__all__ = ["METHODS", "PretrainMethod", "make_strategy", "parse_k"]
