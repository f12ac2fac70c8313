"""Batches: sizes, epochs as permutations, seeded reproducibility, augmentation and normalisation, and exact
resume from a state_dict at and between epoch boundaries."""

import io

import pytest
import torch

from onecycle.augment import channel_stats, crop_reflect, draw_crop_offsets, draw_flips, flip_horizontal
from onecycle.datasets import ImageData
from onecycle.loader import Batches


def _numbered(n=10, c=1, size=4):
    """Image i is filled with the value i and labelled i % 10: every pixel tells which sample it came from."""
    images = torch.arange(n, dtype=torch.uint8).view(n, 1, 1, 1).expand(n, c, size, size).contiguous()
    return ImageData(images, torch.arange(n) % 10, tuple("0123456789"))


def _random(n=24, c=3, size=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    images = torch.randint(0, 256, (n, c, size, size), generator=g, dtype=torch.uint8)
    return ImageData(images, torch.randint(0, 10, (n,), generator=g), tuple("0123456789"))


def _ids(x):
    return (x[:, 0, 0, 0] * 255).round().long()


def _epoch(loader):
    return [(x.clone(), y.clone()) for x, y in loader]


def test_len_is_batches_per_epoch_and_the_last_batch_is_partial_unless_dropped():
    data = _numbered(10)
    assert len(Batches(data, 4)) == 3 and len(Batches(data, 4, drop_last=True)) == 2
    assert [len(y) for _, y in Batches(data, 4)] == [4, 4, 2]
    assert [len(y) for _, y in Batches(data, 4, drop_last=True)] == [4, 4]
    assert len(Batches(data, 10, drop_last=True)) == 1
    with pytest.raises(ValueError, match="no batches"):
        Batches(data, 11, drop_last=True)
    with pytest.raises(ValueError, match="batch_size"):
        Batches(data, 0)


def test_yields_float32_images_and_int64_labels_that_belong_together():
    for x, y in Batches(_numbered(10, c=3), 4, crop=True, pad=2, flip=True):
        assert x.dtype == torch.float32 and y.dtype == torch.int64
        assert x.shape[1:] == (3, 4, 4) and x.min() >= 0 and x.max() <= 1
        assert torch.equal(_ids(x) % 10, y)
        assert torch.equal(x, x[:, :1, :1, :1].expand_as(x))  # crop and flip keep a constant image constant


def test_each_epoch_is_a_new_permutation_and_the_seed_reproduces_them():
    loader = Batches(_numbered(10), 3, seed=7)
    epochs = [torch.cat([_ids(x) for x, _ in loader]) for _ in range(3)]
    for ids in epochs:
        assert sorted(ids.tolist()) == list(range(10))
    assert not torch.equal(epochs[0], epochs[1]) and not torch.equal(epochs[1], epochs[2])
    again = Batches(_numbered(10), 3, seed=7)
    assert all(torch.equal(torch.cat([_ids(x) for x, _ in again]), ids) for ids in epochs)
    other = Batches(_numbered(10), 3, seed=8)
    assert not torch.equal(torch.cat([_ids(x) for x, _ in other]), epochs[0])
    assert loader.epoch == 3


def test_without_shuffle_the_order_is_the_data_order():
    ids = torch.cat([_ids(x) for x, _ in Batches(_numbered(10), 4, shuffle=False)])
    assert ids.tolist() == list(range(10))


def test_augmentation_is_crop_then_flip_with_draws_from_the_seeded_generator():
    data = _random()
    loader = Batches(data, 8, shuffle=False, crop=True, pad=3, flip=True, seed=5)
    g = torch.Generator().manual_seed(5)
    for i, (x, _) in enumerate(loader):
        offsets, flips = draw_crop_offsets(8, 3, g), draw_flips(8, g)
        expected = flip_horizontal(crop_reflect(data.images[8 * i : 8 * (i + 1)], offsets, 3), flips)
        assert torch.equal(x, expected.float() / 255)
    plain = torch.cat([x for x, _ in Batches(data, 8, shuffle=False)])
    assert not torch.equal(plain, torch.cat([x for x, _ in loader]))


def test_normalisation_with_training_set_stats_gives_zero_mean_unit_std():
    data = _random(40)
    mean, std = channel_stats(data.images)
    x = torch.cat([x for x, _ in Batches(data, 16, mean=mean, std=std.tolist())])
    torch.testing.assert_close(x.mean(dim=(0, 2, 3)), torch.zeros(3), atol=1e-5, rtol=0)
    torch.testing.assert_close(x.std(dim=(0, 2, 3), correction=0), torch.ones(3), atol=1e-5, rtol=0)
    with pytest.raises(ValueError, match="both"):
        Batches(data, 16, mean=mean)
    with pytest.raises(ValueError, match="3 values"):
        Batches(data, 16, mean=[0.5], std=[0.2])


def test_channels_last_changes_the_layout_not_the_values():
    data = _random()
    a = _epoch(Batches(data, 8, crop=True, flip=True, seed=1))
    b = _epoch(Batches(data, 8, crop=True, flip=True, seed=1, channels_last=True))
    for (xa, ya), (xb, yb) in zip(a, b, strict=True):
        assert xb.is_contiguous(memory_format=torch.channels_last) and not xa.is_contiguous(
            memory_format=torch.channels_last
        )
        assert torch.equal(xa, xb) and torch.equal(ya, yb)


def _save_load(state):
    buffer = io.BytesIO()
    torch.save(state, buffer)
    buffer.seek(0)
    return torch.load(buffer)


@pytest.mark.parametrize("stop_after", [0, 1, 2, 3, 4], ids=lambda k: f"{k}-batches-into-epoch-2")
def test_state_dict_resumes_exactly_at_and_between_epoch_boundaries(stop_after):
    data = _random()
    kwargs = dict(crop=True, flip=True, mean=[0.5] * 3, std=[0.25] * 3)
    reference = Batches(data, 7, seed=3, **kwargs)  # 4 batches per epoch
    _epoch(reference)
    it = iter(reference)
    for _ in range(stop_after):
        next(it)
    state = _save_load(reference.state_dict())
    assert (state["epoch"], state["batch"]) == (1 + stop_after // 4, stop_after % 4)
    rest = [(x.clone(), y.clone()) for x, y in it] + _epoch(reference)

    resumed = Batches(data, 7, seed=999, **kwargs)
    resumed.load_state_dict(state)
    replay = []
    while len(replay) < len(rest):
        replay += _epoch(resumed)
    assert len(replay) == len(rest) == 8 - stop_after
    for (xa, ya), (xb, yb) in zip(rest, replay, strict=True):
        assert torch.equal(xa, xb) and torch.equal(ya, yb)
    assert resumed.epoch == reference.epoch == 3
    assert torch.equal(resumed.generator.get_state(), reference.generator.get_state())


def test_a_state_after_the_last_batch_is_the_start_of_the_next_epoch():
    loader = Batches(_numbered(10), 5, seed=2)
    for _ in loader:
        pass
    finished = loader.state_dict()
    it = iter(loader)
    next(it)
    next(it)  # the last batch is handed out: the epoch counts as complete
    assert loader.state_dict()["epoch"] == 2 and loader.state_dict()["batch"] == 0
    assert finished["epoch"] == 1 and finished["batch"] == 0


def test_an_epoch_left_early_continues_where_it_stopped():
    data = _numbered(12)
    reference = [torch.cat([_ids(x) for x, _ in Batches(data, 3, seed=4)])]
    loader = Batches(data, 3, seed=4)
    first = []
    for x, _ in loader:
        first.append(_ids(x))
        break
    rest = [_ids(x) for x, _ in loader]
    assert torch.equal(torch.cat(first + rest), reference[0])


def test_load_state_dict_refuses_a_state_for_other_data():
    state = Batches(_random(24), 8).state_dict()
    with pytest.raises(ValueError, match="24 samples in batches of 8"):
        Batches(_random(20), 8).load_state_dict(state)
    with pytest.raises(ValueError, match="batches of 8"):
        Batches(_random(24), 6).load_state_dict(state)


def test_device_argument_moves_the_data():
    loader = Batches(_random(), 8, device="cpu")
    x, y = next(iter(loader))
    assert x.device == y.device == torch.device("cpu")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_a_seed_gives_the_same_batches_on_cuda_as_on_the_cpu():
    data = _random(40)
    kwargs = dict(crop=True, flip=True, mean=[0.5] * 3, std=[0.25] * 3, seed=11)
    cpu = _epoch(Batches(data, 16, **kwargs))
    cuda = _epoch(Batches(data, 16, device="cuda", **kwargs))
    for (xa, ya), (xb, yb) in zip(cpu, cuda, strict=True):
        assert xb.is_cuda and torch.equal(ya, yb.cpu())
        torch.testing.assert_close(xa, xb.cpu(), atol=1e-6, rtol=0)
