import json
import math
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from onecycle.schedules import POLICIES
from onecycle.suggestions import (
    COARSE_SPAN,
    COLLAPSE_DROP,
    EMA,
    MARGIN,
    MAX_FALL,
    MIN_POINTS,
    PLATEAU_FACTOR,
    PLATEAU_FRACTION,
    PLATEAU_LIMIT,
    RULE_NAMES,
    SHALLOW_FALL,
    SPREAD_HIGH,
    Recommendation,
    combine,
    drop_fraction,
    ema,
    first_collapse,
    has_collapsed,
    has_diverged,
    minimum_div10,
    recommend,
    relative_fall,
    schedule_use,
    steepest,
    unanswered,
    valley,
    zero_phase_smooth,
)

RULES = {
    "valley": valley,
    "steepest": steepest,
    "minimum_div10": minimum_div10,
    "drop_fraction": drop_fraction,
}


# ----------------------------------------------------------------------------------------- synthetic curves


def sigmoid_curve(x, x_c=-3.0, width=0.35, x_div=None):
    """A plateau at 2.3 falling to 0.3 around ``x_c`` (log10 lr); exploding past ``x_div`` if given."""
    loss = 2.3 - 2.0 / (1.0 + np.exp(-(x - x_c) / width))
    return loss if x_div is None else loss + np.exp((x - x_div) / 0.15)


def expected_max_lr(lrs, losses, lr_min, margin=MARGIN):
    """The documented rule: the smoothed minimum / margin, unless the plateau cap (PLATEAU_FACTOR x the lr
    where PLATEAU_FRACTION of the fall is done, never below the minimum / PLATEAU_LIMIT) is lower."""
    floor = drop_fraction(lrs, losses, PLATEAU_FRACTION)
    if floor is None:
        return lr_min / margin
    return min(lr_min / margin, max(PLATEAU_FACTOR * floor, lr_min / PLATEAU_LIMIT))


def quadratic_valley(x, x_min=-2.5, x_div=-1.5):
    """Flat at 2.0, a quadratic valley (in log10 lr) down to 0.5 at ``x_min``, back up to 2.0 at ``x_div``
    and exploding past it."""
    left = np.minimum(0.5 + 1.5 * ((x - x_min) / 1.5) ** 2, 2.0)
    right = 0.5 + 1.5 * ((x - x_min) / (x_div - x_min)) ** 2
    loss = np.where(x < x_min, left, right)
    return loss + np.where(x > x_div, np.expm1((x - x_div) / 0.05), 0.0)


def piecewise(x, x_start=-4.0, x_end=-2.0, x_div=-1.0):
    """Flat at 2.0, a straight fall (in log10 lr) to 0.5 from ``x_start`` to ``x_end``, flat, then a steep
    rise from ``x_div``."""
    fall = np.clip((x - x_start) / (x_end - x_start), 0.0, 1.0)
    return 2.0 - 1.5 * fall + 20.0 * np.clip(x - x_div, 0.0, None) ** 2


def noisy(f, seed, sd):
    return f + np.random.default_rng(seed).normal(0.0, sd, len(f))


def log_err(lr, x_expected):
    return abs(math.log10(lr) - x_expected)


# ----------------------------------------------------------------------------------------------------- ema


def test_ema_matches_closed_form_with_bias_correction():
    y = np.random.default_rng(0).uniform(0.0, 5.0, 60)
    for beta in (0.0, 0.5, 0.98):
        i = np.arange(len(y))
        lag = i[:, None] - i[None, :]
        weights = np.where(lag >= 0, (1 - beta) * beta ** np.maximum(lag, 0), 0.0)
        expected = (weights @ y) / (1 - beta ** (i + 1))
        assert np.allclose(ema(y, beta), expected, rtol=1e-12)
    assert np.array_equal(ema(y, 0.0), y)


def test_ema_of_constant_is_constant_and_trails_a_step():
    assert np.allclose(ema(np.full(50, 3.0)), 3.0, rtol=1e-12)
    step = np.r_[np.zeros(100), np.ones(100)]
    out = ema(step, 0.98)
    assert out[100] < 0.05 and 0.6 < out[150] < 0.7  # about 1/(1-beta) = 50 steps behind


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_ema_is_non_finite_from_the_first_non_finite_loss_on(bad):
    y = [1.0, 2.0, 3.0, bad, 1.0, 2.0]
    out = ema(y)
    assert np.array_equal(out[:3], ema(y[:3]))
    assert not np.isfinite(out[3:]).any()


def test_ema_validates():
    assert len(ema([])) == 0
    for beta in (-0.1, 1.0, 2.0):
        with pytest.raises(ValueError, match="beta"):
            ema([1.0, 2.0], beta)
    with pytest.raises(ValueError, match="one-dimensional"):
        ema([[1.0, 2.0]])


def test_ema_state_continues_bitwise():
    y = np.random.default_rng(1).uniform(0.0, 5.0, 40).tolist()
    first = EMA(0.9)
    for value in y[:17]:
        first.update(value)
    second = EMA()
    second.load_state_dict(first.state_dict())
    assert [second.update(v) for v in y[17:]] == ema(y, 0.9).tolist()[17:]
    assert math.isnan(EMA().value)


@given(st.lists(st.floats(-1e6, 1e6), min_size=1, max_size=50), st.floats(0.0, 0.999))
def test_ema_is_a_weighted_average_of_the_losses_so_far(y, beta):
    out = ema(y, beta)
    assert len(out) == len(y)
    running_min, running_max = np.minimum.accumulate(y), np.maximum.accumulate(y)
    tol = 1e-9 * (1.0 + np.abs(running_max) + np.abs(running_min))
    assert np.all(out >= running_min - tol) and np.all(out <= running_max + tol)


# --------------------------------------------------------------------------------------- zero-phase smoothing


def test_zero_phase_minimum_is_far_closer_to_the_truth_than_the_ema_minimum():
    lrs = np.logspace(-6, 0, 100)
    x = np.log10(lrs)
    f = sigmoid_curve(x, x_div=-1.0)
    x_true = x[np.argmin(f)]
    for seed in range(10):
        y = noisy(f, seed, 0.08)
        zp_err = x[np.argmin(zero_phase_smooth(lrs, y))] - x_true
        ema_err = x[np.argmin(ema(y))] - x_true
        assert abs(zp_err) < 0.2
        assert ema_err > 0.4  # the trailing EMA puts the minimum to the right
        assert abs(zp_err) < ema_err / 3


def test_zero_phase_smoothing_with_linear_lr_growth_finds_the_minimum():
    lrs = np.linspace(1e-4, 1.0, 100)
    x = np.log10(lrs)
    f = 1.0 + 3.0 * (x + 0.5) ** 2  # minimum at lr = 10**-0.5
    for seed in range(5):
        s = zero_phase_smooth(lrs, noisy(f, seed, 0.02))
        assert abs(x[np.argmin(s)] + 0.5) < 0.1


def test_zero_phase_smoothing_removes_a_single_spike():
    lrs = np.logspace(-5, -1, 80)
    f = sigmoid_curve(np.log10(lrs))
    y = f.copy()
    y[40] += 50.0
    assert np.max(np.abs(zero_phase_smooth(lrs, y) - zero_phase_smooth(lrs, f))) < 0.05
    assert np.max(np.abs(zero_phase_smooth(lrs, y, despike=False) - zero_phase_smooth(lrs, f))) > 1.0


@pytest.mark.parametrize("n", [0, 1, 2, 3, 5])
def test_zero_phase_smoothing_of_short_curves(n):
    lrs = np.logspace(-4, -1, n)
    y = 2.0 - 0.5 * np.log10(lrs)
    out = zero_phase_smooth(lrs, y)
    assert out.shape == (n,)
    assert np.allclose(out, y)  # a straight line in log-lr is kept


def test_zero_phase_smoothing_is_nan_from_the_first_non_finite_loss():
    lrs = np.logspace(-4, -1, 30)
    y = noisy(sigmoid_curve(np.log10(lrs), x_c=-2.5), 0, 0.05)
    y[20] = math.inf
    out = zero_phase_smooth(lrs, y)
    assert np.array_equal(out[:20], zero_phase_smooth(lrs[:20], y[:20]))
    assert np.isnan(out[20:]).all()


def test_zero_phase_smoothing_validates():
    with pytest.raises(ValueError, match="frac"):
        zero_phase_smooth([1e-3, 1e-2], [1.0, 2.0], frac=0.0)


increasing_lrs = st.one_of(
    # geometric-like: random positive steps in log10 lr
    st.tuples(st.floats(-8, 0), st.lists(st.floats(1e-3, 0.3), max_size=60)).map(
        lambda t: list(10 ** (t[0] + np.cumsum([0.0, *t[1]])))
    ),
    # linear growth
    st.tuples(st.floats(1e-6, 1e-2), st.floats(1e-4, 1.0), st.integers(0, 60)).map(
        lambda t: list(t[0] + t[1] * np.arange(t[2]))
    ),
)


@st.composite
def curves(draw, elements=None, min_points=0):
    lrs = draw(increasing_lrs.filter(lambda lrs: len(lrs) >= min_points))
    elements = st.floats(-1e6, 1e6) if elements is None else elements
    losses = draw(st.lists(elements, min_size=len(lrs), max_size=len(lrs)))
    return np.array(lrs), np.array(losses, dtype=float)


@given(curves())
def test_zero_phase_smoothing_keeps_length_constants_and_lines(curve):
    lrs, losses = curve
    assert zero_phase_smooth(lrs, losses).shape == losses.shape
    assert np.allclose(zero_phase_smooth(lrs, np.full(len(lrs), 1.7)), 1.7, rtol=1e-12)
    line = 3.0 - 0.7 * np.log10(lrs)
    assert np.allclose(zero_phase_smooth(lrs, line), line, rtol=1e-9, atol=1e-9)


@given(curves())
def test_zero_phase_smoothing_is_symmetric_under_mirroring_log_lr(curve):
    # Mirroring the curve (log10 lr -> -log10 lr) mirrors the smoothed curve: nothing is shifted either way.
    lrs, losses = curve
    out = zero_phase_smooth(lrs, losses)
    mirrored = zero_phase_smooth(1.0 / lrs[::-1], losses[::-1])[::-1]
    assert np.allclose(out, mirrored, rtol=1e-6, atol=1e-6 * (1.0 + np.max(np.abs(losses), initial=0.0)))


# -------------------------------------------------------------------------------------------------- rules


def test_valley_is_two_thirds_into_the_longest_fall():
    lrs = np.logspace(-6, 0, 200)
    lr = valley(lrs, piecewise(np.log10(lrs)))
    assert log_err(lr, -4.0 + 2.0 / 3.0 * 2.0) < 0.15
    for seed in range(3):
        assert log_err(valley(lrs, noisy(piecewise(np.log10(lrs)), seed, 0.05)), -2.0 - 2.0 / 3.0) < 0.25


def test_steepest_is_at_the_steepest_descent():
    lrs = np.logspace(-6, 0, 200)
    x = np.log10(lrs)
    assert log_err(steepest(lrs, sigmoid_curve(x, x_c=-3.0, x_div=-0.5)), -3.0) < 0.05
    assert log_err(steepest(lrs, sigmoid_curve(x, x_c=-3.0, x_div=-0.5), smooth=False), -3.0) < 0.05
    for seed in range(3):
        assert log_err(steepest(lrs, noisy(sigmoid_curve(x, x_c=-3.0, x_div=-0.5), seed, 0.05)), -3.0) < 0.25


def test_minimum_div10_is_a_decade_below_the_minimum():
    lrs = np.logspace(-6, 0, 121)  # includes 1e-2
    x = np.log10(lrs)
    assert minimum_div10(lrs, 1.0 + (x + 2.0) ** 2) == pytest.approx(1e-3)
    for seed in range(3):
        assert log_err(minimum_div10(lrs, noisy(1.0 + (x + 2.0) ** 2, seed, 0.1)), -3.0) < 0.2


def test_drop_fraction_is_where_most_of_the_fall_is_done():
    lrs = np.logspace(-6, 0, 200)
    x = np.log10(lrs)
    assert log_err(drop_fraction(lrs, piecewise(x)), -4.0 + 0.9 * 2.0) < 0.1
    assert log_err(drop_fraction(lrs, piecewise(x), fraction=0.5), -3.0) < 0.1
    with pytest.raises(ValueError, match="fraction"):
        drop_fraction(lrs, piecewise(x), fraction=1.5)


@pytest.mark.parametrize("name", sorted(RULES))
@pytest.mark.parametrize(
    "losses",
    [
        pytest.param(lambda x: np.full(len(x), 2.0), id="constant"),
        pytest.param(lambda x: 2.0 + np.exp(x), id="rising"),
        pytest.param(lambda x: 2.0 + 0.01 * np.random.default_rng(0).normal(size=len(x)), id="noise"),
        pytest.param(lambda x: np.full(len(x), math.nan), id="all-nan"),
        pytest.param(lambda x: np.r_[sigmoid_curve(x)[:4], np.full(len(x) - 4, math.inf)], id="four-finite"),
    ],
)
def test_rules_have_no_answer_when_the_curve_gives_none(name, losses):
    lrs = np.logspace(-6, 0, 100)
    assert RULES[name](lrs, losses(np.log10(lrs))) is None


@pytest.mark.parametrize("fn", [*RULES.values(), recommend])
@pytest.mark.parametrize("n", [0, 1, 2, MIN_POINTS - 1])
def test_a_curve_of_too_few_points_is_a_value_error(fn, n):
    lrs = np.logspace(-4, -1, n)
    with pytest.raises(ValueError, match=f"at least {MIN_POINTS} points.*got {n}"):
        fn(lrs, 2.0 - np.log10(lrs))


@pytest.mark.parametrize("name", sorted(RULES))
def test_rules_answer_on_a_curve_that_keeps_falling(name):
    lrs = np.logspace(-6, 0, 100)
    lr = RULES[name](lrs, sigmoid_curve(np.log10(lrs), x_c=-2.0))
    assert lr is not None and lrs[0] <= lr <= lrs[-1]


def test_minimum_div10_has_no_answer_below_the_tested_range():
    lrs = np.logspace(-3, 0, 60)
    x = np.log10(lrs)
    assert minimum_div10(lrs, 1.0 + (x + 2.5) ** 2) is None  # minimum half a decade above the first lr
    assert log_err(minimum_div10(lrs, 1.0 + (x + 1.5) ** 2), -2.5) < 0.03


@pytest.mark.parametrize("name", sorted(RULES))
def test_rules_cut_the_curve_at_the_first_non_finite_loss(name):
    lrs = np.logspace(-6, 0, 100)
    y = noisy(sigmoid_curve(np.log10(lrs), x_div=-1.0), 0, 0.05)
    cut = y.copy()
    cut[80] = math.nan
    cut[81:] = 1e6  # whatever follows the first non-finite loss is ignored
    assert RULES[name](lrs, cut) == RULES[name](lrs[:80], y[:80])


@pytest.mark.parametrize("name", sorted(RULES))
def test_rules_ignore_a_single_spike(name):
    lrs = np.logspace(-6, 0, 100)
    y = noisy(sigmoid_curve(np.log10(lrs), x_div=-1.0), 0, 0.05)
    clean = RULES[name](lrs, y)
    for spike in (20, 45, 60):  # on the plateau, in the fall, at the bottom
        for height in (-2.0, 30.0):
            spiky = y.copy()
            spiky[spike] += height
            assert log_err(RULES[name](lrs, spiky), math.log10(clean)) < 0.15


FUNCTIONS = [*RULES.values(), zero_phase_smooth, recommend]


@pytest.mark.parametrize("fn", FUNCTIONS)
@pytest.mark.parametrize(
    ("lrs", "losses", "match"),
    [
        ([1e-3, 1e-2, 1e-1], [1.0, 2.0], "same length"),
        ([0.0, 1e-2, 1e-1], [1.0, 2.0, 3.0], "positive"),
        ([-1e-3, 1e-2, 1e-1], [1.0, 2.0, 3.0], "positive"),
        ([1e-3, 1e-1, 1e-2], [1.0, 2.0, 3.0], "increasing"),
        ([1e-3, 1e-3, 1e-2], [1.0, 2.0, 3.0], "increasing"),
        ([1e-3, math.nan, 1e-2], [1.0, 2.0, 3.0], "finite"),
        ([1e-3, 1e-2, math.inf], [1.0, 2.0, 3.0], "finite"),
        ([[1e-3, 1e-2]], [[1.0, 2.0]], "one-dimensional"),
    ],
)
def test_invalid_input_raises_a_value_error_naming_the_problem(fn, lrs, losses, match):
    with pytest.raises(ValueError, match=match):
        fn(lrs, losses)


extreme_losses = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.sampled_from([0.0, 1.0, 2.0]))


@settings(max_examples=200, deadline=None)
@given(st.one_of(curves(min_points=MIN_POINTS), curves(extreme_losses, MIN_POINTS)))
def test_every_suggestion_is_none_or_a_tested_lr_at_or_below_the_smoothed_minimum(curve):
    lrs, losses = curve
    rec = recommend(lrs, losses)
    for name, rule in RULES.items():
        lr = rule(lrs, losses)
        assert lr == rec.suggestions[name]
        if lr is not None:
            assert lrs[0] <= lr <= lrs[-1]
            assert name == "minimum_div10" or lr in lrs
            assert lr <= rec.lr_at_minimum


@settings(max_examples=200, deadline=None)
@given(st.one_of(curves(min_points=MIN_POINTS), curves(extreme_losses, MIN_POINTS)), st.floats(1.0, 1e4),
       st.booleans())
def test_recommend_never_raises_and_never_returns_nonsense(curve, div_factor, diverged):
    lrs, losses = curve
    rec = recommend(lrs, losses, div_factor=div_factor, diverged=diverged)
    assert set(rec.suggestions) == set(RULE_NAMES)
    assert rec.confidence in ("high", "medium", "low")
    if rec.max_lr is None:
        assert rec.min_lr is None and rec.confidence == "low" and rec.notes
    else:
        assert math.isfinite(rec.max_lr) and lrs[0] <= rec.max_lr < rec.lr_at_minimum <= lrs[-1]
        assert rec.max_lr == pytest.approx(expected_max_lr(lrs, losses, rec.lr_at_minimum))
        assert rec.min_lr == pytest.approx(rec.max_lr / div_factor)
    if rec.spread is not None:
        assert rec.spread >= 0
    if not diverged:
        assert rec.confidence != "high" and any("never diverged" in note for note in rec.notes)
    assert Recommendation.from_dict(json.loads(json.dumps(rec.to_dict(), allow_nan=False))) == rec


# ---------------------------------------------------------------------------------------------- recommend

X_MIN, X_DIV = -2.5, -1.5  # the quadratic valley's minimum and the lr where it diverges (log10)
L_DIV = 10**X_DIV
BEST = 10**X_MIN / MARGIN  # the 1cycle choice: a bit below the minimum


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("n", [50, 100, 300])
@pytest.mark.parametrize("tail", ["cut", "nan", "spike"])
def test_quadratic_valley_recommendation_is_below_divergence_and_near_the_best(seed, n, tail):
    lrs = np.logspace(-6, -1.2, n)  # runs past L_DIV, as a range test does before its stop rule fires
    f = quadratic_valley(np.log10(lrs), X_MIN, X_DIV)
    y = noisy(f, seed, 0.05)
    if tail == "cut":
        lrs, y = lrs[f < 10], y[f < 10]
    elif tail == "nan":
        y[f > 10] = math.nan
    else:
        y[n // 2] = 100.0
    rec = recommend(lrs, y)
    assert rec.max_lr is not None and rec.min_lr is not None
    for lr in [*rec.suggestions.values(), rec.max_lr, rec.min_lr, rec.lr_at_minimum]:
        assert lr is not None and lr < L_DIV
    assert rec.max_lr < 10**X_MIN
    assert BEST / 2 <= rec.max_lr <= BEST * 2
    assert rec.spread == pytest.approx(span_of(rec))
    assert rec.confidence == ("high" if rec.spread <= SPREAD_HIGH else "medium")


@pytest.mark.parametrize("seed", range(3))
def test_quadratic_valley_with_linear_lr_growth(seed):
    lrs = np.linspace(10**-3.5, 10**-1.2, 100)
    f = quadratic_valley(np.log10(lrs), X_MIN, X_DIV)
    rec = recommend(lrs, np.where(f > 10, math.nan, noisy(f, seed, 0.05)))
    assert all(lr is None or lr < L_DIV for lr in rec.suggestions.values())
    assert rec.max_lr is not None and rec.max_lr < 10**X_MIN
    assert BEST / 4 <= rec.max_lr <= BEST * 4


def test_recommend_on_a_clean_curve():
    lrs = np.logspace(-6, 0, 100)
    y = noisy(sigmoid_curve(np.log10(lrs), x_div=-1.0), 0, 0.05)
    rec = recommend(lrs, y, div_factor=25)
    # a fall to a floor 1.5 decades long before the explosion: the plateau cap binds, and says so
    assert rec.confidence == "high" and len(rec.notes) == 1 and "flattens" in rec.notes[0]
    assert rec.min_lr == pytest.approx(rec.max_lr / 25) and rec.div_factor == 25
    answers = [v for v in rec.suggestions.values() if v is not None]
    assert len(answers) == len(RULE_NAMES)
    assert rec.max_lr == pytest.approx(expected_max_lr(lrs, y, rec.lr_at_minimum))
    assert rec.max_lr < rec.lr_at_minimum / MARGIN
    assert max(answers) < rec.lr_at_minimum
    assert rec.spread == pytest.approx(span_of(rec)) and rec.spread <= SPREAD_HIGH


def span_of(rec):
    """The decades between the lowest and the highest of max_lr and the rules' answers."""
    lrs = [lr for lr in (rec.max_lr, *rec.suggestions.values()) if lr is not None]
    return math.log10(max(lrs) / min(lrs))


@pytest.mark.parametrize(("x_div", "confidence"), [(-1.5, "high"), (-1.0, "medium")])
def test_confidence_counts_max_lr_among_the_answers(x_div, confidence):
    """A fall around 1e-3 over about 2 decades, diverging at 10**x_div. The later divergence moves the minimum, and
    max_lr with it, to 0.17 decades above the highest rule: the rules alone agree within 0.91 decades (a spread
    that once gave high confidence), max_lr and the rules within 1.08, past SPREAD_HIGH: medium, with a note."""
    lrs = np.logspace(-6, 0, 100)
    x = np.log10(lrs)
    rec = recommend(lrs, 2.3 - 2.0 / (1.0 + np.exp(-(x + 3.0) / 0.5)) + np.exp((x - x_div) / 0.15))
    answers = [lr for lr in rec.suggestions.values() if lr is not None]
    assert len(answers) == len(RULE_NAMES) and math.log10(max(answers) / min(answers)) < SPREAD_HIGH
    assert rec.spread == pytest.approx(span_of(rec)) and rec.confidence == confidence
    above = math.log10(rec.max_lr / max(answers))
    assert above > 0 and (rec.spread > SPREAD_HIGH) == (confidence == "medium")
    note = (f"medium confidence: max_lr and the rules' answers span {rec.spread:.1f} decades of lr; max_lr lies "
            f"{above:.2f} decades above the highest (drop_fraction {max(answers):.3g})")
    assert (note in rec.notes) == (confidence == "medium")
    assert f"spread: {rec.spread:.2f} decades of lr between max_lr and the rules' answers" in str(rec)


@pytest.mark.parametrize("drop", [0.04, 0.09, 0.12, 0.5, 2.0])
def test_recommend_flags_a_shallow_curve_without_moving_max_lr(drop):
    """The fall is the smoothed loss's drop before its minimum over its starting value: below SHALLOW_FALL the
    network barely trained, confidence is low and a note says so; max_lr follows the same rule either way."""
    lrs = np.logspace(-5, 1, 100)
    x = np.log10(lrs)
    y = 2.3 - drop / (1.0 + np.exp(-(x + 1.5) / 0.3)) + np.exp((x - 0.0) / 0.15)
    rec = recommend(lrs, y)
    assert rec.fall == pytest.approx((2.3 - min(y)) / 2.3, abs=0.02)  # smoothing rounds the bottom off
    shallow = drop / 2.3 < SHALLOW_FALL
    assert rec.shallow == shallow
    assert any("fell only" in note for note in rec.notes) == shallow
    if shallow:
        assert rec.confidence == "low" and f"fell only {rec.fall:.0%}" in str(rec)
    assert rec.max_lr == pytest.approx(expected_max_lr(lrs, y, rec.lr_at_minimum))


@pytest.mark.parametrize(
    ("shift", "drop", "shallow"),
    [
        (0.0, 0.05, True), (0.0, 1.0, False),  # losses > 0: the fraction of the starting value
        (-3.0, 0.05, True), (-30.0, 0.05, True), (-30.0, 1.0, True),  # below zero: relative to their size
        (-3.0, 1.0, False),
        (-2.3, 0.05, False),  # from zero: any fall is the whole of the starting size
    ],
)
def test_the_shallow_check_holds_for_losses_at_or_below_zero(shift, drop, shallow):
    """The fall is (start - minimum) / max(|start|, |minimum|) of the smoothed loss: the fraction of the
    starting value for losses >= 0, and relative to the losses' size (measured from zero) for any finite
    losses, so the shallow check is made on every curve."""
    lrs = np.logspace(-5, 1, 100)
    x = np.log10(lrs)
    y = 2.3 - drop / (1.0 + np.exp(-(x + 1.5) / 0.3)) + np.exp((x - 0.0) / 0.15) + shift
    rec = recommend(lrs, y)
    start, bottom = y[0], min(y)
    assert rec.max_lr is not None
    assert rec.fall == pytest.approx((start - bottom) / max(abs(start), abs(bottom)), abs=0.02)
    assert rec.shallow == shallow == (rec.fall < SHALLOW_FALL)
    assert (rec.confidence == "low") == shallow and any("fell only" in n for n in rec.notes) == shallow


def test_relative_fall_on_exact_numbers():
    assert relative_fall([2.0, 1.0, 0.5], 2) == 0.75
    assert relative_fall([-1.0, -2.0, -4.0], 2) == 0.75  # a loss below zero: from -1 to -4
    assert relative_fall([1.0, 0.0, -1.0], 2) == 2.0  # across zero: the most a fall can be
    assert relative_fall([0.0, -1.0], 1) == 1.0 and relative_fall([0.0, 0.0], 1) == 0.0
    assert relative_fall([3.0, 1.0], 1) == relative_fall([3e-9, 1e-9], 1)  # unchanged by scaling


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(-1e6, 1e6), min_size=1, max_size=30), st.data())
def test_relative_fall_is_between_zero_and_two(values, data):
    i_min = int(np.argmin(values))
    assert 0.0 <= relative_fall(values, i_min) <= 2.0


def test_recommend_not_diverged_lowers_confidence_and_says_so():
    lrs = np.logspace(-6, 0, 100)
    y = noisy(sigmoid_curve(np.log10(lrs), x_div=-1.0), 0, 0.05)
    assert recommend(lrs, y, diverged=True).confidence == "high"
    rec = recommend(lrs, y, diverged=False)
    assert rec.confidence == "medium"
    assert any("never diverged" in note for note in rec.notes)


def test_recommend_curve_still_falling_at_the_end():
    lrs = np.logspace(-6, 0, 100)
    rec = recommend(lrs, sigmoid_curve(np.log10(lrs), x_c=-1.5), diverged=False)
    assert rec.max_lr is not None and rec.max_lr < lrs[-1]
    assert rec.confidence != "high"
    assert any("last point" in note for note in rec.notes)


@pytest.mark.parametrize(
    "losses",
    [
        pytest.param(lambda x: np.full(len(x), 2.0), id="constant"),
        pytest.param(lambda x: 2.0 + np.exp(x + 2), id="rising"),
    ],
)
def test_recommend_curve_that_never_falls(losses):
    lrs = np.logspace(-6, 0, 100)
    rec = recommend(lrs, losses(np.log10(lrs)))
    assert rec.max_lr is None and rec.min_lr is None and rec.confidence == "low"
    assert all(v is None for v in rec.suggestions.values())
    assert any("never falls" in note for note in rec.notes)


@pytest.mark.parametrize(("diverged", "advice"), [
    (True, "the loss never falls: the range starts too high (start it lower), or the model does not learn"),
    (False, "the loss neither falls nor diverges up to the last lr tested, 10: the range lies too low, or the model "
            "does not learn"),
])
def test_a_curve_that_never_falls_is_advised_by_whether_it_diverged(diverged, advice):
    """A flat curve that diverged started too high; one that never diverged either lies too low."""
    lrs = np.logspace(-5, 1, 100)
    rec = recommend(lrs, np.full(100, 2.0), diverged=diverged)
    assert rec.max_lr is None and advice in rec.notes


def _sigmoid_over(start_exponent, n=100):
    lrs = np.logspace(start_exponent, -0.7, n)
    return lrs, noisy(sigmoid_curve(np.log10(lrs), x_div=-1.0), 0, 0.02)


@pytest.mark.parametrize(("start_exponent", "n", "window"), [(-30, 100, 15), (-20, 100, 15), (-12, 20, 5)])
def test_a_coarse_curve_is_low_confidence_and_says_what_to_change(start_exponent, n, window):
    """The same fall tested over 29 decades in 100 steps: the smoothing window (15 points) spans 4.1 decades around
    the minimum, which blurs the fall: confidence is low and a note says to narrow the range (a window of the
    fewest points, 5, narrows with more steps too)."""
    lrs, y = _sigmoid_over(start_exponent, n)
    rec = recommend(lrs, y)
    assert rec.confidence == "low"
    per_decade = (n - 1) / (-0.7 - start_exponent)
    span = (window - 1) / per_decade
    assert span > COARSE_SPAN
    more = " or take more steps" if window == 5 else ""
    note = (f"low confidence: {per_decade:.2g} points per decade of lr: the smoothing averages over {span:.1f} decades "
            f"around the minimum (more than {COARSE_SPAN:g} blurs the fall); test a narrower range{more}")
    assert note in rec.notes


@pytest.mark.parametrize("start_exponent", [-6, -9])
def test_a_curve_of_enough_points_per_decade_is_not_coarse(start_exponent):
    lrs, y = _sigmoid_over(start_exponent)
    rec = recommend(lrs, y)
    assert rec.confidence != "low" and not any("points per decade" in note for note in rec.notes)


def test_a_coarse_curve_that_never_falls_says_so_rather_than_that_it_starts_too_high():
    """A fall that the points step over (0.33 points per decade): no rule answers, and the advice is the resolution,
    not where the range starts."""
    lrs = np.logspace(-299, 1, 100)
    y = np.where(lrs < 1e-2, 2.3, 0.5)
    y[-1] = 20.0
    rec = recommend(lrs, y)
    assert rec.max_lr is None
    assert any(note.startswith("the loss never falls at this resolution: 0.33 points per decade of lr") and
               note.endswith("test a narrower range") for note in rec.notes)
    assert not any("too high" in note for note in rec.notes)


@pytest.mark.parametrize(("start_exponent", "started_high"), [(-6, False), (-4, False), (-3.5, True), (-3, True),
                                                           (-2.5, True)])
def test_a_curve_started_inside_the_fall_is_low_confidence_and_says_start_lower(start_exponent, started_high):
    """The loss falls around 1e-3 (over about 1.5 decades): a test started half a decade before its middle or later
    begins inside the fall, which its slope at the first point shows (at least START_SLOPE of the steepest)."""
    lrs = np.logspace(start_exponent, -0.7, 100)
    y = noisy(sigmoid_curve(np.log10(lrs), x_div=-1.0), 0, 0.02)
    rec = recommend(lrs, y)
    assert rec.max_lr is not None
    notes = [note for note in rec.notes if "started inside the fall" in note]
    assert bool(notes) == started_high
    if started_high:
        assert rec.confidence == "low"
        assert re.fullmatch(rf"low confidence: the loss falls from the first lr \({lrs[0]:.3g}\) on, \d+% as steeply "
                            "as at its steepest: the range test started inside the fall, too high; start it lower",
                            notes[0])
    else:
        assert rec.confidence != "low"


@pytest.mark.parametrize("n", [0, 1, 4])
def test_recommend_too_few_finite_points(n):
    """A curve cut short by a non-finite loss (the test diverged early) gives no answer, with a note."""
    lrs = np.logspace(-4, -1, 20)
    losses = np.r_[2.0 - np.log10(lrs[:n]), np.full(20 - n, math.nan)]
    rec = recommend(lrs, losses)
    assert rec.max_lr is None and rec.confidence == "low"
    assert any(f"too few points: {n} finite" in note for note in rec.notes)


def test_recommend_few_points_is_coarse():
    lrs = np.logspace(-6, 0, 12)
    rec = recommend(lrs, sigmoid_curve(np.log10(lrs), x_div=-1.0))
    assert rec.max_lr is not None
    assert rec.confidence != "high" and any("coarse" in note for note in rec.notes)


def test_recommend_notes_a_cut_curve():
    lrs = np.logspace(-6, 0, 100)
    y = sigmoid_curve(np.log10(lrs), x_div=-1.0)
    y[90:] = math.inf
    rec = recommend(lrs, y)
    assert rec.max_lr == recommend(lrs[:90], y[:90]).max_lr
    assert any("non-finite" in note and "90" in note for note in rec.notes)


def test_recommend_low_confidence_when_rules_disagree():
    lrs = np.logspace(-6, 0, 200)
    x = np.log10(lrs)
    # a sharp early drop (steepest, valley) then a long slow fall to a late minimum (minimum_div10)
    y = 3.0 - 2.0 / (1.0 + np.exp(-(x + 5.0) / 0.1)) - 0.8 * (x + 6.0) / 5.5 + np.exp((x + 0.3) / 0.1)
    rec = recommend(lrs, y)
    assert rec.spread == pytest.approx(span_of(rec)) and rec.spread > 2.0 and rec.confidence == "low"
    assert f"low confidence: max_lr and the rules' answers span {rec.spread:.1f} decades of lr" in rec.notes
    # steepest and valley sit at the early drop; max_lr follows the minimum, not them. 80% of the fall is done
    # at the early drop, so the plateau cap binds, but it stops at the minimum / PLATEAU_LIMIT.
    assert rec.suggestions["steepest"] < 1e-4 and rec.suggestions["valley"] < 1e-4
    assert PLATEAU_FACTOR * drop_fraction(lrs, y, PLATEAU_FRACTION) < rec.lr_at_minimum / PLATEAU_LIMIT
    assert rec.max_lr == pytest.approx(rec.lr_at_minimum / PLATEAU_LIMIT)
    assert any("flattens" in note for note in rec.notes)


def test_recommend_minimum_near_the_first_lr_gives_no_answer_below_the_range():
    lrs = np.logspace(-3, 0, 60)
    rec = recommend(lrs, 1.0 + 10.0 * (np.log10(lrs) + 2.8) ** 2, margin=3.0)
    assert rec.lr_at_minimum / 3.0 < lrs[0]  # the rule's answer would lie below the tested range
    assert rec.max_lr is None and rec.min_lr is None and rec.confidence == "low"
    assert rec.suggestions["minimum_div10"] is None and rec.suggestions["steepest"] is not None
    assert any("below the tested range: no recommendation; start the range test lower" in note
               for note in rec.notes)


_CURVE = np.logspace(-5, 1, 50)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"frac": 0.0}, "frac must be a number in"),
        ({"frac": 1.5}, "frac must be a number in"),
        ({"frac": math.nan}, "frac must be a number in"),
        ({"frac": "0.1"}, "frac must be a number in"),
        ({"frac": True}, "frac must be a number in"),
        ({"diverged": 57}, "diverged must be True or False"),
        ({"diverged": "yes"}, "diverged must be True or False"),
        ({"diverged": None}, "diverged must be True or False"),
        ({"diverged": 1.0}, "diverged must be True or False"),
        ({"div_factor": True}, "div_factor"),
        ({"losses": np.ones(49)}, "same length"),
        ({"lrs": np.r_[_CURVE[:-1], math.inf]}, "finite"),
        ({"lrs": np.r_[_CURVE[:-1], math.nan]}, "finite"),
        ({"lrs": _CURVE[::-1]}, "increasing"),
        ({"lrs": np.r_[_CURVE[:10], _CURVE[9:49]]}, "increasing"),
        ({"lrs": _CURVE[:3], "losses": np.ones(3)}, "at least 5 points"),
        ({"lrs": [], "losses": []}, "at least 5 points"),
        ({"lrs": "abc", "losses": "abc"}, r"^lrs must be a sequence of real numbers \(a list or an array\), got 'abc'"),
        ({"losses": "abc"}, r"^losses must be a sequence of real numbers \(a list or an array\), got 'abc'$"),
        ({"lrs": _CURVE + 1j}, r"^lrs must be a sequence of real numbers \(a list or an array\), got array\(\["),
        ({"losses": [complex(v) for v in range(50)]}, r"^losses must be a sequence of real numbers .*, got \[0j, "),
        ({"lrs": (v for v in _CURVE)}, r"^lrs must be a sequence of real numbers .*, got <generator object"),
        ({"lrs": dict(enumerate(_CURVE))}, r"^lrs must be a sequence of real numbers .*, got \{0: "),
        ({"lrs": set(_CURVE)}, r"^lrs must be a sequence of real numbers .*, got \{"),
        ({"lrs": None}, r"^lrs must be a sequence of real numbers .*, got None$"),
        ({"lrs": [*_CURVE[:49], "1"]}, r"^lrs must be a sequence of real numbers .*, got \["),
        ({"lrs": [*_CURVE[:49], None]}, r"^lrs must be a sequence of real numbers .*, got \["),
        ({"lrs": [*_CURVE[:49], True]}, r"^lrs must be a sequence of real numbers .*, got \["),
        ({"lrs": [[1.0, 2.0], [3.0]]}, r"^lrs must be a sequence of real numbers .*, got \[\[1.0, 2.0\], \[3.0\]\]$"),
        ({"lrs": [list(_CURVE)]}, r"^lrs must be one-dimensional, got shape \(1, 50\)$"),
        ({"lrs": np.array([_CURVE])}, r"^lrs must be one-dimensional, got shape \(1, 50\)$"),
        ({"lrs": np.ones(50, dtype=bool)}, r"^lrs must be a sequence of real numbers .*, got array\(\[ True"),
        ({"div_factor": "10"}, r"^div_factor must be a finite number >= 1, got '10'$"),
    ],
)
def test_recommend_refuses_each_bad_argument_with_one_value_error(kwargs, match):
    args = {"lrs": _CURVE, "losses": quadratic_valley(np.log10(_CURVE)), **kwargs}
    with pytest.raises(ValueError, match=match):
        recommend(**args)


_ANY_FLOAT = st.floats(allow_nan=False, allow_infinity=False, width=64)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(_ANY_FLOAT, st.floats(1e-8, 1e3)), max_size=40).map(sorted), st.data())
def test_recommend_on_any_finite_curve_answers_inside_the_tested_range_or_raises(lrs, data):
    """Any finite lrs (sorted or not, positive or not, distinct or not) and finite losses: a ValueError, or a
    max_lr that is None or inside [lrs[0], lrs[-1]]."""
    if data.draw(st.booleans()):
        lrs = data.draw(st.permutations(lrs))
    losses = data.draw(st.lists(_ANY_FLOAT, min_size=len(lrs), max_size=len(lrs)))
    try:
        rec = recommend(lrs, losses, diverged=data.draw(st.booleans()))
    except ValueError:
        return
    assert rec.max_lr is None or lrs[0] <= rec.max_lr <= lrs[-1]
    assert (rec.min_lr is None) == (rec.max_lr is None)


def test_unanswered_has_no_answer_and_keeps_the_notes():
    rec = unanswered(["why"], 25.0)
    assert (rec.max_lr, rec.min_lr, rec.confidence, rec.notes, rec.div_factor) == (None, None, "low", ["why"], 25.0)
    assert set(rec.suggestions) == set(RULE_NAMES) and not any(rec.suggestions.values())


def test_recommend_validates_div_factor():
    lrs = np.logspace(-6, 0, 100)
    for bad in (0.5, 0.0, -1.0, math.inf, math.nan):
        with pytest.raises(ValueError, match="div_factor"):
            recommend(lrs, sigmoid_curve(np.log10(lrs)), div_factor=bad)


# ------------------------------------------------------------------------------------ dict round trip


def test_recommendation_dict_round_trip():
    lrs = np.logspace(-6, 0, 100)
    rec = recommend(lrs, sigmoid_curve(np.log10(lrs), x_div=-1.0), diverged=False)
    d = json.loads(json.dumps(rec.to_dict(), allow_nan=False))
    assert set(d) >= {"max_lr", "min_lr", "suggestions", "confidence", "spread", "notes"}
    assert isinstance(d["max_lr"], float) and d["notes"] == rec.notes
    back = Recommendation.from_dict(d)
    assert back == rec and isinstance(back.max_lr, float)
    d["suggestions"]["valley"] = 1  # ints from hand-written JSON come back as floats
    assert isinstance(Recommendation.from_dict(d).suggestions["valley"], float)


def test_recommendation_from_dict_rejects_bad_dicts():
    d = Recommendation(1e-3, 1e-4, {"valley": 1e-3}, "high", 0.1).to_dict()
    with pytest.raises(ValueError, match="unknown"):
        Recommendation.from_dict({**d, "extra": 1})
    with pytest.raises(ValueError, match="missing"):
        Recommendation.from_dict({k: v for k, v in d.items() if k != "max_lr"})
    with pytest.raises(ValueError, match="confidence"):
        Recommendation.from_dict({**d, "confidence": "certain"})


@pytest.mark.parametrize(("change", "message"), [
    ({"max_lr": "abc"}, "where.max_lr must be a finite number > 0 or null, got 'abc'"),
    ({"max_lr": math.nan}, "where.max_lr must be a finite number > 0 or null, got nan"),
    ({"max_lr": -1}, "where.max_lr must be a finite number > 0 or null, got -1"),
    ({"max_lr": {}}, r"where.max_lr must be a finite number > 0 or null, got \{\}"),
    ({"max_lr": [1e-3]}, r"where.max_lr must be a finite number > 0 or null, got \[0.001\]"),
    ({"min_lr": True}, "where.min_lr must be a finite number > 0 or null, got True"),
    ({"suggestions": None}, "where.suggestions must be an object, got None"),
    ({"suggestions": {"valley": "1e-3"}}, "where.suggestions.valley must be a finite number > 0 or null"),
    ({"spread": -0.5}, "where.spread must be a finite number >= 0 or null, got -0.5"),
    ({"notes": [1]}, r"where.notes\[0\] must be a string, got 1"),
    ({"div_factor": 0.5}, "where.div_factor must be a finite number >= 1, got 0.5"),
    ({"repeats": "2"}, "where.repeats must be an integer >= 1, got '2'"),
    ({"fall": math.inf}, "where.fall must be a finite number from 0 to 2 or null, got inf"),
    ({"fall": -0.1}, "where.fall must be a finite number from 0 to 2 or null, got -0.1"),
    ({"fall": 2.5}, "where.fall must be a finite number from 0 to 2 or null, got 2.5"),
    ({"suggestions": {"valley": 1e-3, "guess": 1e-3}}, r"^where.suggestions has unknown key\(s\) 'guess' \(expected "
                                                        r"drop_fraction, minimum_div10, steepest, valley\)$"),
    ({"min_lr": 1e-2}, r"^where.min_lr is 0.01, but max_lr / div_factor is 0.001 / 10 = 0.0001: min_lr must be "
                       r"max_lr / div_factor$"),
    ({"min_lr": 2e-4}, r"^where.min_lr is 0.0002, but max_lr / div_factor is 0.001 / 10 = 0.0001"),
    ({"div_factor": 25}, r"^where.min_lr is 0.0001, but max_lr / div_factor is 0.001 / 25 = 4e-05"),
    ({"min_lr": None}, r"^where.max_lr and where.min_lr must both be numbers or both null \(no recommendation\), "
                       "got 0.001 and None$"),
    ({"max_lr": None}, r"^where.max_lr and where.min_lr must both be numbers or both null"),
    ({"max_lr": None, "min_lr": None}, r"^where.confidence is high, but where.max_lr is null: no recommendation is "
                                       "low confidence$"),
    ({"confidence": None}, "where.confidence must be one of low, medium, high, got None"),
    ({"confidence": ["high"]}, r"where.confidence must be one of low, medium, high, got \['high'\]"),
    ({"confidence": {"a": 1}}, "where.confidence must be one of low, medium, high, got"),
])
def test_recommendation_from_dict_names_the_bad_key(change, message):
    d = Recommendation(1e-3, 1e-4, {"valley": 1e-3}, "high", 0.1).to_dict()
    with pytest.raises(ValueError, match=message):
        Recommendation.from_dict({**d, **change}, "where")
    with pytest.raises(ValueError, match="recommendation must be an object, got"):
        Recommendation.from_dict([d])


def test_recommendation_from_dict_takes_what_recommend_and_combine_give():
    """Every recommendation the library makes reads back: min_lr is max_lr / div_factor to the last bit or within
    rounding, a fall lies from 0 to MAX_FALL, and one without max_lr is low confidence."""
    lrs = np.logspace(-6, 0, 100)
    made = [recommend(lrs, sigmoid_curve(np.log10(lrs), x_div=-1.0), div_factor=3.7),
            recommend(lrs, np.full(100, 2.0)), unanswered(["why"]), combine([rec_with(1e-3), rec_with(3e-3)]),
            Recommendation(0.3, 0.3 / 7, {}, "high", None, div_factor=7.0, fall=MAX_FALL)]
    for rec in made:
        assert Recommendation.from_dict(json.loads(json.dumps(rec.to_dict()))) == rec


def test_recommendation_prints_as_lines_a_person_reads():
    rec = Recommendation(0.149, 0.0149, {"valley": 0.028, "steepest": None}, "high", 0.62,
                         notes=["the loss flattens"], lr_at_minimum=0.27)
    assert str(rec).splitlines() == [
        "recommended max_lr 0.149 (1cycle from min_lr 0.0149), high confidence",
        "rules: valley 0.028, steepest -",
        "spread: 0.62 decades of lr between max_lr and the rules' answers",
        "smoothed minimum at lr 0.27",
        "note: the loss flattens",
    ]
    combined = combine([rec_with(1e-3), rec_with(2e-3)])
    assert "from 2 range tests" in str(combined).splitlines()[0]
    assert "decades of lr between max_lr across 2 range tests" in str(combined)
    none = Recommendation(None, None, {"valley": None}, "low", None, notes=["too few points"])
    assert str(none).splitlines() == ["no recommendation: the curve gives no answer", "rules: valley -",
                                      "note: too few points"]


# --------------------------------------------------------------------------------------------------- combine


def rec_with(max_lr, confidence="high", valley_lr=None, notes=()):
    return Recommendation(
        max_lr=max_lr,
        min_lr=None if max_lr is None else max_lr / 10,
        suggestions={"valley": valley_lr},
        confidence=confidence,
        spread=0.5,
        notes=list(notes),
        lr_at_minimum=None if max_lr is None else max_lr * 10,
    )


def test_combine_takes_the_median_and_the_spread_across_repeats():
    repeats = [rec_with(1e-3, valley_lr=1e-3), rec_with(4e-3, valley_lr=None), rec_with(2e-3, valley_lr=4e-3)]
    c = combine(repeats)
    assert c.max_lr == pytest.approx(2e-3) and c.min_lr == pytest.approx(2e-4)
    assert c.spread == pytest.approx(math.log10(4))
    assert c.confidence == "medium"
    assert c.suggestions["valley"] == pytest.approx(2e-3)  # geometric median of the answers only
    assert c.lr_at_minimum == pytest.approx(2e-2)
    assert c.repeats == 3


def test_combine_takes_the_median_fall():
    from dataclasses import replace

    repeats = [replace(rec_with(1e-3), fall=f) for f in (0.05, 0.5, None, 0.6)]
    assert combine(repeats).fall == pytest.approx(0.5)
    assert combine([rec_with(1e-3)]).fall is None
    assert Recommendation.from_dict(repeats[0].to_dict()).fall == 0.05


def test_combine_confidence_follows_agreement():
    assert combine([rec_with(1e-3), rec_with(1.2e-3), rec_with(1.4e-3)]).confidence == "high"
    far = combine([rec_with(1e-4), rec_with(1e-3), rec_with(1e-2)])
    assert far.confidence == "low" and far.spread == pytest.approx(2.0)
    assert any("across repeats" in note for note in far.notes)
    # never above the (lower) median confidence of the repeats
    assert combine([rec_with(1e-3, "low"), rec_with(1e-3, "medium"), rec_with(1e-3)]).confidence == "medium"
    assert combine([rec_with(1e-3, "low"), rec_with(1e-3)]).confidence == "low"


def test_combine_repeats_without_an_answer():
    c = combine([rec_with(None, "low"), rec_with(None, "low"), rec_with(1e-3)])
    assert c.max_lr == pytest.approx(1e-3) and c.confidence == "low"
    assert any("1 of 3" in note for note in c.notes)
    none = combine([rec_with(None, "low"), rec_with(None, "low")])
    assert none.max_lr is None and none.min_lr is None and none.confidence == "low"


def test_combine_keeps_notes_once_with_counts():
    c = combine([rec_with(1e-3, notes=["a", "b"]), rec_with(1e-3, notes=["a"])])
    assert c.notes[:2] == ["a", "(1 of 2) b"]


def test_combine_validates():
    with pytest.raises(ValueError, match="at least one"):
        combine([])
    other = Recommendation(1e-3, 1e-4, {}, "high", None, div_factor=25.0)
    with pytest.raises(ValueError, match="div_factor"):
        combine([rec_with(1e-3), other])
    for bad, message in [([1, 2], r"recommendations\[0\] must be a Recommendation, got 1"),
                         ([rec_with(1e-3), {"max_lr": 1e-3}], r"recommendations\[1\] must be a Recommendation, got \{"),
                         (None, "recommendations must be a sequence of Recommendation, got None"),
                         ("abc", "recommendations must be a sequence of Recommendation, got 'abc'")]:
        with pytest.raises(ValueError, match=f"^{message}"):
            combine(bad)


def test_recommend_takes_arrays_of_any_real_dtype_and_tensors():
    """Real numbers in any container numpy reads as numbers (float32, ints, a tuple, a torch tensor) give the same
    answer as a list of floats."""
    import torch

    lrs = np.logspace(-6, 0, 100)
    y = sigmoid_curve(np.log10(lrs), x_div=-1.0)
    expected = recommend(list(lrs), list(y))
    assert recommend(tuple(lrs), torch.tensor(y)) == expected
    assert recommend(lrs, np.array([float(v) for v in y], dtype=object)) == expected
    assert recommend(lrs.astype(np.float32), y).max_lr == pytest.approx(expected.max_lr, rel=1e-5)


def test_combine_noisy_repeats_of_one_curve():
    lrs = np.logspace(-6, 0, 100)
    f = sigmoid_curve(np.log10(lrs), x_div=-1.0)
    recs = [recommend(lrs, noisy(f, seed, 0.08)) for seed in range(5)]
    c = combine(recs)
    values = sorted(r.max_lr for r in recs)
    assert c.max_lr == pytest.approx(values[2])
    assert c.spread < 0.3 and c.confidence == "high" and c.repeats == 5
    assert Recommendation.from_dict(json.loads(json.dumps(c.to_dict()))) == c


def test_plateau_cap_binds_on_a_long_flat_floor_only():
    lrs = np.logspace(-6, 1, 150)
    x = np.log10(lrs)
    # V-shaped bottom: the fall ends at the minimum, the cap stays out of the way.
    v = recommend(lrs, quadratic_valley(x))
    assert v.max_lr == pytest.approx(v.lr_at_minimum / MARGIN)
    assert not any("flattens" in note for note in v.notes)
    # A fall to a floor at 1e-4, flat for three decades, then a slight dip before the explosion at 0.3:
    # the smoothed minimum sits at the far end of the floor, where an lr / MARGIN can already diverge.
    floor = sigmoid_curve(x, x_c=-3.0, width=0.15) - 0.02 * np.clip(x + 1.5, 0, None) + np.exp((x + 0.5) / 0.1)
    rec = recommend(lrs, floor)
    cap = PLATEAU_FACTOR * drop_fraction(lrs, floor, PLATEAU_FRACTION)
    assert rec.lr_at_minimum > 1e-2 and rec.lr_at_minimum / PLATEAU_LIMIT < cap < rec.lr_at_minimum / MARGIN
    assert rec.max_lr == pytest.approx(cap) and rec.min_lr == pytest.approx(cap / 10)
    assert any("flattens" in note for note in rec.notes)
    # A floor five decades long: the cap stops at the minimum / PLATEAU_LIMIT, and never raises max_lr above
    # the minimum / margin when the margin is the larger divisor.
    deep = sigmoid_curve(x, x_c=-5.0, width=0.1) - 0.02 * np.clip(x + 1.5, 0, None) + np.exp((x + 0.5) / 0.1)
    rec = recommend(lrs, deep)
    assert PLATEAU_FACTOR * drop_fraction(lrs, deep, PLATEAU_FRACTION) < rec.lr_at_minimum / PLATEAU_LIMIT
    assert rec.max_lr == pytest.approx(rec.lr_at_minimum / PLATEAU_LIMIT)
    strict = recommend(lrs, deep, margin=2 * PLATEAU_LIMIT)
    assert strict.max_lr == pytest.approx(strict.lr_at_minimum / (2 * PLATEAU_LIMIT))
    assert not any("flattens" in note for note in strict.notes)


@pytest.mark.parametrize("margin", [1.0, 1.5, 2.0, 5.0, 20.0])
def test_margin_divides_the_smoothed_minimum(margin):
    lrs = np.logspace(-6, 1, 150)
    y = quadratic_valley(np.log10(lrs))
    rec = recommend(lrs, y, margin=margin)
    expected = expected_max_lr(lrs, y, rec.lr_at_minimum, margin)
    assert rec.max_lr == pytest.approx(expected)
    assert (expected < rec.lr_at_minimum / margin) == any("flattens" in note for note in rec.notes)
    if margin >= MARGIN:
        assert rec.max_lr == pytest.approx(rec.lr_at_minimum / margin)


@pytest.mark.parametrize("margin", [0.5, 0.0, -1.0, math.nan, math.inf, "2"])
def test_bad_margin_is_named(margin):
    with pytest.raises(ValueError, match="margin"):
        recommend(np.logspace(-5, 0, 50), np.linspace(2.0, 1.0, 50), margin=margin)


def test_recommendation_says_how_the_schedule_it_is_for_uses_it():
    rec = Recommendation(0.149, 0.0149, {"valley": 0.028}, "high", None)
    headlines = {name: rec.describe(name).splitlines()[0] for name in POLICIES}
    assert headlines == {
        "onecycle": "recommended max_lr 0.149 (1cycle from min_lr 0.0149), high confidence",
        "step": "recommended max_lr 0.149 (step decay), high confidence",
        "linear": "recommended max_lr 0.149 (warm-up from 0.0149, then linear to zero), high confidence",
        "cosine": "recommended max_lr 0.149 (warm-up from 0.0149, then cosine to zero), high confidence",
        "constant": "recommended max_lr 0.149 (constant), high confidence",
    }
    assert str(rec) == rec.describe("onecycle") and rec.describe("step").splitlines()[1:] == str(rec).splitlines()[1:]
    assert schedule_use("cosine", None) == POLICIES["cosine"]
    with pytest.raises(ValueError, match="schedule must be one of onecycle, step"):
        rec.describe("triangular")


@pytest.mark.parametrize(("smoothed", "best", "diverged"), [
    (4.0, 1.0, False), (4.001, 1.0, True),          # a positive best: factor x best
    (-99.0, -100.0, False), (-50.0, -100.0, False),  # below zero: a fall or a small rise is not divergence
    (199.0, -100.0, False), (201.0, -100.0, True),   # a rise of more than 3 x |best|
    (0.0, 0.0, False), (1e-9, 0.0, True),
])
def test_divergence_is_a_rise_of_factor_minus_one_times_the_size_of_the_best(smoothed, best, diverged):
    """The range test's and training's stop rule holds for losses that go below zero (it used to stop at the first
    step of any negative loss, since every value exceeds 4 x a negative best)."""
    assert has_diverged(smoothed, best) is diverged


@given(st.floats(0.01, 100), st.floats(0.01, 100), st.floats(1.01, 10))
def test_divergence_of_a_positive_best_is_exactly_factor_times_best(smoothed, best, factor):
    assert has_diverged(smoothed, best, factor) is (smoothed > factor * best)


@pytest.mark.parametrize(("smoothed", "best", "initial", "collapsed"), [
    (2.3, 1.0, 2.3, True), (2.29, 1.0, 2.3, False),   # back at the untrained loss, or just under it
    (2.3, 2.07, 2.3, False), (2.3, 2.06, 2.3, True),  # it must have learned first: best below 0.9 x initial
    (5.0, 1.0, None, False), (5.0, -1.0, -0.5, False),  # no first loss, or one that is not positive
])
def test_a_collapse_is_a_loss_back_at_the_untrained_one_after_it_had_learned(smoothed, best, initial, collapsed):
    assert has_collapsed(smoothed, best, initial) is collapsed


@given(st.floats(0.01, 100), st.floats(0.01, 100), st.floats(0.01, 100))
def test_a_collapse_needs_both_a_fall_and_a_return(smoothed, best, initial):
    assert has_collapsed(smoothed, best, initial) is (best < COLLAPSE_DROP * initial and smoothed >= initial)


def test_the_first_collapse_is_counted_against_the_lowest_before_it():
    #            0    1    2    3    4    5    6
    smoothed = [2.0, 1.9, 1.7, 2.1, 2.0, 1.0, 2.5]
    assert first_collapse(smoothed, 2.0) == 3  # 1.7 < 0.9 x 2 before it, then 2.1 >= 2 (index 0: no lowest yet)
    assert first_collapse(smoothed, 2.0, after=4) == 4
    assert first_collapse(smoothed, 2.0, after=5) == 6
    assert first_collapse(smoothed[:3], 2.0) is None and first_collapse(smoothed, None) is None
