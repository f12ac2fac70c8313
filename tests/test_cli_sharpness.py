"""``onecycle sharpness`` on tiny trained runs: what it measures (which images, how normalised, which weights), what
sharpness.json records and when it is reused, and one clear error for each bad input."""

import json
import shutil

import pytest
import torch

from onecycle import experiment, run_sharpness, rundir, sharpness
from onecycle.augment import normalize
from onecycle.cli import main
from onecycle.config import from_dict
from onecycle.guard import locked
from onecycle.run_sharpness import Measured, SharpnessSettings, measure_run
from onecycle.sharpness import top_eigenvalues

TINY = dict(dataset="digits", batch_size=64, epochs=1, progress=False, augment="flip", model="small-cnn", threads=1)
FAST = ["--images", "24", "--max-iter", "25", "--quiet"]


@pytest.fixture(autouse=True)
def torch_threads():
    """The runs here use one thread (fast on a busy machine), which the commands set process-wide: put back."""
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A finished run of the whole digits training set (copied per test by :func:`run`)."""
    run_dir = tmp_path_factory.mktemp("trained") / "run"
    setup = experiment.prepare(from_dict(TINY), say=lambda line: None)
    assert experiment.train_run(setup, run_dir, 0.05, 5e-4).stopped is None
    return run_dir


@pytest.fixture
def run(trained, tmp_path):
    return shutil.copytree(trained, tmp_path / "run")


def other_seed(run):
    """A copy of ``run`` whose config.json says it trained with seed 1."""
    other = shutil.copytree(run, run.parent / "seed-1")
    config = json.loads((other / rundir.CONFIG).read_text())
    (other / rundir.CONFIG).write_text(json.dumps({**config, "seed": 1}))
    return other


class Spy:
    """A stand-in for top_eigenvalues that records what it is given and computes as it does."""

    def __init__(self):
        self.calls = []

    def __call__(self, model, loss_fn, batches, **kwargs):
        batches = list(batches)
        self.calls.append((model, batches, kwargs))
        return top_eigenvalues(model, loss_fn, batches, **kwargs)


def test_measures_the_checkpoint_weights_on_seeded_training_images_normalised_as_in_training(run, monkeypatch):
    spy = Spy()
    monkeypatch.setattr(run_sharpness, "top_eigenvalues", spy)
    settings = SharpnessSettings(images=40, k=2, max_iter=2, batch_size=16, seed=3)  # what it is given, not the answer
    for directory in (run, other_seed(run)):
        measured, reused = measure_run(directory, settings, say=lambda line: None)
        assert not reused and len(measured.result.eigenvalues) == 2 and measured.result.samples == 40
    (model, batches, kwargs), (_, other_batches, _) = spy.calls
    assert kwargs == {"k": 2, "tol": 1e-3, "max_iter": 2, "seed": 3, "progress": False, "origins": None}
    assert [len(x) for x, _ in batches] == [16, 16, 8]
    weights = rundir.read_checkpoint(run / rundir.CHECKPOINT)["model"]
    assert all(torch.equal(v, weights[k]) for k, v in model.state_dict().items())
    setup = experiment.prepare(from_dict(TINY), say=lambda line: None)
    chosen = torch.randperm(len(setup.train_data), generator=torch.Generator().manual_seed(3))[:40]
    expected = normalize(setup.train_data.images[chosen], setup.mean, setup.std)  # no flip: no augmentation
    assert torch.equal(torch.cat([x for x, _ in batches]), expected)
    assert torch.equal(torch.cat([y for _, y in batches]), setup.train_data.labels[chosen])
    for (x, y), (x1, y1) in zip(batches, other_batches):  # the same images for a run of another seed
        assert torch.equal(x, x1) and torch.equal(y, y1)


def test_the_command_prints_writes_and_reuses_sharpness_json(run, capsys, monkeypatch):
    assert main(["sharpness", str(run), *FAST, "--k", "2"]) == 0
    out = capsys.readouterr().out
    assert "top Hessian eigenvalue(s): " in out and f"wrote {run / rundir.SHARPNESS_JSON}" in out
    data = json.loads((run / rundir.SHARPNESS_JSON).read_text())
    ckpt = rundir.read_checkpoint(run / rundir.CHECKPOINT)
    assert data["settings"] == {"images": 24, "k": 2, "tol": 1e-3, "max_iter": 25, "batch_size": 256, "seed": 0}
    assert (data["checkpoint"]["epoch"], data["checkpoint"]["step"]) == (ckpt["epoch"], ckpt["step"]) == (1, 22)
    assert len(data["eigenvalues"]) == 2 and data["eigenvalues"][0] >= data["eigenvalues"][1]
    assert data["samples"] == 24 and 1 <= data["iterations"] <= 25
    measured = Measured.load_json(run / rundir.SHARPNESS_JSON)
    assert str(measured) in out

    monkeypatch.setattr(run_sharpness, "top_eigenvalues", lambda *a, **k: pytest.fail("measured again"))
    monkeypatch.setattr(run_sharpness, "prepare", lambda *a, **k: pytest.fail("loaded the data"))
    assert main(["sharpness", str(run), *FAST, "--k", "2"]) == 0
    out = capsys.readouterr().out
    assert "reusing" in out and str(measured) in out and "wrote" not in out
    assert main(["sharpness", str(run), *FAST, "--k", "2", "--batch-size", "8"]) == 0  # batches: memory only
    assert "reusing" in capsys.readouterr().out

    monkeypatch.undo()
    assert main(["sharpness", str(run), *FAST, "--k", "1", "--seed", "2"]) == 0
    out = capsys.readouterr().out
    assert "measured under other settings (k 2 (now 1), seed 0 (now 2)): measuring again" in out
    assert json.loads((run / rundir.SHARPNESS_JSON).read_text())["settings"]["seed"] == 2
    # settings that cannot be measured are refused before any "measuring again"
    assert main(["sharpness", str(run), *FAST, "--k", "1", "--seed", "2", "--images", "5000"]) == 2
    captured = capsys.readouterr()
    assert "measuring again" not in captured.out and "images 5000 (from --images) is more than" in captured.err


def test_another_checkpoint_is_measured_again(run, capsys):
    assert main(["sharpness", str(run), *FAST]) == 0
    ckpt = rundir.read_checkpoint(run / rundir.CHECKPOINT)
    rundir.write_checkpoint(run / rundir.CHECKPOINT, ckpt)  # written again: the same file, still reused
    assert main(["sharpness", str(run), *FAST]) == 0
    assert "reusing" in capsys.readouterr().out
    ckpt["model"]["fc.bias"][0] += 1e-3  # other weights at the same step
    rundir.write_checkpoint(run / rundir.CHECKPOINT, ckpt)
    assert main(["sharpness", str(run), *FAST]) == 0
    assert "(another checkpoint): measuring again" in capsys.readouterr().out


def test_a_run_trained_by_several_processes_is_measured_by_one(run, capsys):
    config = json.loads((run / rundir.CONFIG).read_text())
    config["resolved"]["world_size"] = 2  # as torchrun --nproc_per_node 2 records it
    (run / rundir.CONFIG).write_text(json.dumps(config))
    assert main(["train", "--resume", "--run-dir", str(run), "--quiet"]) == 2  # resuming needs as many processes
    assert "trained on 2 process(es) and this is 1" in capsys.readouterr().err
    assert main(["sharpness", str(run), *FAST]) == 0  # the weights are the same whoever trained them
    assert json.loads((run / rundir.SHARPNESS_JSON).read_text())["checkpoint"]["step"] == 22


def test_a_report_of_the_run_is_undisturbed_and_a_fresh_run_removes_it(run, capsys):
    (run / rundir.SHARPNESS_JSON).write_text("{}")
    assert main(["report", str(run)]) == 0
    assert main(["train", "--resume", "--run-dir", str(run), "--quiet"]) == 0  # finished: nothing to do
    assert (run / rundir.SHARPNESS_JSON).exists()
    train = ["train", "--overwrite", "--run-dir", str(run), "--dataset", "digits", "--epochs", "1", "--max-lr",
             "0.05", "--train-subset", "128", "--batch-size", "32", "--threads", "1", "--quiet"]
    assert main(train) == 0
    assert not (run / rundir.SHARPNESS_JSON).exists()  # it measured the run removed


@pytest.mark.parametrize(("argv", "message"), [
    (["--tol", "1"], "argument --tol: expected a number between 0 and 1 (both excluded), got '1'"),
    (["--k", "0"], "argument --k: expected a whole number from 1 to"),
    (["--images", "many"], "argument --images: expected a whole number"),
    (["--seed", "2147483648"], "argument --seed: expected a whole number from -2147483647 to 2147483647"),
    (["--k", "5", "--max-iter", "3"], "max_iter 3 (from --max-iter) must be at least k 5 (from --k): each Lanczos"),
    (["--k", "150"], "max_iter 25 (from --max-iter) must be at least k 150 (from --k)"),
    (["--images", "5000"], "images 5000 (from --images) is more than the 1437 training images of the run in"),
    (["--k", "2000000", "--max-iter", "2000000"],
     "k 2000000 (from --k) must be at most the number of trainable parameters"),
])
def test_bad_flags_are_one_line(run, capsys, argv, message):
    try:
        status = main(["sharpness", str(run), *FAST, *argv])
    except SystemExit as exit:  # argparse's, for a flag's own value
        status = exit.code
    err = capsys.readouterr().err
    assert status == 2 and len(err.strip().splitlines()) == 1 and message in err, err
    assert not (run / rundir.SHARPNESS_JSON).exists()


def test_a_flag_left_out_is_named_as_its_default(run, capsys):
    assert main(["sharpness", str(run), "--images", "24", "--quiet", "--k", "150"]) == 2
    err = capsys.readouterr().err
    assert "max_iter 100 (default) must be at least k 150 (from --k)" in err and len(err.splitlines()) == 1


def test_lanczos_vectors_that_cannot_be_allocated_name_the_flag(run, capsys, monkeypatch):
    zeros = torch.zeros

    def refuse(*size, **kwargs):  # the Lanczos vectors: a matrix of max_iter + 1 rows
        if len(size) == 2 and size[0] == 26:
            raise RuntimeError("DefaultCPUAllocator: can't allocate memory")
        return zeros(*size, **kwargs)

    monkeypatch.setattr(sharpness.torch, "zeros", refuse)
    assert main(["sharpness", str(run), *FAST]) == 2
    err = capsys.readouterr().err
    assert "max_iter 25 (from --max-iter) needs 0.0" in err and "GiB for its Lanczos vectors (26 vectors of" in err
    assert len(err.splitlines()) == 1 and not (run / rundir.SHARPNESS_JSON).exists()


def test_a_directory_without_a_run_or_with_damaged_files_is_one_error_each(run, tmp_path, capsys):
    (tmp_path / "finder-only").mkdir()
    (tmp_path / "finder-only" / rundir.FINDER_JSON).write_text("{}")
    (tmp_path / "no-checkpoint").mkdir()
    shutil.copy(run / rundir.CONFIG, tmp_path / "no-checkpoint")
    cases = {tmp_path / "missing": f"run directory {tmp_path / 'missing'} does not exist",
             tmp_path / "finder-only": "config.json does not exist, and the sharpness of a run is measured from",
             tmp_path / "no-checkpoint": "checkpoint.pt does not exist, and the sharpness of a run is measured from"}
    for directory, message in cases.items():
        assert main(["sharpness", str(directory), *FAST]) == 2
        err = capsys.readouterr().err
        assert len(err.strip().splitlines()) == 1 and message in err, err
    assert not (tmp_path / "missing").exists()

    other = other_seed(run)
    data = bytearray((run / rundir.CHECKPOINT).read_bytes())
    data[-10] ^= 1
    (run / rundir.CHECKPOINT).write_bytes(bytes(data))
    assert main(["sharpness", str(run), *FAST]) == 2
    assert "checkpoint.pt is damaged" in capsys.readouterr().err

    (other / rundir.SHARPNESS_JSON).write_text(json.dumps({"eigenvalues": ["big"]}))
    assert main(["sharpness", str(other), *FAST]) == 2
    err = capsys.readouterr().err
    assert "sharpness.json is damaged" in err and "remove it to measure again" in err
    config = json.loads((other / rundir.CONFIG).read_text())
    (other / rundir.SHARPNESS_JSON).unlink()
    (other / rundir.CONFIG).write_text(json.dumps({**config, "model": "resnet9"}))
    assert main(["sharpness", str(other), *FAST]) == 2
    err = capsys.readouterr().err
    assert f"{other / rundir.CHECKPOINT} holds the weights of another model than the resnet9 its config.json names: " \
           "missing " in err and " more; unexpected features.0.weight, " in err and len(err.splitlines()) == 1


def test_a_checkpoint_cut_short_or_of_another_shape_is_one_sentence_naming_it(run, capsys):
    path = run / rundir.CHECKPOINT
    ckpt = rundir.read_checkpoint(path)
    ckpt["model"]["fc.weight"] = torch.zeros(10, 3)  # same names, another width
    rundir.write_checkpoint(path, ckpt)
    assert main(["sharpness", str(run), *FAST]) == 2
    err = capsys.readouterr().err
    assert f"{path} holds the weights of another model than the small-cnn its config.json names: of other shapes " \
           "fc.weight [10, 3] (the model's [10, " in err and len(err.splitlines()) == 1, err
    data = path.read_bytes()
    for cut in (len(data) // 2, 30):
        path.write_bytes(data[:cut])
        assert main(["sharpness", str(run), *FAST]) == 2
        err = capsys.readouterr().err
        assert len(err.splitlines()) == 1 and f"{path} is " in err and ("damaged" in err or "cut short" in err), err
    assert not (run / rundir.SHARPNESS_JSON).exists()


def test_a_run_directory_in_use_is_refused(run, capsys):
    with locked(run, "train"):
        assert main(["sharpness", str(run), *FAST]) == 2
    assert "is in use by" in capsys.readouterr().err
