"""Datasets: IDX and CIFAR readers on tiny files in the real formats, validation errors, the search order,
downloads from local file:// mirrors (never the network), the restricted unpickler, digits."""

import gzip
import hashlib
import os
import pickle
import struct
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch

from onecycle import datasets
from onecycle.datasets import (
    CIFAR10_FILES,
    ENV_VAR,
    FASHION_MNIST_FILES,
    DatasetError,
    DatasetNotFound,
    ImageData,
    Remote,
    load_dataset,
    read_cifar10,
    read_fashion_mnist,
    read_idx,
)

FASHION_SYSTEM_DIR = Path("/usr/share/datasets/fashion-mnist")


@pytest.fixture(autouse=True)
def _no_env(monkeypatch):
    monkeypatch.delenv(ENV_VAR, raising=False)


def _md5(path):
    return "md5:" + hashlib.md5(Path(path).read_bytes()).hexdigest()


def _idx_bytes(array, magic):
    dims = struct.pack(f">{array.ndim}I", *array.shape)
    return struct.pack(">I", magic) + dims + array.astype(np.uint8).tobytes()


def _write_gz(path, raw):
    with gzip.open(path, "wb") as f:
        f.write(raw)


def _write_fashion(directory, n_train=6, n_test=4, seed=0):
    """Four IDX files; returns {"train": (images, labels), "t10k": (...)}."""
    rng = np.random.default_rng(seed)
    directory.mkdir(parents=True, exist_ok=True)
    arrays = {}
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        labels = rng.integers(0, 10, n, dtype=np.uint8)
        _write_gz(directory / f"{prefix}-images-idx3-ubyte.gz", _idx_bytes(images, 2051))
        _write_gz(directory / f"{prefix}-labels-idx1-ubyte.gz", _idx_bytes(labels, 2049))
        arrays[prefix] = (images, labels)
    return arrays


def _write_pickle(path, obj, protocol=pickle.DEFAULT_PROTOCOL):
    path.write_bytes(pickle.dumps(obj, protocol=protocol))


def _cifar_batch(rng, n):
    return {
        b"batch_label": b"testing batch",
        b"labels": [int(v) for v in rng.integers(0, 10, n)],
        b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
        b"filenames": [b"img_%d.png" % i for i in range(n)],
    }


CIFAR_NAMES = [
    b"airplane", b"automobile", b"bird", b"cat", b"deer", b"dog", b"frog", b"horse", b"ship", b"truck",
]  # fmt: skip


def _write_cifar(directory, per_batch=2, n_test=3, seed=0):
    """A cifar-10-batches-py directory; returns (train batches, test batch) as dicts."""
    rng = np.random.default_rng(seed)
    directory.mkdir(parents=True, exist_ok=True)
    train = [_cifar_batch(rng, per_batch) for _ in range(5)]
    for i, batch in enumerate(train, 1):
        _write_pickle(directory / f"data_batch_{i}", batch)
    test = _cifar_batch(rng, n_test)
    _write_pickle(directory / "test_batch", test)
    _write_pickle(directory / "batches.meta", {b"label_names": CIFAR_NAMES, b"num_vis": 3072})
    return train, test


# ImageData


def _tiny(n=5):
    return ImageData(torch.arange(n * 4, dtype=torch.uint8).view(n, 1, 2, 2), torch.arange(n) % 3, ("a", "b", "c"))


def test_image_data_len_repr_to_and_subsets():
    data = _tiny()
    assert len(data) == 5 and data.device == torch.device("cpu")
    assert "uint8[5, 1, 2, 2]" in repr(data)
    assert data.to("cpu").images.data_ptr() == data.images.data_ptr()
    first = data.subset(2)
    assert torch.equal(first.images, data.images[:2]) and torch.equal(first.labels, data.labels[:2])
    picked = data.subset([4, 0])
    assert picked.labels.tolist() == [1, 0] and torch.equal(picked.images[0], data.images[4])
    rand = data.subset(3, seed=1)
    assert len(rand) == 3 and torch.equal(rand.labels, data.subset(3, seed=1).labels)
    assert len(set(rand.images[:, 0, 0, 0].tolist())) == 3
    assert picked.classes == ("a", "b", "c")


def test_image_data_rejects_wrong_dtypes_and_shapes():
    with pytest.raises(ValueError, match="uint8"):
        ImageData(torch.zeros(2, 1, 2, 2), torch.zeros(2, dtype=torch.int64), ("a",))
    with pytest.raises(ValueError, match="int64"):
        ImageData(torch.zeros(2, 1, 2, 2, dtype=torch.uint8), torch.zeros(3, dtype=torch.int64), ("a",))
    with pytest.raises(ValueError, match="subset size"):
        _tiny().subset(6)


# Fashion-MNIST


def test_read_fashion_mnist_round_trips_the_idx_files(tmp_path):
    arrays = _write_fashion(tmp_path)
    train, test = read_fashion_mnist(tmp_path)
    for data, (images, labels) in ((train, arrays["train"]), (test, arrays["t10k"])):
        assert data.images.dtype == torch.uint8 and data.labels.dtype == torch.int64
        assert tuple(data.images.shape) == (len(images), 1, 28, 28)
        assert np.array_equal(data.images[:, 0].numpy(), images)
        assert np.array_equal(data.labels.numpy(), labels)
        assert data.name == "fashion-mnist" and len(data.classes) == 10 and data.classes[9] == "Ankle boot"


def _corrupt(tmp_path, kind):
    """Writes a Fashion-MNIST directory with one bad file; returns that file and a message pattern."""
    _write_fashion(tmp_path)
    images = tmp_path / "train-images-idx3-ubyte.gz"
    labels = tmp_path / "train-labels-idx1-ubyte.gz"
    good_images = gzip.decompress(images.read_bytes())
    good_labels = gzip.decompress(labels.read_bytes())
    if kind == "truncated":
        _write_gz(images, good_images[:-5])
        return images, "truncated"
    if kind == "trailing bytes":
        _write_gz(images, good_images + b"\0")
        return images, "trailing bytes"
    if kind == "wrong magic":
        _write_gz(labels, struct.pack(">I", 2051) + good_labels[4:])
        return labels, "magic number is 2051, expected 2049"
    if kind == "wrong shape":
        _write_gz(images, _idx_bytes(np.zeros((6, 27, 28), np.uint8), 2051))
        return images, "27x28, expected 28x28"
    if kind == "label out of range":
        _write_gz(labels, _idx_bytes(np.array([0, 1, 2, 10, 4, 5]), 2049))
        return labels, "label 10 is outside 0..9"
    if kind == "count mismatch":
        _write_gz(labels, _idx_bytes(np.zeros(5, np.uint8), 2049))
        return labels, "5 labels for 6 images"
    if kind == "missing":
        labels.unlink()
        return labels, "missing"
    if kind == "not gzip":
        images.write_bytes(good_images)
        return images, "gzip"
    if kind == "truncated gzip":
        images.write_bytes(images.read_bytes()[:-20])
        return images, "gzip"
    raise AssertionError(kind)


@pytest.mark.parametrize(
    "kind",
    [
        "truncated",
        "trailing bytes",
        "wrong magic",
        "wrong shape",
        "label out of range",
        "count mismatch",
        "missing",
        "not gzip",
        "truncated gzip",
    ],
)
def test_bad_idx_files_raise_one_dataset_error_naming_the_file(tmp_path, kind):
    bad, pattern = _corrupt(tmp_path, kind)
    with pytest.raises(DatasetError, match=pattern) as info:
        read_fashion_mnist(tmp_path)
    assert str(bad) in str(info.value)
    assert isinstance(info.value, ValueError)


def test_read_idx_checks_the_header_it_is_given(tmp_path):
    path = tmp_path / "x.gz"
    _write_gz(path, _idx_bytes(np.arange(6).reshape(2, 3), 0x0802))
    assert read_idx(path, 0x0802).tolist() == [[0, 1, 2], [3, 4, 5]]
    _write_gz(path, b"\0\0")
    with pytest.raises(DatasetError, match="shorter than the IDX header"):
        read_idx(path, 0x0802)


def _labels_of(directory):
    return gzip.decompress((directory / "train-labels-idx1-ubyte.gz").read_bytes())[8:]


def test_search_order_data_dir_env_cache_system(tmp_path, monkeypatch):
    dirs = {name: tmp_path / name for name in ("data", "env", "cache", "system")}
    _write_fashion(dirs["data"] / "fashion-mnist", seed=1)  # in the subdirectory named after the dataset
    _write_fashion(dirs["env"], seed=2)  # directly in the directory
    _write_fashion(dirs["cache"] / "fashion-mnist", seed=3)
    _write_fashion(dirs["system"] / "fashion-mnist", seed=4)
    monkeypatch.setenv(ENV_VAR, str(dirs["env"]))

    def picked(**kw):
        train, _ = load_dataset(
            "fashion-mnist", download=False, cache_dir=dirs["cache"], system_dirs=[dirs["system"]], **kw
        )
        return bytes(train.labels.to(torch.uint8).numpy())

    assert picked(data_dir=dirs["data"]) == _labels_of(dirs["data"] / "fashion-mnist")
    assert picked() == _labels_of(dirs["env"])
    monkeypatch.delenv(ENV_VAR)
    assert picked() == _labels_of(dirs["cache"] / "fashion-mnist")
    (dirs["cache"] / "fashion-mnist" / "t10k-images-idx3-ubyte.gz").unlink()  # an incomplete copy is skipped
    assert picked() == _labels_of(dirs["system"] / "fashion-mnist")


def _fashion_mirror(tmp_path):
    mirror = tmp_path / "mirror"
    _write_fashion(mirror)
    return Remote(mirror.as_uri(), {name: _md5(mirror / name) for name in FASHION_MNIST_FILES})


def test_download_from_a_file_mirror_into_the_cache_then_found_offline(tmp_path):
    remote = _fashion_mirror(tmp_path)
    cache = tmp_path / "cache"
    train, test = load_dataset("fashion-mnist", cache_dir=cache, system_dirs=(), remote=remote)
    assert (len(train), len(test)) == (6, 4)
    assert sorted(p.name for p in (cache / "fashion-mnist").iterdir()) == sorted(FASHION_MNIST_FILES)
    again, _ = load_dataset("fashion-mnist", download=False, cache_dir=cache, system_dirs=())
    assert torch.equal(again.images, train.images)


def test_a_checksum_mismatch_keeps_nothing_and_says_so(tmp_path):
    remote = _fashion_mirror(tmp_path)
    files = dict(remote.files, **{"train-images-idx3-ubyte.gz": "md5:" + "0" * 32})
    cache = tmp_path / "cache"
    with pytest.raises(DatasetNotFound, match="hash"):
        load_dataset("fashion-mnist", cache_dir=cache, system_dirs=(), remote=Remote(remote.base_url, files))
    assert not (cache / "fashion-mnist" / "train-images-idx3-ubyte.gz").exists()


def test_offline_and_absent_gives_one_clear_sentence(tmp_path, monkeypatch):
    cache, data = tmp_path / "cache", tmp_path / "data"
    monkeypatch.setenv(ENV_VAR, str(data))
    remote = Remote((tmp_path / "nowhere").as_uri(), {name: "md5:" + "0" * 32 for name in FASHION_MNIST_FILES})
    with pytest.raises(DatasetNotFound) as info:
        load_dataset("fashion-mnist", cache_dir=cache, system_dirs=(), remote=remote)
    message = str(info.value)
    assert "\n" not in message and message.endswith(".") and message.count("; ") == 1
    assert str(data) in message and str(cache / "fashion-mnist") in message
    assert "train-images-idx3-ubyte.gz" in message and "FileNotFoundError" in message and ENV_VAR in message
    assert info.value.__cause__ is None and info.value.__suppress_context__


def test_download_false_does_not_download(tmp_path, monkeypatch):
    def fail(*args, **kwargs):
        raise AssertionError("no download expected")

    monkeypatch.setattr(datasets, "_retrieve", fail)
    with pytest.raises(DatasetNotFound, match="download=False"):
        load_dataset("cifar10", download=False, cache_dir=tmp_path, system_dirs=())


def test_default_sources_are_the_canonical_files_with_their_checksums(tmp_path, monkeypatch):
    requested = []

    def offline(url, known_hash, directory):
        requested.append((url, known_hash))
        raise OSError("offline")

    monkeypatch.setattr(datasets, "_retrieve", offline)
    for name in ("fashion-mnist", "cifar10"):
        with pytest.raises(DatasetNotFound, match="OSError: offline"):
            load_dataset(name, cache_dir=tmp_path, system_dirs=())
    assert requested == [
        (
            "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/"
            "train-images-idx3-ubyte.gz",
            "md5:8d4fb7e6c68d591d4c3dfef9ec88bf0d",
        ),
        ("https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz", "md5:c58f30108f718f92721af3b95e74349a"),
    ]


def test_unknown_dataset_name():
    with pytest.raises(ValueError, match="fashion-mnist, cifar10, digits"):
        load_dataset("mnist")


@pytest.mark.skipif(not FASHION_SYSTEM_DIR.is_dir(), reason="dataset-fashion-mnist is not installed")
def test_real_fashion_mnist_from_the_system_directory(tmp_path):
    train, test = load_dataset("fashion-mnist", data_dir=FASHION_SYSTEM_DIR, download=False, cache_dir=tmp_path)
    assert tuple(train.images.shape) == (60000, 1, 28, 28) and tuple(test.images.shape) == (10000, 1, 28, 28)
    assert train.labels.min() == 0 and train.labels.max() == 9 and test.labels.unique().numel() == 10


# CIFAR-10


def test_read_cifar10_round_trips_the_python_batches(tmp_path):
    train_batches, test_batch = _write_cifar(tmp_path)
    train, test = read_cifar10(tmp_path)
    assert tuple(train.images.shape) == (10, 3, 32, 32) and tuple(test.images.shape) == (3, 3, 32, 32)
    assert train.labels.tolist() == [label for b in train_batches for label in b[b"labels"]]
    assert test.labels.tolist() == test_batch[b"labels"]
    row = test_batch[b"data"][1]  # 1024 red, then green, then blue values, each 32 rows of 32
    for c, y, x in ((0, 0, 0), (1, 5, 7), (2, 31, 30)):
        assert test.images[1, c, y, x] == row[c * 1024 + y * 32 + x]
    assert torch.equal(train.images[2:4].reshape(2, -1), torch.from_numpy(train_batches[1][b"data"]))
    assert train.classes[0] == "airplane" and train.classes[9] == "truck" and train.name == "cifar10"


@pytest.mark.parametrize("protocol", [3, 4, 5])
def test_cifar_pickles_of_other_protocols_and_the_legacy_numpy_path_load(tmp_path, protocol):
    _, test_batch = _write_cifar(tmp_path)
    raw = pickle.dumps(test_batch, protocol=protocol)
    if protocol == 3:  # text GLOBAL opcodes: name the module as numpy 1.x (and the real files) do
        assert b"numpy._core.multiarray\n" in raw
        raw = raw.replace(b"numpy._core.multiarray\n", b"numpy.core.multiarray\n")
    (tmp_path / "test_batch").write_bytes(raw)
    _, test = read_cifar10(tmp_path)
    assert np.array_equal(test.images.reshape(3, -1).numpy(), test_batch[b"data"])


class _Payload:
    """Unpickling this calls ``call(*args)``."""

    def __init__(self, call, args):
        self.call, self.args = call, args

    def __reduce__(self):
        return self.call, self.args


def _system(marker):
    return _Payload(os.system, (f"touch {marker}",))


def _open(marker):
    return _Payload(open, (str(marker), "w"))


@pytest.mark.parametrize("payload", [_system, _open], ids=["os.system", "open"])
def test_a_crafted_cifar_pickle_is_refused_and_runs_nothing(tmp_path, payload):
    control = tmp_path / "control"
    pickle.loads(pickle.dumps(payload(control)))  # the payload is live: plain pickle runs it
    assert control.exists()

    _write_cifar(tmp_path / "batches")
    marker = tmp_path / "marker"
    bad = tmp_path / "batches" / "data_batch_3"
    _write_pickle(bad, {b"data": payload(marker), b"labels": [0]})
    with pytest.raises(DatasetError, match="refusing to load") as info:
        read_cifar10(tmp_path / "batches")
    assert str(bad) in str(info.value)
    assert not marker.exists()


def _bad_cifar(tmp_path, kind):
    train, _ = _write_cifar(tmp_path)
    path = tmp_path / "data_batch_2"
    batch = dict(train[1])
    if kind == "wrong shape":
        batch[b"data"] = batch[b"data"][:, :3071]
        pattern = r"shape \(n, 3072\)"
    elif kind == "wrong dtype":
        batch[b"data"] = batch[b"data"].astype(np.float32)
        pattern = "float32"
    elif kind == "label out of range":
        batch[b"labels"] = [3, 10]
        pattern = "0..9"
    elif kind == "count mismatch":
        batch[b"labels"] = [3]
        pattern = "1 labels for 2 images"
    elif kind == "not a dict":
        batch = [batch[b"data"]]
        pattern = "expected a dict"
    elif kind == "missing":
        path.unlink()
        return path, "missing"
    elif kind == "truncated":
        path.write_bytes(path.read_bytes()[:-100])
        return path, "truncated"
    elif kind == "bad meta":
        path = tmp_path / "batches.meta"
        batch = {b"label_names": CIFAR_NAMES[:9]}
        pattern = "10 names"
    else:
        raise AssertionError(kind)
    _write_pickle(path, batch)
    return path, pattern


CIFAR_DEFECTS = (
    "wrong shape", "wrong dtype", "label out of range", "count mismatch", "not a dict", "missing", "truncated",
    "bad meta",
)  # fmt: skip


@pytest.mark.parametrize("kind", CIFAR_DEFECTS)
def test_bad_cifar_files_raise_one_dataset_error_naming_the_file(tmp_path, kind):
    bad, pattern = _bad_cifar(tmp_path, kind)
    with pytest.raises(DatasetError, match=pattern) as info:
        read_cifar10(tmp_path)
    assert str(bad) in str(info.value)


def test_cifar_download_extracts_the_archive_into_the_cache(tmp_path):
    _, test_batch = _write_cifar(tmp_path / "src" / "cifar-10-batches-py")
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    archive = mirror / "cifar-10-python.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(tmp_path / "src" / "cifar-10-batches-py", arcname="cifar-10-batches-py")
    cache = tmp_path / "cache"
    remote = Remote(mirror.as_uri(), {archive.name: _md5(archive)})
    _, test = load_dataset("cifar10", cache_dir=cache, system_dirs=(), remote=remote)
    assert test.labels.tolist() == test_batch[b"labels"]
    assert sorted(p.name for p in (cache / "cifar-10-batches-py").iterdir()) == sorted(CIFAR10_FILES)
    assert sorted(p.name for p in cache.iterdir()) == ["cifar-10-batches-py"]  # archive removed


# digits


def test_digits_is_a_fixed_stratified_split_scaled_to_uint8():
    train, test = load_dataset("digits")
    assert len(train) + len(test) == 1797 and len(test) == 360
    assert tuple(train.images.shape[1:]) == (1, 8, 8) and train.images.dtype == torch.uint8
    assert train.images.max() == 255 and train.images.min() == 0
    assert train.classes == tuple("0123456789") and train.name == "digits"
    counts = test.labels.bincount(minlength=10)
    assert counts.min() >= 35 and counts.max() <= 37  # about 20% of each class's ~180
    again, _ = load_dataset("digits")
    assert torch.equal(again.images, train.images) and torch.equal(again.labels, train.labels)


def test_digits_without_scikit_learn_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn", None)
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)
    with pytest.raises(DatasetNotFound, match="pip install scikit-learn"):
        load_dataset("digits")


# what is known before reading


def test_layouts_are_what_the_files_hold(tmp_path):
    """LAYOUTS (for planning a run's steps without the data): the shapes read back, digits' training split whole;
    CIFAR-10's and Fashion-MNIST's training images are their published 50,000 and 60,000."""
    _write_cifar(tmp_path / "cifar")
    _write_fashion(tmp_path / "fashion")
    read = {"digits": load_dataset("digits"), "cifar10": read_cifar10(tmp_path / "cifar"),
            "fashion-mnist": read_fashion_mnist(tmp_path / "fashion")}
    assert set(read) == set(datasets.LAYOUTS) == set(datasets.DATASETS)
    for name, (train, _) in read.items():
        layout = datasets.LAYOUTS[name]
        assert tuple(train.images.shape[1:]) == layout.image_shape and len(train.classes) == layout.num_classes
    assert datasets.LAYOUTS["digits"].train_images == len(read["digits"][0])
    assert datasets.LAYOUTS["cifar10"].train_images == 50_000
    assert datasets.LAYOUTS["fashion-mnist"].train_images == 60_000
