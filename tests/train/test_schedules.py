"""Learning-rate schedules: values at chosen iterations, descriptions, the registry, errors."""

from __future__ import annotations

import pytest

from nodestudio.train import SCHEDULES, make_schedule, schedules


def test_constant():
    s = schedules.constant(0.1)
    assert [s.lr_at(k) for k in (0, 1, 10**6)] == [0.1, 0.1, 0.1]
    assert s.describe() == "constant 0.1"


def test_linear_decays_then_stays():
    s = schedules.linear(0.1, 0.001, 100)
    assert s.lr_at(0) == pytest.approx(0.1)
    assert s.lr_at(50) == pytest.approx(0.0505)
    assert s.lr_at(99) == pytest.approx(0.1 - 0.099 * 0.99)
    assert s.lr_at(100) == pytest.approx(0.001)
    assert s.lr_at(5000) == pytest.approx(0.001)
    assert s(25) == s.lr_at(25)  # a schedule is callable
    assert "over 100 iterations" in s.describe()


def test_step_multiplies_every_so_often():
    s = schedules.step(1.0, 0.5, 10)
    assert [s.lr_at(k) for k in (0, 9, 10, 19, 20, 35)] == [1.0, 1.0, 0.5, 0.5, 0.25, 0.125]
    assert s.describe() == "1, multiplied by 0.5 every 10 iterations"


def test_exponential():
    s = schedules.exponential(0.2, 0.9)
    assert s.lr_at(0) == pytest.approx(0.2)
    assert s.lr_at(1) == pytest.approx(0.18)
    assert s.lr_at(10) == pytest.approx(0.2 * 0.9 ** 10)
    assert "0.9" in s.describe()


def test_registry_rebuilds_every_schedule():
    made = [schedules.constant(0.1), schedules.linear(0.1, 0.01, 50),
            schedules.step(0.1, 0.1, 30), schedules.exponential(0.1, 0.99)]
    assert {s.name for s in made} == set(SCHEDULES)
    for s in made:
        again = make_schedule(s.name, **s.params())
        assert again == s and again.lr_at(40) == s.lr_at(40)
    assert make_schedule("linear", lr0=1, lr_tau=0, tau=4.0).lr_at(2) == 0.5


@pytest.mark.parametrize("name, params, word", [
    ("cosine", {"lr0": 0.1}, "cosine"),
    ("constant", {"lr0": -0.1}, "lr0"),
    ("constant", {"lr0": float("inf")}, "lr0"),
    ("linear", {"lr0": 0.1, "lr_tau": 0.01, "tau": 0}, "tau"),
    ("linear", {"lr0": 0.1, "lr_tau": 0.01, "tau": 2.5}, "tau"),
    ("linear", {"lr0": 0.1, "lr_tau": 0.01}, "tau"),
    ("step", {"lr0": 0.1, "factor": 0.0, "every": 10}, "factor"),
    ("step", {"lr0": 0.1, "factor": 0.5, "every": -1}, "every"),
    ("exponential", {"lr0": 0.1, "gamma": "slow"}, "gamma"),
    ("exponential", {"lr0": 0.1, "gamma": 0.9, "beta": 1}, "beta"),
])
def test_invalid_parameters_name_the_culprit(name, params, word):
    with pytest.raises(ValueError, match=word):
        make_schedule(name, **params)


def test_negative_iteration_is_an_error():
    with pytest.raises(ValueError, match="iteration"):
        schedules.constant(0.1).lr_at(-1)
