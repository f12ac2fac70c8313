from itertools import pairwise

import pytest
import torch
from torch import nn

from onecycle.models import MODELS, CifarResNet, PadShortcut, ResNet9, SmallCNN, build_model, resnet

RESNET_DEPTHS = {"resnet20": 20, "resnet32": 32, "resnet44": 44, "resnet56": 56, "resnet110": 110}
INPUTS = [(1, 28), (3, 32), (1, 8)]  # (channels, side): Fashion-MNIST, CIFAR, scikit-learn digits


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def resnet_params(depth: int, in_channels: int, num_classes: int, shortcut: str = "A") -> int:
    """Parameters of a CIFAR ResNet by formula: 3x3 convs without bias, two per BN (weight, bias)."""
    n = (depth - 2) // 6

    def block(c_in: int, c: int) -> int:
        return 9 * c_in * c + 9 * c * c + 2 * 2 * c

    stem = 9 * in_channels * 16 + 2 * 16
    stages = (
        n * block(16, 16)
        + block(16, 32) + (n - 1) * block(32, 32)
        + block(32, 64) + (n - 1) * block(64, 64)
    )  # fmt: skip
    projections = (16 * 32 + 2 * 32) + (32 * 64 + 2 * 64) if shortcut == "B" else 0
    return stem + stages + projections + 64 * num_classes + num_classes


def small_cnn_params(widths: tuple[int, ...], in_channels: int, num_classes: int, batch_norm: bool) -> int:
    channels = (in_channels, *widths)
    convs = sum(9 * a * b for a, b in pairwise(channels))
    per_channel = 2 * sum(widths) if batch_norm else sum(widths)  # BN weight and bias, or conv bias
    return convs + per_channel + widths[-1] * num_classes + num_classes


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


@pytest.mark.parametrize("name", list(MODELS))
@pytest.mark.parametrize(("in_channels", "side"), INPUTS)
def test_output_shape(name: str, in_channels: int, side: int) -> None:
    model = build_model(name, in_channels=in_channels, num_classes=7).eval()
    with torch.no_grad():
        out = model(torch.randn(3, in_channels, side, side))
    assert out.shape == (3, 7)
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("name", list(MODELS))
def test_backward_gives_finite_gradients_everywhere(name: str) -> None:
    model = build_model(name, in_channels=1, num_classes=10)
    x, y = torch.randn(4, 1, 28, 28), torch.randint(0, 10, (4,))
    nn.functional.cross_entropy(model(x), y).backward()
    for pname, p in model.named_parameters():
        assert p.grad is not None, pname
        assert torch.isfinite(p.grad).all(), pname
    assert any(p.grad.abs().sum() > 0 for p in model.parameters())


@pytest.mark.parametrize(("name", "depth"), RESNET_DEPTHS.items())
@pytest.mark.parametrize(("in_channels", "num_classes"), [(3, 10), (1, 10), (3, 100)])
def test_resnet_parameter_count_matches_formula(name: str, depth: int, in_channels: int, num_classes: int) -> None:
    model = build_model(name, in_channels=in_channels, num_classes=num_classes)
    assert n_params(model) == resnet_params(depth, in_channels, num_classes)


@pytest.mark.parametrize(("depth", "paper_millions"), [(20, 0.27), (32, 0.46), (44, 0.66), (56, 0.85), (110, 1.7)])
def test_resnet_parameter_count_matches_paper(depth: int, paper_millions: float) -> None:
    """He et al. 2016, table 6: #params with option A shortcuts on CIFAR-10."""
    assert n_params(resnet(depth)) / 1e6 == pytest.approx(paper_millions, rel=0.02)


def test_resnet20_and_56_exact_counts() -> None:
    assert n_params(resnet(20)) == 269_722
    assert n_params(resnet(56)) == 853_018


@pytest.mark.parametrize("depth", [20, 56])
def test_projection_shortcut_adds_two_1x1_convs(depth: int) -> None:
    model = build_model(f"resnet{depth}", in_channels=3, num_classes=10, shortcut="B")
    assert n_params(model) == resnet_params(depth, 3, 10, shortcut="B")
    one_by_one = [m for m in model.modules() if isinstance(m, nn.Conv2d) and m.kernel_size == (1, 1)]
    assert [(m.in_channels, m.out_channels, m.stride) for m in one_by_one] == [(16, 32, (2, 2)), (32, 64, (2, 2))]


@pytest.mark.parametrize("shortcut", ["A", "B"])
@pytest.mark.parametrize(("name", "depth"), RESNET_DEPTHS.items())
def test_resnet_depth_is_3x3_convs_plus_fc(name: str, depth: int, shortcut: str) -> None:
    model = build_model(name, in_channels=3, num_classes=10, shortcut=shortcut)
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d) and m.kernel_size == (3, 3)]
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    assert len(convs) + len(linears) == depth == model.depth
    assert len(linears) == 1
    assert sum(isinstance(m, nn.BatchNorm2d) for m in model.modules()) == len(convs) + (2 if shortcut == "B" else 0)


def test_resnet_stage_shapes_on_cifar_input() -> None:
    model = resnet(20).eval()
    x = model.stem(torch.randn(2, 3, 32, 32))
    shapes = []
    for stage in model.stages:
        x = stage(x)
        shapes.append(tuple(x.shape[1:]))
    assert shapes == [(16, 32, 32), (32, 16, 16), (64, 8, 8)]


def test_pad_shortcut_subsamples_and_zero_pads() -> None:
    x = torch.randn(2, 16, 7, 7)
    out = PadShortcut(16, 32, stride=2)(x)
    assert out.shape == (2, 32, 4, 4)
    torch.testing.assert_close(out[:, :16], x[:, :, ::2, ::2])
    assert (out[:, 16:] == 0).all()
    assert n_params(PadShortcut(16, 32, 2)) == 0


def test_kaiming_init() -> None:
    model = resnet(20)
    conv = model.stages[2][1].conv2  # 64 -> 64, fan_out = 64 * 9
    assert conv.weight.std().item() == pytest.approx((2 / (64 * 9)) ** 0.5, rel=0.05)
    bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    assert all((m.weight == 1).all() and (m.bias == 0).all() for m in bns)


@pytest.mark.parametrize("batch_norm", [True, False])
@pytest.mark.parametrize(("in_channels", "num_classes"), [(1, 10), (3, 100)])
def test_small_cnn_parameter_count(batch_norm: bool, in_channels: int, num_classes: int) -> None:
    model = SmallCNN(in_channels, num_classes, batch_norm=batch_norm)
    assert n_params(model) == small_cnn_params((32, 64, 128, 256), in_channels, num_classes, batch_norm)
    has_bn = any(isinstance(m, nn.BatchNorm2d) for m in model.modules())
    assert has_bn == batch_norm


def test_small_cnn_documented_count() -> None:
    assert n_params(build_model("small-cnn", 1, 10)) == 390_890


def test_small_cnn_nobn_has_no_batchnorm() -> None:
    model = build_model("small-cnn-nobn", 1, 10)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in model.modules())
    assert all(m.bias is not None for m in model.modules() if isinstance(m, nn.Conv2d))


def test_small_cnn_custom_widths() -> None:
    model = build_model("small-cnn", 1, 10, widths=(8, 16))
    assert n_params(model) == small_cnn_params((8, 16), 1, 10, batch_norm=True)
    assert model(torch.randn(2, 1, 8, 8)).shape == (2, 10)


def test_mlp_parameter_count_and_input_sizes() -> None:
    assert n_params(build_model("mlp", 1, 10)) == (784 + 1) * 256 + (256 + 1) * 256 + (256 + 1) * 10 == 269_322
    model = build_model("mlp", 3, 7, hidden=(5,), side=4)
    assert n_params(model) == (3 * 16 + 1) * 5 + (5 + 1) * 7
    for side in (8, 28, 32):  # digits, Fashion-MNIST, CIFAR-10
        assert model(torch.randn(2, 3, side, side)).shape == (2, 7)


def test_mlp_passes_28x28_images_unchanged() -> None:
    model = build_model("mlp", 1, 10)
    x = torch.randn(3, 1, 28, 28)
    first = model.layers[0]
    torch.testing.assert_close(model.pool(x), x, rtol=0, atol=0)
    assert first.in_features == 784


def test_mlp_rejects_bad_sizes() -> None:
    with pytest.raises(ValueError, match="side"):
        build_model("mlp", 1, 10, side=0)
    with pytest.raises(ValueError, match="hidden"):
        build_model("mlp", 1, 10, hidden=(0,))


def resnet9_params(widths: tuple[int, ...], in_channels: int, num_classes: int) -> int:
    """Parameters of a ResNet9 by formula: 3x3 convs without bias (stem, three layers, two residual blocks of two),
    two per BN (weight, bias), the linear classifier."""
    stem, a, b, c = widths
    convs = 9 * (in_channels * stem + stem * a + 2 * a * a + a * b + b * c + 2 * c * c)
    return convs + 2 * (stem + 3 * a + b + 3 * c) + c * num_classes + num_classes


@pytest.mark.parametrize("widths", [(16, 32, 64, 128), (8, 8, 16, 4), (32, 64, 128, 256)])
@pytest.mark.parametrize(("in_channels", "num_classes"), [(1, 10), (3, 100)])
def test_resnet9_parameter_count(widths: tuple[int, ...], in_channels: int, num_classes: int) -> None:
    model = ResNet9(in_channels, num_classes, widths)
    assert n_params(model) == resnet9_params(widths, in_channels, num_classes)


def test_resnet9_documented_count_and_layers() -> None:
    model = build_model("resnet9", 1, 10)
    assert n_params(model) == 412_666
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert [(m.in_channels, m.out_channels) for m in convs] == [
        (1, 16), (16, 32), (32, 32), (32, 32), (32, 64), (64, 128), (128, 128), (128, 128)]
    assert all(m.kernel_size == (3, 3) and m.bias is None for m in convs)


def test_resnet9_stage_shapes_on_fashion_mnist_input() -> None:
    model = build_model("resnet9", 1, 10).eval()
    x = model.stem(torch.randn(2, 1, 28, 28))
    shapes = [tuple(x.shape[1:])]
    for layer in model.layers:
        x = layer(x)
        shapes.append(tuple(x.shape[1:]))
    assert shapes == [(16, 28, 28), (32, 14, 14), (64, 7, 7), (128, 3, 3)]


def test_resnet9_residual_blocks_add_their_input() -> None:
    model = build_model("resnet9", 1, 10).eval()
    block = model.layers[0][2]
    x = torch.randn(2, 32, 14, 14)
    with torch.no_grad():
        torch.testing.assert_close(block(x), x + block.body(x), rtol=0, atol=0)
        for conv in (m for m in block.body.modules() if isinstance(m, nn.Conv2d)):
            conv.weight.zero_()
        torch.testing.assert_close(block(x), x, rtol=0, atol=0)  # zero convs: BN (eval) of zeros is 0, ReLU keeps it


@pytest.mark.parametrize("name", list(MODELS))
def test_init_is_deterministic_under_a_seed(name: str) -> None:
    def weights(seed: int) -> list[torch.Tensor]:
        torch.manual_seed(seed)
        return [p.detach().clone() for p in build_model(name, 1, 10).parameters()]

    first, again, other = weights(3), weights(3), weights(4)
    assert all(torch.equal(a, b) for a, b in zip(first, again))
    assert not all(torch.equal(a, b) for a, b in zip(first, other))


def test_resnet9_kaiming_init_and_identity_batchnorm() -> None:
    model = build_model("resnet9", 1, 10)
    conv = model.layers[2][2].body[1][0]  # 128 -> 128, fan_out = 128 * 9
    assert conv.weight.std().item() == pytest.approx((2 / (128 * 9)) ** 0.5, rel=0.05)
    bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    assert len(bns) == 8 and all((m.weight == 1).all() and (m.bias == 0).all() for m in bns)


@pytest.mark.parametrize("widths", [(16, 32, 64), (16, 32, 64, 128, 256), (16, 0, 64, 128)])
def test_resnet9_rejects_bad_widths(widths: tuple[int, ...]) -> None:
    with pytest.raises(ValueError, match="widths must be 4 positive channel counts"):
        build_model("resnet9", 1, 10, widths=widths)


def test_registry_lists_expected_names() -> None:
    assert set(RESNET_DEPTHS) | {"resnet56-b", "small-cnn", "small-cnn-nobn", "resnet9", "mlp"} == set(MODELS)
    assert isinstance(build_model("resnet32", 3, 10), CifarResNet)
    assert n_params(build_model("resnet56-b", 3, 10)) == resnet_params(56, 3, 10, shortcut="B") == 855_770


def test_unknown_name_lists_valid_names() -> None:
    with pytest.raises(ValueError, match="resnet20") as err:
        build_model("resnet18", 3, 10)
    assert all(name in str(err.value) for name in MODELS)


@pytest.mark.parametrize("depth", [0, 7, 21, 111])
def test_resnet_rejects_bad_depth(depth: int) -> None:
    with pytest.raises(ValueError, match="6n \\+ 2"):
        resnet(depth)


def test_resnet_rejects_unknown_shortcut() -> None:
    with pytest.raises(ValueError, match="shortcut"):
        resnet(20, shortcut="C")  # type: ignore[arg-type]
