"""Building the IR node of an op that owns parameters (a layer), and binding default updates:
state (an input or owned parameter whose next value is one of the op's outputs) is declared
once, on the op's ports (`PortDef.update`, `ParamDef.update`), and bound here for every op.

A layer's IR node takes its owned parameters as its last inputs: shared variables named
"<node>/<param>", made here with shapes from the op's `ParamDef`s. Their values come from the
document (trained values, keyed by the same name) or are drawn from the initialiser with a
per-node seed. The Python API (`ns.dense_layer`) and the document loader both build layers here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from nodestudio.errors import GraphError, ShapeError
from nodestudio.ir.expr import Apply, Variable, fresh_name, make_apply, toposort
from nodestudio.ir.shared import SharedVariable, shared
from nodestudio.ops import registry
from nodestudio.ops.init import initial_value, owned_seed
from nodestudio.ops.registry import OpDef, ParamDef, TensorType


def param_key(node: str, param: str) -> str:
    """Where a layer's parameter value is kept: also its id once the layer is expanded."""
    return f"{node}/{param}"


def owned_attrs(op: OpDef, param: ParamDef, attrs: dict[str, Any], node: str,
                shape: tuple[int, ...]) -> dict[str, Any]:
    """The attributes of the parameter node that stands for an owned parameter."""
    return {"shape": shape, "dtype": param.dtype, "init": param.init(attrs),
            "seed": owned_seed(param_key(node, param.name), attrs.get("seed", 0)),
            "trainable": param.trainable}


def owned_types(op: OpDef, input_types: Sequence[TensorType], attrs: dict[str, Any],
                node: str) -> dict[str, TensorType]:
    """Each owned parameter's type for these input types; ShapeError naming the node."""
    types = {}
    for param in op.owned_params(attrs):
        try:
            shape = tuple(int(d) for d in param.shape(list(input_types), attrs))
        except ShapeError as exc:
            raise ShapeError(exc.detail, node=node, port=exc.port) from None
        types[param.name] = TensorType(param.dtype, shape)
    return types


def make_layer(op: OpDef, inputs: Sequence[Variable], attrs: dict[str, Any],
               name: str | None = None, values: Mapping[str, np.ndarray] | None = None
               ) -> tuple[Apply, dict[str, SharedVariable]]:
    """The IR node of `op` on `inputs`, with a shared variable for each owned parameter (its
    value from `values[param_key(name, p)]` when given, else initialised); returns the node and
    {param name: shared variable}."""
    name = name or fresh_name(op.name)
    attrs = op.normalise_attrs(attrs, name)
    params: dict[str, SharedVariable] = {}
    for param, type_ in zip(op.owned_params(attrs), owned_types(op, [v.type for v in inputs], attrs,
                                                   name).values()):
        key = param_key(name, param.name)
        p_attrs = owned_attrs(op, param, attrs, name, type_.shape)
        value = None if values is None else values.get(key)
        if value is not None and tuple(np.shape(value)) != type_.shape:
            raise GraphError(f"the stored value of {param.name!r} has shape "
                             f"{tuple(np.shape(value))}, the layer needs {type_.shape}",
                             node=name, port=param.name)
        if value is None:
            value = initial_value(p_attrs["init"], type_.shape, seed=p_attrs["seed"])
        params[param.name] = shared(np.asarray(value, np.float64), key, init=p_attrs["init"],
                                    attrs={k: v for k, v in p_attrs.items()
                                           if k not in ("shape", "dtype", "init")})
    node = make_apply(op, [*inputs, *params.values()], attrs, name)
    bind_default_updates(node)
    return node, params


def declared_updates(node: Apply) -> list[tuple[SharedVariable, Variable]]:
    """(shared variable, its next value) for each input and owned parameter of `node` whose
    port declares an `update` (PortDef.update / ParamDef.update: batch norm's running
    averages, an RBM's persistent chain) and is fed by a shared variable. The op definition is
    the one place state is declared: nothing here knows any op by name."""
    names = node.op.ir_input_names(node.attrs)
    specs = {p.name: p for p in (*node.op.inputs, *node.op.params)}
    outputs = node.op.output_names()
    pairs = []
    for port, var in zip(names, node.inputs):
        update = getattr(specs.get(port), "update", None)
        if update and isinstance(var, SharedVariable):
            pairs.append((var, node.outputs[outputs.index(update)]))
    return pairs


def bind_default_updates(node: Apply) -> int:
    """The declared updates of `node` become its shared variables' default updates (where
    they have none): training functions apply them. Returns how many were set."""
    count = 0
    for var, nxt in declared_updates(node):
        if var.default_update is None:
            var.default_update = nxt
            count += 1
    return count


def graph_updates(outputs: Sequence[Variable]) -> list[tuple[SharedVariable, Variable]]:
    """The declared updates of every node `outputs` depend on, each shared variable once."""
    pairs, seen = [], set()
    for node in toposort(list(outputs)):
        for var, nxt in declared_updates(node):
            if id(var) not in seen:
                seen.add(id(var))
                pairs.append((var, nxt))
    return pairs


def bind_graph_updates(outputs: Sequence[Variable]) -> int:
    """`bind_default_updates` for every node `outputs` depend on (a graph rebuilt without its
    default updates); returns how many were set."""
    return sum(bind_default_updates(node) for node in toposort(list(outputs)))


def layer(op_name: str, *inputs: Variable, name: str | None = None, **attrs: Any) -> Variable:
    """`ns.dense_layer(x, units=800, activation="tanh")` and the like: the layer's first output.
    Its parameters are reachable as `layer_params(output)`."""
    node, _ = make_layer(registry.get(op_name), list(inputs), attrs, name)
    return node.outputs[0]


def layer_params(output: Variable) -> dict[str, SharedVariable]:
    """{param name: shared variable} of the layer that computed `output`."""
    node = output.owner
    names = node.op.param_names(node.attrs)
    owned = node.inputs[len(node.inputs) - len(names):] if names else ()
    return dict(zip(names, owned))  # type: ignore[arg-type]


def dense_layer(x: Variable, units: int, activation: str = "none", init: str = "auto",
                seed: int = 0, name: str | None = None) -> Variable:
    """activation(x @ W + b) with its own W (incoming width x units) and b."""
    return layer("dense_layer", x, name=name, units=units, activation=activation, init=init,
                 seed=seed)


def conv2d_layer(x: Variable, filters: int, kernel_size=(5, 5), stride=(1, 1),
                 padding=(0, 0), activation: str = "none", init: str = "auto", seed: int = 0,
                 name: str | None = None) -> Variable:
    """activation(conv2d(x, W) + b) with its own filters W (filters x channels x kh x kw) and
    biases b (one per filter); x is (B, C, H, W). An int kernel_size, stride or padding means
    the same along rows and columns."""
    def pair(v):
        return (v, v) if isinstance(v, int) else tuple(v)
    return layer("conv2d_layer", x, name=name, filters=filters, kernel_size=pair(kernel_size),
                 stride=pair(stride), padding=pair(padding), activation=activation, init=init,
                 seed=seed)


def batch_norm_layer(x: Variable, axis: int = 1, eps: float = 1e-5, momentum: float = 0.1,
                     mode: str = "auto", name: str | None = None) -> Variable:
    """Batch normalisation with its own gamma, beta and running averages (updated by training
    functions)."""
    return layer("batch_norm_layer", x, name=name, axis=axis, eps=eps, momentum=momentum,
                 mode=mode)


__all__ = ["batch_norm_layer", "bind_default_updates", "bind_graph_updates", "conv2d_layer",
           "declared_updates", "dense_layer", "graph_updates", "layer", "layer_params",
           "make_layer", "owned_attrs", "owned_types", "param_key"]
