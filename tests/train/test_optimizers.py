"""Each optimizer's update, step by step, against its formula in float64 NumPy.

The parameters are shared variables and the gradients are function *inputs*, so what the device
computes is exactly the update formula (no model in between); the learning rate is an input too
and changes between steps, as a schedule would change it."""

from __future__ import annotations

import numpy as np
import pytest

import nodestudio as ns
from nodestudio.train import OPTIMIZERS, Optimizer, make_optimizer

SHAPES = [(3, 4), (5,)]
LRS = [0.05, 0.02, 0.01]  # one per step: a changing rate must not need a recompilation


def _f32(a):
    """Values exactly representable in float32, so both sides start from the same numbers."""
    return np.asarray(a, dtype=np.float32).astype(np.float64)


# --- float64 references: state dict in, (new params, new state) out ---------------------------

def ref_sgd(h, w, g, s, lr):
    return w - lr * g, s


def ref_momentum(h, w, g, s, lr):
    v = s.get("v", np.zeros_like(w))
    if h["variant"] == "classic":
        v = h["momentum"] * v - lr * g
        return w + v, {"v": v}
    v = h["momentum"] * v + (1 - h["momentum"]) * g
    return w - lr * v, {"v": v}


def ref_nesterov(h, w, g, s, lr):
    b = h["momentum"] * s.get("b", np.zeros_like(w)) + g
    return w - lr * (g + h["momentum"] * b), {"b": b}


def ref_adagrad(h, w, g, s, lr):
    acc = s.get("s", np.full_like(w, h["initial_accumulator_value"])) + g * g
    return w - lr * g / (np.sqrt(acc) + h["eps"]), {"s": acc}


def ref_rmsprop(h, w, g, s, lr):
    acc = h["alpha"] * s.get("s", np.zeros_like(w)) + (1 - h["alpha"]) * g * g
    return w - lr * g / (np.sqrt(acc) + h["eps"]), {"s": acc}


def ref_adam(h, w, g, s, lr):
    t = s.get("t", 0) + 1
    m = h["beta1"] * s.get("m", np.zeros_like(w)) + (1 - h["beta1"]) * g
    v = h["beta2"] * s.get("v", np.zeros_like(w)) + (1 - h["beta2"]) * g * g
    m_hat, v_hat = m / (1 - h["beta1"] ** t), v / (1 - h["beta2"] ** t)
    return w - lr * m_hat / (np.sqrt(v_hat) + h["eps"]), {"t": t, "m": m, "v": v}


def ref_adaptive(h, w, g, s, lr):
    rate = s.get("rate", np.full_like(w, h["initial_rate"]))
    p = g * s.get("prev", np.zeros_like(w))
    rate = np.where(p > 0, rate + h["increment"], np.where(p < 0, rate * h["decay"], rate))
    rate = np.clip(rate, h["min_rate"], h["max_rate"])
    return w - lr * rate * g, {"rate": rate, "prev": g}


REFERENCES = {"sgd": ref_sgd, "momentum": ref_momentum, "nesterov": ref_nesterov,
              "adagrad": ref_adagrad, "rmsprop": ref_rmsprop, "adam": ref_adam,
              "adaptive": ref_adaptive}

CASES = [
    ("sgd", {}),
    ("momentum", {}),
    ("momentum", {"variant": "smoothed", "momentum": 0.8}),
    ("nesterov", {"momentum": 0.7}),
    ("adagrad", {}),
    ("adagrad", {"initial_accumulator_value": 0.1, "eps": 1e-6}),
    ("rmsprop", {}),
    ("adam", {}),
    ("adam", {"beta1": 0.8, "beta2": 0.99, "eps": 1e-6}),
    ("adaptive", {"increment": 0.3, "decay": 0.5, "min_rate": 0.4, "max_rate": 1.5}),
]


def _compile_steps(opt: Optimizer, params):
    grads = [ns.tensor(f"g{i}", shape) for i, shape in enumerate(SHAPES)]
    lr = ns.scalar("lr")
    return ns.function([*grads, lr], [], updates=opt.updates(params, grads, lr))


def test_every_optimizer_is_covered():
    assert set(REFERENCES) == set(OPTIMIZERS)
    assert {name for name, _ in CASES} == set(OPTIMIZERS)


@pytest.mark.opencl
@pytest.mark.parametrize("name, hyper", CASES, ids=[f"{n}-{i}" for i, (n, _) in enumerate(CASES)])
def test_three_steps_match_the_formula(name, hyper):
    rng = np.random.default_rng(7)
    start = [_f32(rng.normal(size=s)) for s in SHAPES]
    params = [ns.shared(w, f"w{i}") for i, w in enumerate(start)]
    opt = make_optimizer(name, **hyper)
    step = _compile_steps(opt, params)
    h = opt.hyperparameters()
    expected, states = list(start), [{} for _ in SHAPES]
    for k, lr in enumerate(LRS):
        grads = [_f32(rng.normal(size=s)) for s in SHAPES]
        if k == 2:  # an exact zero and a repeated sign pattern exercise the edge cases
            grads[0][0, 0] = 0.0
        step(*grads, lr)
        for i in range(len(SHAPES)):
            expected[i], states[i] = REFERENCES[name](h, expected[i], grads[i], states[i], lr)
            np.testing.assert_allclose(params[i].get_value(), expected[i], rtol=1e-6, atol=1e-6,
                                       err_msg=f"{name} step {k + 1}, parameter {i}")


@pytest.mark.opencl
def test_adaptive_rates_increase_decay_and_clip():
    """One element per behaviour: signs always agreeing (rate climbs to max_rate), always
    flipping (decays to min_rate), a zero gradient (unchanged), agreeing then flipping."""
    opt = make_optimizer("adaptive", initial_rate=1.0, increment=0.25, decay=0.5,
                         min_rate=0.3, max_rate=1.6)
    w = ns.shared(np.zeros(4), "w")
    g, lr = ns.tensor("g", (4,)), ns.scalar("lr")
    step = ns.function([g, lr], [], updates=opt.updates([w], [g], lr))
    rate, previous = opt.state()
    assert rate.get_value().tolist() == [1.0] * 4
    grads = [[1.0, 1.0, 0.0, 2.0], [2.0, -1.0, 0.0, 1.0], [0.5, 1.0, 0.0, 3.0],
             [1.0, -1.0, 0.0, -1.0], [3.0, 1.0, 0.0, 1.0]]
    expected_rates = [
        [1.0, 1.0, 1.0, 1.0],  # first step: no previous gradient yet
        [1.25, 0.5, 1.0, 1.25],
        [1.5, 0.3, 1.0, 1.5],  # 0.25 clipped up to min_rate
        [1.6, 0.3, 1.0, 0.75],  # 1.75 clipped down to max_rate; last element flips
        [1.6, 0.3, 1.0, 0.375],  # stays clipped; the last flips again
    ]
    w_expected = np.zeros(4)
    for grad, rates in zip(grads, expected_rates):
        step(np.array(grad), 0.1)
        np.testing.assert_allclose(rate.get_value(), rates, rtol=1e-6)
        np.testing.assert_array_equal(previous.get_value(), grad)
        w_expected -= 0.1 * np.array(rates) * np.array(grad)
        np.testing.assert_allclose(w.get_value(), w_expected, rtol=1e-6, atol=1e-7)


@pytest.mark.opencl
def test_each_updated_variable_is_one_fused_kernel():
    """Adam on one parameter: m, v and w are each computed by one elementwise kernel over the
    parameter's elements (the bias corrections are tiny scalar kernels shared by every
    parameter), and the state stays on the device between calls."""
    w = ns.shared(np.ones((3, 4)), "w")
    g, lr = ns.tensor("g", (3, 4)), ns.scalar("lr")
    opt = make_optimizer("adam")
    step = ns.function([g, lr], [], updates=opt.updates([w], [g], lr))
    step(np.full((3, 4), 0.5), 0.01)
    step(np.full((3, 4), 0.5), 0.01)  # a new rate value: same compiled executable
    assert len(step._executables) == 1
    big = [k for k in step.kernels() if k.global_size == (12,)]
    assert len(big) == 3
    assert all(k.name.startswith("fused_") for k in step.kernels())
    t, m, v = opt.state()
    assert float(t.get_value()) == 2.0
    assert np.allclose(m.get_value(), 0.5 * (1 - 0.9 ** 2))


@pytest.mark.opencl
def test_reset_restores_the_initial_state():
    opt = make_optimizer("adagrad", initial_accumulator_value=0.25)
    w = ns.shared(np.ones(3), "w")
    g = ns.tensor("g", (3,))
    step = ns.function([g], [], updates=opt.updates([w], [g]))  # lr: the default, a constant
    step(np.ones(3))
    (acc,) = opt.state()
    np.testing.assert_allclose(acc.get_value(), 1.25)
    np.testing.assert_allclose(w.get_value(), 1 - 0.01 / np.sqrt(1.25), rtol=1e-6)
    opt.reset()
    np.testing.assert_allclose(acc.get_value(), 0.25)
    step(np.ones(3))
    np.testing.assert_allclose(acc.get_value(), 1.25)


# --- construction and validation (no device needed) ------------------------------------------

def test_defaults_and_registry():
    assert make_optimizer("adam").hyperparameters() == {"lr": 1e-3, "beta1": 0.9,
                                                       "beta2": 0.999, "eps": 1e-8}
    assert make_optimizer("rmsprop").alpha == 0.99
    assert make_optimizer("adagrad").initial_accumulator_value == 0.0
    assert make_optimizer("momentum").variant == "classic"
    for name, cls in OPTIMIZERS.items():
        opt = make_optimizer(name)
        assert isinstance(opt, cls) and opt.name == name
        again = make_optimizer(name, **opt.hyperparameters())
        assert again.hyperparameters() == opt.hyperparameters()
        assert opt.state() == []


@pytest.mark.parametrize("name, hyper, word", [
    ("adam", {"beta3": 0.5}, "beta3"),
    ("adam", {"beta1": 1.0}, "beta1"),
    ("adam", {"eps": -1e-8}, "eps"),
    ("sgd", {"lr": float("nan")}, "lr"),
    ("sgd", {"lr": "fast"}, "lr"),
    ("momentum", {"variant": "heavy"}, "variant"),
    ("momentum", {"momentum": -0.1}, "momentum"),
    ("rmsprop", {"alpha": 1.5}, "alpha"),
    ("adaptive", {"min_rate": 2.0, "max_rate": 1.0}, "min_rate"),
    ("adaptive", {"initial_rate": 20.0}, "initial_rate"),
    ("adaptive", {"decay": 0.0}, "decay"),
    ("rprop", {}, "rprop"),
])
def test_invalid_hyperparameters_name_the_culprit(name, hyper, word):
    with pytest.raises(ValueError, match=word):
        make_optimizer(name, **hyper)


def test_updates_checks_its_arguments():
    opt = make_optimizer("sgd")
    w = ns.shared(np.zeros((2, 3)), "w")
    with pytest.raises(ValueError, match="1 parameter"):
        opt.updates([w], [], 0.1)
    with pytest.raises(ValueError, match="does not fit"):
        opt.updates([w], [ns.tensor("g", (3, 2))], 0.1)
    with pytest.raises(ValueError, match="float32"):
        opt.updates([ns.shared(np.zeros(3, dtype=np.int32))], [ns.tensor("g", (3,))], 0.1)
    with pytest.raises(ValueError, match="learning rate"):
        opt.updates([w], [ns.tensor("g", (2, 3))], ns.vector("lr"))
    pairs = opt.updates([w], [ns.tensor("g", (2, None))], ns.scalar("lr"))
    assert [target for target, _ in pairs] == [w]
