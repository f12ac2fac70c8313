"""OneCycleScheduler and PolicyScheduler: torch conventions, per-group values, momentum keys, exact resume, AMP
skips, the baseline policies."""

import copy
import io
import warnings

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.optim.lr_scheduler import LRScheduler, OneCycleLR

from onecycle import OneCycleScheduler, PolicyScheduler, linear
from onecycle.scheduler import LEGACY_STATE
from onecycle.schedules import POLICIES, Restart, one_cycle, policy, restarted


def _model():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 1))


def _train_step(model, opt, x=None):
    x = torch.randn(16, 4) if x is None else x
    loss = model(x).pow(2).mean()
    opt.zero_grad()
    loss.backward()
    opt.step()


def test_is_a_torch_lr_scheduler_and_matches_onecyclelr_in_a_loop():
    kw = dict(max_lr=0.3, total_steps=50, pct_start=0.3, anneal_strategy="cos", three_phase=False,
              div_factor=25.0, final_div_factor=1e4)
    m1, m2 = _model(), _model()
    o1 = torch.optim.SGD(m1.parameters(), lr=0.1, momentum=0.9)
    o2 = torch.optim.SGD(m2.parameters(), lr=0.1, momentum=0.9)
    ours, theirs = OneCycleScheduler(o1, **kw), OneCycleLR(o2, **kw)
    assert isinstance(ours, LRScheduler)
    torch.manual_seed(1)
    for _ in range(50):
        assert o1.param_groups[0]["lr"] == theirs.get_last_lr()[0]
        assert o1.param_groups[0]["momentum"] == o2.param_groups[0]["momentum"]
        assert ours.get_last_lr() == theirs.get_last_lr()
        x = torch.randn(16, 4)
        _train_step(m1, o1, x)
        _train_step(m2, o2, x)
        ours.step()
        theirs.step()
    assert all(torch.equal(a, b) for a, b in zip(m1.parameters(), m2.parameters()))


def test_per_group_max_lr_and_momentum():
    model = _model()
    opt = torch.optim.SGD(
        [{"params": model[0].parameters()}, {"params": model[2].parameters()}], lr=1.0, momentum=0.9
    )
    sched = OneCycleScheduler(opt, max_lr=[0.1, 1.0], base_momentum=[0.8, 0.85], total_steps=100)
    cyc = [one_cycle(0.1, 100, base_momentum=0.8), one_cycle(1.0, 100)]
    for step in range(100):
        for group, c in zip(opt.param_groups, cyc):
            assert group["lr"] == c.lr(step)
            assert group["momentum"] == c.momentum(step)
        sched.step()
    with pytest.raises(ValueError, match="max_lr has 3 values but the optimizer has 2 param groups"):
        OneCycleScheduler(opt, max_lr=[0.1, 0.2, 0.3], total_steps=100)


@pytest.mark.parametrize("opt_cls", [torch.optim.Adam, torch.optim.AdamW, torch.optim.NAdam])
def test_adam_family_cycles_beta1_and_keeps_beta2(opt_cls):
    opt = opt_cls(_model().parameters(), lr=1e-3, betas=(0.9, 0.98))
    sched = OneCycleScheduler(opt, max_lr=1e-2, total_steps=40)
    cyc = one_cycle(1e-2, 40)
    for step in range(40):
        beta1, beta2 = opt.param_groups[0]["betas"]
        assert beta1 == cyc.momentum(step) and beta2 == 0.98
        assert "momentum" not in opt.param_groups[0]
        sched.step()


def test_optimizer_without_momentum_warns_once_and_schedules_lr():
    opt = torch.optim.Adagrad(_model().parameters(), lr=0.1)
    with pytest.warns(UserWarning, match="neither 'momentum' nor 'betas'") as record:
        sched = OneCycleScheduler(opt, max_lr=0.5, total_steps=20)
        for _ in range(10):
            sched.step()
    assert sum("neither" in str(w.message) for w in record) == 1
    assert opt.param_groups[0]["lr"] == one_cycle(0.5, 20).lr(10)


def test_cycle_momentum_off_leaves_momentum_alone():
    opt = torch.optim.SGD(_model().parameters(), lr=0.1, momentum=0.7)
    sched = OneCycleScheduler(opt, max_lr=0.5, total_steps=20, cycle_momentum=False)
    for _ in range(5):
        sched.step()
    assert opt.param_groups[0]["momentum"] == 0.7


def test_extra_schedules_for_other_keys():
    opt = torch.optim.SGD(_model().parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)
    wd = linear(1e-4, 1e-5, 10)
    sched = OneCycleScheduler(opt, max_lr=0.5, total_steps=20, schedules={"weight_decay": wd})
    for step in range(15):
        assert opt.param_groups[0]["weight_decay"] == wd(step)
        sched.step()
    with pytest.raises(ValueError, match="weight_decay"):
        OneCycleScheduler(opt, max_lr=0.5, total_steps=20, schedules={"weight_decay": [wd, wd]})


def _run(steps, sched_state=None, opt_state=None, model_state=None, first_step=0):
    """Train ``steps`` steps from a fresh or restored state; return the trace and the states."""
    model = _model()
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, nesterov=True)
    sched = OneCycleScheduler(opt, max_lr=0.2, total_steps=60)
    if model_state is not None:
        model.load_state_dict(model_state)
        opt.load_state_dict(opt_state)
        sched.load_state_dict(sched_state)
    trace = []
    for step in range(first_step, first_step + steps):
        trace.append((opt.param_groups[0]["lr"], opt.param_groups[0]["momentum"]))
        _train_step(model, opt, torch.randn(16, 4, generator=torch.Generator().manual_seed(step)))
        sched.step()
    return trace, model, opt, sched


def test_resume_reproduces_the_uninterrupted_sequence_exactly():
    full, model_full, *_ = _run(60)
    first, model, opt, sched = _run(23)
    buf = io.BytesIO()
    torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "sched": sched.state_dict()}, buf)
    buf.seek(0)
    ckpt = torch.load(buf, weights_only=True)
    rest, model_resumed, *_ = _run(37, ckpt["sched"], ckpt["opt"], ckpt["model"], first_step=23)
    assert first + rest == full
    assert all(torch.equal(a, b) for a, b in zip(model_full.parameters(), model_resumed.parameters()))


def test_load_state_dict_rebuilds_the_saved_settings():
    opt = torch.optim.SGD(_model().parameters(), lr=0.1, momentum=0.9)
    a = OneCycleScheduler(opt, max_lr=0.7, total_steps=30)
    for _ in range(12):
        a.step()
    b = OneCycleScheduler(torch.optim.SGD(_model().parameters(), lr=0.1, momentum=0.9), max_lr=0.1,
                          total_steps=999)
    b.load_state_dict(a.state_dict())
    assert b.total_steps == 30 and b.get_last_lr() == a.get_last_lr()
    assert b.optimizer.param_groups[0]["momentum"] == opt.param_groups[0]["momentum"]
    with pytest.raises(ValueError, match="unexpected keys"):
        b.load_state_dict({**a.state_dict(), "bogus": 1})


def test_stepping_past_the_end_holds_final_values_and_warns_once():
    opt = torch.optim.SGD(_model().parameters(), lr=0.1, momentum=0.9)
    sched = OneCycleScheduler(opt, max_lr=0.5, total_steps=10)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for _ in range(10):  # the usual loop: step() after each of the 10 iterations
            sched.step()
    final = one_cycle(0.5, 10).lr(9)
    with pytest.warns(UserWarning, match="past total_steps=10") as record:
        for _ in range(100):
            sched.step()
    assert len(record) == 1
    assert opt.param_groups[0]["lr"] == final and opt.param_groups[0]["momentum"] == 0.95


def test_grad_scaler_skipped_steps_keep_alignment_without_warnings():
    model = _model()
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    scaler = torch.amp.GradScaler("cpu", init_scale=2.0**16)
    sched = OneCycleScheduler(opt, max_lr=0.5, total_steps=20)
    cyc = one_cycle(0.5, 20)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for it in range(20):
            assert opt.param_groups[0]["lr"] == cyc.lr(it)
            before = [p.detach().clone() for p in model.parameters()]
            loss = model(torch.randn(8, 4)).pow(2).mean()
            if it in (0, 5):
                loss = loss * float("inf")  # forced overflow: the scaler must skip this update
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()
            opt.zero_grad()
            sched.step()
            unchanged = all(torch.equal(a, b) for a, b in zip(before, model.parameters()))
            assert unchanged == (it in (0, 5))
    assert sched.last_epoch == 20


def test_step_with_epoch_argument_is_rejected():
    sched = OneCycleScheduler(torch.optim.SGD(_model().parameters(), lr=0.1), max_lr=0.5, total_steps=10)
    with pytest.raises(TypeError, match="counts iterations"):
        sched.step(3)


def test_get_last_momentum():
    opt = torch.optim.SGD(_model().parameters(), lr=0.1, momentum=0.9)
    sched = OneCycleScheduler(opt, max_lr=0.5, total_steps=10)
    sched.step()
    assert sched.get_last_momentum() == [opt.param_groups[0]["momentum"]]


# ------------------------------------------------------------------------------------------------ PolicyScheduler


@pytest.mark.parametrize("name", list(POLICIES))
def test_policy_scheduler_writes_each_policy_per_group(name):
    model = _model()
    opt = torch.optim.SGD([{"params": model[0].parameters()}, {"params": model[2].parameters()}], lr=1.0,
                          momentum=0.5)
    sched = PolicyScheduler(opt, max_lr=[0.1, 0.4], total_steps=40, schedule=name, momentum=[0.9, 0.8],
                            cycle_momentum=False)
    want = [policy(name, 0.1, 40, momentum=0.9, cycle_momentum=False),
            policy(name, 0.4, 40, momentum=0.8, cycle_momentum=False)]
    for step in range(45):
        for group, p in zip(opt.param_groups, want):
            assert group["lr"] == p.lr(step) and group["momentum"] == p.momentum(step)
        assert sched.get_last_lr() == [p.lr(step) for p in want]
        assert sched.get_last_momentum() == [0.9, 0.8]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # past total_steps
            sched.step()


@pytest.mark.parametrize("opt_cls", [torch.optim.Adam, torch.optim.AdamW])
def test_constant_momentum_is_beta1_for_adam_and_momentum_for_sgd(opt_cls):
    adam = opt_cls(_model().parameters(), lr=1e-3, betas=(0.5, 0.98))
    sgd = torch.optim.SGD(_model().parameters(), lr=1e-3, momentum=0.5)
    scheds = [PolicyScheduler(o, max_lr=1e-2, total_steps=20, schedule="step", momentum=0.9) for o in (adam, sgd)]
    for _ in range(20):
        assert adam.param_groups[0]["betas"] == (0.9, 0.98) and sgd.param_groups[0]["momentum"] == 0.9
        assert "momentum" not in adam.param_groups[0]
        for sched in scheds:
            sched.step()
    # without a momentum, a baseline leaves the optimizer's alone, as 1cycle does with cycle_momentum=False
    PolicyScheduler(sgd, max_lr=1e-2, total_steps=20, schedule="cosine").step()
    assert sgd.param_groups[0]["momentum"] == 0.9


def test_policy_scheduler_state_dict_round_trip_restores_exactly():
    def fresh():
        return torch.optim.AdamW(_model().parameters(), lr=0.1, betas=(0.9, 0.999))

    opt = fresh()
    sched = PolicyScheduler(opt, max_lr=0.3, total_steps=50, schedule="cosine", momentum=0.85, div_factor=20)
    for _ in range(17):
        sched.step()
    buf = io.BytesIO()
    torch.save(sched.state_dict(), buf)
    buf.seek(0)
    state = torch.load(buf, weights_only=True)
    assert state["schedule"] == "cosine" and state["momentums"] == [0.85] and state["div_factor"] == 20
    other = fresh()
    resumed = PolicyScheduler(other, max_lr=9.0, total_steps=999)  # other settings: the state's replace them
    resumed.load_state_dict(state)
    assert resumed.state_dict() == sched.state_dict()
    assert other.param_groups[0]["lr"] == opt.param_groups[0]["lr"]
    assert other.param_groups[0]["betas"] == opt.param_groups[0]["betas"] == (0.85, 0.999)
    for _ in range(50 - 17):
        sched.step()
        resumed.step()
        assert resumed.get_last_lr() == sched.get_last_lr()
        assert other.param_groups[0]["betas"] == opt.param_groups[0]["betas"]


def test_the_constant_momentum_is_a_setting_only_where_momentum_is_not_cycled():
    opt = torch.optim.SGD(_model().parameters(), lr=0.1, momentum=0.9)
    cycled = PolicyScheduler(opt, max_lr=0.5, total_steps=20, momentum=0.9)
    assert cycled.state_dict()["momentums"] is None
    assert cycled.state_dict() == OneCycleScheduler(opt, max_lr=0.5, total_steps=20).state_dict()
    # a state written before there were baselines (no schedule, no momentums) is a 1cycle one
    old = {k: v for k, v in cycled.state_dict().items() if k not in LEGACY_STATE}
    assert PolicyScheduler.settings(old) == PolicyScheduler.settings(cycled.state_dict())
    other = PolicyScheduler(opt, max_lr=0.5, total_steps=20, schedule="step", momentum=0.9)
    other.load_state_dict(old)
    assert other.schedule == "onecycle" and other.momentums is None and other.get_lr() == cycled.get_lr()


def _two_group_optimizer(kind="sgd"):
    model = _model()
    groups = [{"params": model[0].parameters()}, {"params": model[2].parameters(), "lr": 0.05}]
    if kind == "sgd":
        return torch.optim.SGD(groups, lr=0.1, momentum=0.9)
    return torch.optim.AdamW(groups, lr=0.1, betas=(0.9, 0.99))


_SCHEDULER_ARGS = st.fixed_dictionaries({
    "schedule": st.sampled_from(list(POLICIES)),
    "max_lr": st.lists(st.floats(1e-4, 10.0), min_size=2, max_size=2),
    "total_steps": st.integers(20, 400),
    "momentum": st.one_of(st.none(), st.floats(0.0, 0.99)),
    "div_factor": st.floats(1.01, 1e3),
    "three_phase": st.booleans(),
    "cycle_momentum": st.booleans(),
})


def _groups(optimizer):
    """The values of each param group but the parameters and ``initial_lr`` (set once, by the constructor, as
    torch's schedulers do)."""
    return [{k: copy.deepcopy(v) for k, v in g.items() if k not in ("params", "initial_lr")}
            for g in optimizer.param_groups]


@settings(max_examples=25, deadline=None)
@given(args=_SCHEDULER_ARGS, kind=st.sampled_from(["sgd", "adamw"]), steps=st.integers(0, 450),
       data=st.data())
def test_state_round_trip_is_bitwise(args, kind, steps, data):
    """Any scheduler's state, saved and loaded into one built with other settings, gives back the same state, the
    same values in the optimizer and the same values at every later step."""
    opt = _two_group_optimizer(kind)
    sched = PolicyScheduler(opt, **args)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # stepping past the end
        for _ in range(steps):
            sched.step()
    buf = io.BytesIO()
    torch.save(sched.state_dict(), buf)
    buf.seek(0)
    other_opt = _two_group_optimizer(kind)
    other = PolicyScheduler(other_opt, max_lr=data.draw(st.floats(1e-3, 1.0)), total_steps=17, schedule="step")
    other.load_state_dict(torch.load(buf, weights_only=True))
    assert other.state_dict() == sched.state_dict()
    assert _groups(other_opt) == _groups(opt)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in range(5):
            sched.step()
            other.step()
            assert _groups(other_opt) == _groups(opt)


def _drop(key):
    return lambda state: {k: v for k, v in state.items() if k != key}


def _set(key, value):
    return lambda state: {**state, key: value}


def _one_cycle(**changes):
    """A 1cycle state (the baselines ignore the 1cycle settings) with ``changes``."""
    return lambda state: {**state, "schedule": "onecycle", "momentums": None, **changes}


BAD_STATES = {
    "a list": (lambda state: list(state), "expected a mapping"),
    "no total_steps": (_drop("total_steps"), "missing keys ['total_steps']"),
    "no last_epoch": (_drop("last_epoch"), "missing keys ['last_epoch']"),
    "max_lrs for one group": (_set("max_lrs", [0.5]), "max_lrs has 1 values but the optimizer has 2"),
    "max_lrs for three groups": (_set("max_lrs", [0.5, 0.5, 0.5]), "max_lrs has 3 values"),
    "max_lrs a number": (_set("max_lrs", 0.5), "max_lrs must be a list of numbers"),
    "max_lrs of strings": (_set("max_lrs", ["0.5", "0.5"]), "max_lrs must be a list of numbers"),
    "max_lrs negative": (_set("max_lrs", [0.5, -1.0]), "max_lr must be in"),
    "base_momentums short": (_set("base_momentums", [0.85]), "base_momentums has 1 values"),
    "momentums short": (_set("momentums", [0.9]), "momentums has 1 values"),
    "momentums a number": (_set("momentums", 0.9), "momentums must be a list of numbers"),
    "total_steps a float": (_set("total_steps", 30.0), "total_steps must be an integer"),
    "total_steps 1": (_set("total_steps", 1), "total_steps must be an integer >= 2"),
    "last_epoch a string": (_set("last_epoch", "3"), "last_epoch must be an integer"),
    "last_epoch below -1": (_set("last_epoch", -5), "last_epoch must be an integer >= -1"),
    "step count negative": (_set("_step_count", -1), "_step_count must be an integer >= 0"),
    "three_phase a number": (_set("three_phase", 1), "three_phase must be true or false"),
    "warned flag None": (_set("_warned_past_end", None), "_warned_past_end must be true or false"),
    "div_factor a string": (_set("div_factor", "10"), "div_factor must be a number"),
    "div_factor below 1": (_set("div_factor", 0.5), "div_factor"),
    "pct_start a list": (_set("pct_start", [0.3]), "pct_start must be a number"),
    "pct_start above 1": (_one_cycle(pct_start=1.5), "pct_start"),
    "unknown schedule": (_set("schedule", "triangular"), "schedule must be one of"),
    "schedule not a string": (_set("schedule", ["step"]), "schedule must be one of"),
    "unknown anneal strategy": (_one_cycle(anneal_strategy="quadratic"), "anneal_strategy"),
    "unexpected key": (_set("bogus", 1), "unexpected keys ['bogus']"),
    "unexpected key not a string": (_set(3, 1), "unexpected keys [3]"),
    "max_lrs of booleans": (_set("max_lrs", [True, True]), "max_lrs must be a list of numbers"),
    "base_momentums above max_momentums": (_one_cycle(base_momentums=[0.95, 0.8], max_momentums=[0.85, 0.9]),
                                           "base_momentum must be <= max_momentum"),
    "retries not a list": (_set("retries", 3), "retries must be a list of [step, warmup_stretch, lr_scale]"),
    "a retry of two values": (_set("retries", [[3, 2.0]]), "retries must be a list of [step, warmup_stretch"),
    "a retry at a float step": (_set("retries", [[3.0, 2.0, 1.0]]), "retries must be a list of [step,"),
    "a retry stretch below 1": (_set("retries", [[3, 0.5, 1.0]]), "warmup_stretch must be in [1.0, inf)"),
    "a retry scale above 1": (_set("retries", [[3, 2.0, 2.0]]), "lr_scale must be in (0.0, 1.0]"),
    "retries out of order": (_set("retries", [[5, 2.0, 1.0], [3, 2.0, 1.0]]), "in the order of their steps"),
}


@pytest.mark.parametrize("scheduler", ["policy", "onecycle"])
@pytest.mark.parametrize("name", list(BAD_STATES))
def test_a_bad_state_is_one_value_error_and_changes_nothing(name, scheduler):
    change, message = BAD_STATES[name]
    opt = _two_group_optimizer()
    if scheduler == "policy":
        sched = PolicyScheduler(opt, max_lr=[0.4, 0.2], total_steps=30, schedule="cosine", momentum=0.9)
    else:
        sched = OneCycleScheduler(opt, max_lr=[0.4, 0.2], total_steps=30)
    if scheduler == "policy":
        source = PolicyScheduler(_two_group_optimizer(), max_lr=[0.8, 0.6], total_steps=50, schedule="linear",
                                 momentum=[0.8, 0.85])
    else:  # the state of its own schedule: that of another is refused first (see below)
        source = OneCycleScheduler(_two_group_optimizer(), max_lr=[0.8, 0.6], total_steps=50)
    for _ in range(7):
        sched.step()
        source.step()
    before, groups, policies = sched.state_dict(), _groups(opt), sched.policies
    with pytest.raises(ValueError) as err:
        sched.load_state_dict(change(source.state_dict()))
    assert message in str(err.value) and "state" in str(err.value)
    assert sched.state_dict() == before and _groups(opt) == groups and sched.policies is policies
    assert sched.get_lr() == [p.lr(7) for p in policies]


@pytest.mark.parametrize("name", [n for n in POLICIES if n != "onecycle"])
def test_one_cycle_scheduler_refuses_the_state_of_another_schedule(name):
    state = PolicyScheduler(_two_group_optimizer(), max_lr=0.5, total_steps=30, schedule=name, momentum=0.9)
    for _ in range(4):
        state.step()
    opt = _two_group_optimizer()
    sched = OneCycleScheduler(opt, max_lr=0.4, total_steps=30)
    before, groups = sched.state_dict(), _groups(opt)
    with pytest.raises(ValueError) as err:
        sched.load_state_dict(state.state_dict())
    assert str(err.value) == (f"not a valid OneCycleScheduler state: schedule must be 'onecycle', got {name!r} (the "
                              "state of a PolicyScheduler of another schedule: load it into a PolicyScheduler)")
    assert sched.state_dict() == before and _groups(opt) == groups
    other = PolicyScheduler(_two_group_optimizer(), max_lr=0.4, total_steps=30)  # where it belongs
    other.load_state_dict(state.state_dict())
    assert other.state_dict() == state.state_dict()


@pytest.mark.parametrize("cls", [OneCycleScheduler, PolicyScheduler])
@pytest.mark.parametrize(("kwargs", "message"), [
    (dict(max_lr=True), "max_lr must be a number, or a list of one number per param group, got True"),
    (dict(max_lr="0.1"), "max_lr must be a number, or a list of one number per param group, got '0.1'"),
    (dict(max_lr=[0.1, "0.2"]), r"max_lr must be a number, or a list of one number per param group, got "
                                r"\[0.1, '0.2'\]"),
    (dict(max_lr=0.1, base_momentum=False), "base_momentum must be a number"),
    (dict(max_lr=0.1, max_momentum="0.95"), "max_momentum must be a number"),
    (dict(max_lr=0.1, base_momentum=0.95, max_momentum=0.85), r"^base_momentum must be <= max_momentum \(momentum "
                                                                r"is lowest where the lr peaks\)$"),
    (dict(max_lr=0.1, base_momentum=[0.8, 0.9], max_momentum=[0.95, 0.85]), "^base_momentum must be <= max_momentum"),
    (dict(max_lr=0.1, div_factor=True), "^div_factor must be a number, got True$"),
    (dict(max_lr=0.1, pct_start="0.3"), "^pct_start must be a number, got '0.3'$"),
    (dict(max_lr=0.1, three_phase=1), "^three_phase must be True or False, got 1$"),
])
def test_a_bad_argument_is_one_value_error_naming_it(cls, kwargs, message):
    with pytest.raises(ValueError, match=message):
        cls(_two_group_optimizer(), total_steps=50, **kwargs)


def test_momentum_of_a_baseline_must_be_a_number():
    with pytest.raises(ValueError, match=r"^momentum must be a number, or a list of one number per param group, "
                                         r"got '0\.9'$"):
        PolicyScheduler(_two_group_optimizer(), max_lr=0.1, total_steps=50, schedule="step", momentum="0.9")


@pytest.mark.parametrize("name", [n for n in POLICIES if n != "onecycle"])
@pytest.mark.parametrize(("key", "value"), [("pct_start", 0.3), ("annihilation_pct", 0.1)])
def test_a_baseline_refuses_the_settings_that_place_1cycle_s_phases(name, key, value):
    with pytest.raises(ValueError, match=rf"^{key}={value} applies to schedule 'onecycle' only, not to '{name}' "):
        PolicyScheduler(_two_group_optimizer(), max_lr=0.1, total_steps=50, schedule=name, **{key: value})
    state = {**PolicyScheduler(_two_group_optimizer(), max_lr=0.1, total_steps=50, schedule=name).state_dict(),
             key: value}
    sched = PolicyScheduler(_two_group_optimizer(), max_lr=0.1, total_steps=50)
    with pytest.raises(ValueError, match=rf"^not a valid PolicyScheduler state: {key}={value} applies to schedule "):
        sched.load_state_dict(state)


@pytest.mark.parametrize("name", ["onecycle", "linear", "cosine"])
def test_a_retry_restarts_the_schedule_at_the_current_step_and_a_resumed_scheduler_follows_it(name):
    opt = _two_group_optimizer()
    sched = PolicyScheduler(opt, max_lr=[0.4, 0.2], total_steps=60, schedule=name, momentum=0.9)
    for _ in range(12):
        sched.step()
    before = sched.get_lr()
    warmup = sched.retry(2.0, 1 / 1.5)  # of the peak it was rising to: max_lr
    expected = [restarted(policy(name, lr, total_steps=60, momentum=0.9), [Restart(12, 2.0, 1 / 1.5)])
                for lr in (0.4, 0.2)]
    assert sched.retries == [[12, 2.0, 1 / 1.5]] and sched.get_lr() == [p.lr(12) for p in expected]
    assert all(now < was for now, was in zip(sched.get_lr(), before))  # the next update already at the restart's lr
    assert warmup == next(e for e in expected[0].phase_ends if e > 12) - 12 and isinstance(warmup, int)
    state = copy.deepcopy(sched.state_dict())
    other = PolicyScheduler(_two_group_optimizer(), max_lr=[0.4, 0.2], total_steps=60, schedule=name, momentum=0.9)
    other.load_state_dict(state)
    for step in range(13, 61):
        sched.step()
        other.step()
        assert sched.get_lr() == other.get_lr() == [p.lr(step) for p in expected]
        assert _groups(opt) == _groups(other.optimizer)
    assert PolicyScheduler.settings(state)["retries"] == [[12, 2.0, 1 / 1.5]]


def test_a_state_without_retries_loads_as_one_that_never_retried():
    sched = OneCycleScheduler(torch.optim.SGD(_model().parameters(), lr=0.1, momentum=0.9), max_lr=0.5, total_steps=30)
    old = {k: v for k, v in sched.state_dict().items() if k != "retries"}
    sched.retry(2.0, 1.0)
    sched.load_state_dict(old)
    assert sched.retries == [] and sched.get_lr() == [one_cycle(0.5, total_steps=30).lr(0)]


def test_a_retry_too_near_the_end_is_a_value_error_that_changes_nothing():
    opt = torch.optim.SGD(_model().parameters(), lr=0.1, momentum=0.9)
    sched = OneCycleScheduler(opt, max_lr=0.5, total_steps=30)
    for _ in range(28):
        sched.step()
    state, lr = sched.state_dict(), opt.param_groups[0]["lr"]
    with pytest.raises(ValueError, match="too few for a rise"):
        sched.retry(2.0, 1.0)
    assert sched.state_dict() == state and opt.param_groups[0]["lr"] == lr
