"""Augmentation: golden tests against torch's reflect padding and flip, determinism under a seed, properties,
and channel statistics against numpy."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from onecycle.augment import (
    channel_stats,
    crop_reflect,
    draw_crop_offsets,
    draw_flips,
    flip_horizontal,
    normalize,
    random_crop_reflect,
    random_flip,
)


def _images(n=8, c=3, h=10, w=12, seed=0, dtype=torch.uint8):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (n, c, h, w), generator=g).to(dtype)


def _gen(seed):
    return torch.Generator().manual_seed(seed)


def _reference_crop(x, offsets, pad):
    """Per image: torch's reflect padding, then the window at the offset."""
    padded = F.pad(x.float(), (pad, pad, pad, pad), mode="reflect")
    h, w = x.shape[-2:]
    return torch.stack([padded[i, :, dy : dy + h, dx : dx + w] for i, (dy, dx) in enumerate(offsets.tolist())])


def test_offset_zero_is_the_top_left_window_of_the_reflect_padded_image():
    x = torch.arange(5 * 6, dtype=torch.float32).view(1, 1, 5, 6)
    out = crop_reflect(x, torch.zeros(1, 2, dtype=torch.int64), pad=2)
    expected = F.pad(x, (2, 2, 2, 2), mode="reflect")[..., :5, :6]
    assert torch.equal(out, expected)
    assert out[0, 0, 0].tolist() == [14.0, 13.0, 12.0, 13.0, 14.0, 15.0]  # row 2, reflected about column 0


def test_centre_offset_is_the_identity_and_far_corner_matches_torch():
    x = _images()
    assert torch.equal(crop_reflect(x, torch.full((8, 2), 4), pad=4), x)
    far = torch.full((8, 2), 8)
    assert torch.equal(crop_reflect(x, far, pad=4).float(), _reference_crop(x, far, 4))


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(1, 4),
    c=st.integers(1, 3),
    h=st.integers(2, 9),
    w=st.integers(2, 9),
    data=st.data(),
)
def test_crop_reflect_matches_torch_reflect_pad_for_any_offsets(n, c, h, w, data):
    pad = data.draw(st.integers(0, min(h, w) - 1))
    offset = st.tuples(st.integers(0, 2 * pad), st.integers(0, 2 * pad))
    offsets = torch.tensor(data.draw(st.lists(offset, min_size=n, max_size=n)), dtype=torch.int64)
    x = _images(n, c, h, w, seed=n * h * w)
    out = crop_reflect(x, offsets, pad)
    assert out.dtype == torch.uint8 and out.shape == x.shape and out.is_contiguous()
    assert torch.equal(out.float(), _reference_crop(x, offsets, pad))


def test_crop_rejects_a_pad_too_large_for_reflection_and_bad_offsets():
    x = _images(2, 1, 4, 4)
    with pytest.raises(ValueError, match="pad"):
        crop_reflect(x, torch.zeros(2, 2, dtype=torch.int64), pad=4)
    with pytest.raises(ValueError, match="offsets"):
        crop_reflect(x, torch.zeros(3, 2, dtype=torch.int64), pad=1)


def test_random_crop_is_deterministic_under_a_seed_and_uses_one_offset_per_image():
    x = _images(64, 3, 16, 16)
    a = random_crop_reflect(x, pad=4, generator=_gen(1))
    assert torch.equal(a, random_crop_reflect(x, pad=4, generator=_gen(1)))
    assert not torch.equal(a, random_crop_reflect(x, pad=4, generator=_gen(2)))
    offsets = draw_crop_offsets(64, 4, _gen(1))
    assert torch.equal(a, crop_reflect(x, offsets, 4))
    assert offsets.min() >= 0 and offsets.max() <= 8 and len(offsets.unique(dim=0)) > 20
    assert a.dtype == x.dtype and a.shape == x.shape


def test_flip_horizontal_mirrors_exactly_the_masked_images():
    x = _images(4)
    mask = torch.tensor([True, False, False, True])
    out = flip_horizontal(x, mask)
    assert torch.equal(out[0], x[0].flip(-1)) and torch.equal(out[3], x[3].flip(-1))
    assert torch.equal(out[1:3], x[1:3])
    assert out[0, 1, 2, 0] == x[0, 1, 2, -1]


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**31), n=st.integers(1, 16))
def test_flipping_twice_with_the_same_draw_is_the_identity(seed, n):
    x = _images(n, 2, 5, 7, seed=seed % 1000)
    mask = draw_flips(n, _gen(seed))
    assert torch.equal(flip_horizontal(flip_horizontal(x, mask), mask), x)


def test_random_flip_flips_about_half_each_image_whole_and_is_seeded():
    x = _images(400, 1, 4, 6)
    out = random_flip(x, generator=_gen(3))
    flipped = (out == x.flip(-1)).flatten(1).all(1)
    assert ((out == x).flatten(1).all(1) | flipped).all()
    assert 0.4 < flipped.float().mean() < 0.6
    assert torch.equal(out, random_flip(x, generator=_gen(3)))
    assert not torch.equal(out, random_flip(x, generator=_gen(4)))
    assert torch.equal(random_flip(x, generator=_gen(3), p=0.0), x)


def test_channel_stats_match_numpy():
    x = _images(20, 3, 8, 8, seed=5)
    x[:, 2] //= 4  # a channel with another distribution
    mean, std = channel_stats(x)
    ref = x.numpy().astype(np.float64) / 255
    np.testing.assert_allclose(mean.numpy(), ref.mean(axis=(0, 2, 3)), rtol=1e-6)
    np.testing.assert_allclose(std.numpy(), ref.std(axis=(0, 2, 3)), rtol=1e-6)
    assert mean.dtype == std.dtype == torch.float32 and mean.shape == (3,)
    const_mean, const_std = channel_stats(torch.full((2, 1, 3, 3), 51, dtype=torch.uint8))
    assert const_mean.item() == pytest.approx(0.2) and const_std.item() == 0.0
    with pytest.raises(ValueError, match="uint8"):
        channel_stats(x.float())


def test_normalize_gives_zero_mean_unit_std_per_channel():
    x = _images(50, 3, 8, 8, seed=6)
    mean, std = channel_stats(x)
    out = normalize(x, mean, std)
    assert out.dtype == torch.float32
    torch.testing.assert_close(out, (x.float() / 255 - mean.view(1, 3, 1, 1)) / std.view(1, 3, 1, 1))
    torch.testing.assert_close(out.mean(dim=(0, 2, 3)), torch.zeros(3), atol=1e-5, rtol=0)
    torch.testing.assert_close(out.std(dim=(0, 2, 3), correction=0), torch.ones(3), atol=1e-5, rtol=0)
