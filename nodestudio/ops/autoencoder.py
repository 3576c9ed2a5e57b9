"""The autoencoder layer: a one-hidden-layer (denoising) autoencoder that owns its weights.

    hidden         = act(x @ W + b)                    the code of the clean input
    x~             = noise(x)                          training only; infer: x~ = x
    reconstruction = dec(act(x~ @ W + b) @ W' + b')    W' = W.T when tied
    cost           = mean over rows of the summed reconstruction cost of x~'s reconstruction
                     against the clean x

as in the course's dA.py (cross-entropy summed over the features, averaged over the batch).
`hidden` is the first output, so a stack of autoencoder layers feeds each one the previous
clean code, and an unfolded classifier reuses it (train/unfold.py). Noise touches the inputs
only and only in training functions; its random numbers are Philox streams on the device
(`random_uniform_like`), so the NumPy reference (ops/philox.py) reproduces every draw:

- gaussian: x + noise_level * N(0, 1), the normal from two uniforms by Box-Muller,
  sqrt(-2 log(1 - u1)) * cos(2 pi u2);
- masking: each input kept where u >= noise_level, else 0 (the tutorial's binomial);
- salt_and_pepper: each input, where u1 < noise_level, replaced by 0 or 1 (1 where u2 >= 1/2).

Cross-entropy is computed from the decoder's pre-activation a as softplus(a) - x * a (which is
-(x log s(a) + (1 - x) log(1 - s(a))), finite for every a), so it needs the sigmoid decoder.
"""

from __future__ import annotations

import math

from nodestudio.errors import ShapeError
from nodestudio.ops.layers import ACTIVATIONS, WEIGHT_INITS, _in_width, weight_init
from nodestudio.ops.nn import _MODE, effective_mode
from nodestudio.ops.registry import FLOAT, AttrDef, OpDef, ParamDef, PortDef, register

LOSSES = ("cross_entropy", "squared_error")
NOISES = ("none", "gaussian", "masking", "salt_and_pepper")
# the second uniform stream of a two-stream noise: a fixed offset from the first seed
SECOND_STREAM = 0x2545F491


def noise_seeds(seed: int) -> tuple[int, int]:
    """The Philox seeds of a noise's uniform streams (the second used by gaussian and
    salt-and-pepper noise only)."""
    return seed, (seed + SECOND_STREAM) % 2**31


def corrupt(F, x, noise: str, level: float, seed: int):
    """x with `noise` of strength `level` drawn from the streams of `seed` (already resolved
    from -1 to a node's own stream)."""
    if noise == "none" or level == 0.0:
        return x
    first, second = noise_seeds(seed)
    u1 = F.random_uniform_like(x, seed=first)
    if noise == "masking":
        return x * F.ge(u1, level)
    u2 = F.random_uniform_like(x, seed=second)
    if noise == "gaussian":
        normal = F.sqrt(-2.0 * F.log(1.0 - u1)) * F.cos(u2 * (2.0 * math.pi))
        return x + normal * level
    hit = F.lt(u1, level)  # salt and pepper
    return F.where(hit, F.ge(u2, 0.5) * 1.0, x)


def _check(at) -> None:
    if at["loss"] == "cross_entropy" and at["decoder"] != "sigmoid":
        raise ShapeError("a cross-entropy reconstruction cost needs the sigmoid decoder "
                         f"(its outputs are probabilities), not {at['decoder']!r}; use "
                         "squared_error", port="x")
    if at["noise"] in ("masking", "salt_and_pepper") and at["noise_level"] > 1.0:
        raise ShapeError(f"{at['noise']} noise_level is a probability, got "
                         f"{at['noise_level']:g}", port="x")


def _activate(F, value, activation: str):
    return value if activation == "none" else F.apply(activation, value)


def _autoencoder(F, ins, at, mode):
    _check(at)
    x, W, b, b_prime, *untied = ins
    if x.ndim > 2:  # images: one row per example
        x = F.reshape(x, (-1, W.shape[0]))
    training = effective_mode(at, mode) == "train"

    def encode(v):
        return _activate(F, F.matmul(v, W) + b, at["activation"])

    def decode_pre(h):  # the decoder's pre-activation
        if untied:
            return F.matmul(h, untied[0]) + b_prime
        return F.matmul(h, W, trans_b=True) + b_prime

    hidden = encode(x)
    noisy = corrupt(F, x, at["noise"], at["noise_level"], F.stream_seed(at["seed"])) \
        if training else x
    code = hidden if noisy is x else encode(noisy)
    pre = decode_pre(code)
    reconstruction = _activate(F, pre, at["decoder"])
    if at["loss"] == "cross_entropy":
        per_input = F.softplus(pre) - x * pre
    else:
        per_input = F.square(reconstruction - x)
    cost = F.mean(F.sum(per_input, axis=-1))
    return [hidden, cost, reconstruction]


def _label(at) -> str:
    text = [f"{at['hidden']}, {at['activation']}", "tied" if at["tied"] else "untied"]
    if at["noise"] != "none" and at["noise_level"] > 0:
        text.append(f"{at['noise'].replace('_', ' ')} {at['noise_level']:g}")
    return ", ".join(text)


def _hidden_shape(types, at):
    return (_in_width(types, at), at["hidden"])


register(OpDef(
    "autoencoder_layer", "Layers",
    "a (denoising) autoencoder that owns its weights: hidden = act(x @ W + b); while "
    "training the input is corrupted by the chosen noise and reconstructed as "
    "dec(act(x~ @ W + b) @ W' + b') with W' = W.T when tied; cost: the reconstruction's "
    "cross-entropy or squared error against the clean x, summed over the inputs and "
    "averaged over the batch",
    (PortDef("x", "a batch of rows (inputs in [0, 1] for cross-entropy); images are "
             "flattened", dtype=FLOAT),),
    outputs=(PortDef("hidden", "the code of the clean input"),
             PortDef("cost", "the reconstruction cost (a scalar to minimise)"),
             PortDef("reconstruction", "the decoder's output for the (noisy) input")),
    attrs=(AttrDef("hidden", "int", 500, "code width (hidden units)", low=1, high=1_000_000),
           AttrDef("tied", "bool", True, "decode with W.T (tied) or with W' of its own"),
           AttrDef("activation", "choice", "sigmoid", "the encoder's activation",
                   choices=ACTIVATIONS),
           AttrDef("decoder", "choice", "sigmoid", "the decoder's activation (cross-entropy "
                   "needs sigmoid)", choices=ACTIVATIONS),
           AttrDef("loss", "choice", "cross_entropy", "reconstruction cost", choices=LOSSES),
           AttrDef("noise", "choice", "none", "corruption of the inputs while training",
                   choices=NOISES),
           AttrDef("noise_level", "float", 0.0, "gaussian: standard deviation; masking: "
                   "probability of zeroing an input; salt and pepper: probability of "
                   "setting it to 0 or 1", low=0.0),
           AttrDef("init", "choice", "auto", "how W (and W') are drawn (auto: Glorot for the "
                   "activation)", choices=WEIGHT_INITS),
           AttrDef("seed", "int", -1, "noise stream seed; -1: a stream of its own, drawn "
                   "from the node's name (also added to the weights' per-node seed)", low=-1,
                   special="own stream"),
           _MODE),
    params=(ParamDef("W", _hidden_shape, weight_init, "encoder weights, inputs x hidden"),
            ParamDef("b", lambda types, at: (at["hidden"],), lambda at: "zeros",
                     "hidden biases"),
            ParamDef("b_prime", lambda types, at: (_in_width(types, at),),
                     lambda at: "zeros", "reconstruction biases"),
            ParamDef("W_prime", lambda types, at: _hidden_shape(types, at)[::-1],
                     weight_init, "decoder weights, hidden x inputs (untied only)",
                     when=lambda at: not at.get("tied", True))),
    expand=_autoencoder, stateful=True, label=_label))


__all__ = ["LOSSES", "NOISES", "corrupt", "noise_seeds"]
