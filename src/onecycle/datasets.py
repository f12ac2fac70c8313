"""Datasets: finding, downloading, reading and validating them, held in memory as uint8 tensors.

:func:`load_dataset` returns ``(train, test)`` :class:`ImageData` for ``"fashion-mnist"``, ``"cifar10"``
and ``"digits"``. Files are looked for, in order, in ``data_dir``, ``$ONECYCLE_DATA``, the user cache
(``~/.cache/onecycle`` on Linux) and ``/usr/share/datasets``; each may hold the files directly or in a
subdirectory named after the dataset (``fashion-mnist/``, ``cifar-10-batches-py/``). Missing files are
downloaded into the cache and checked against their published checksums. A dataset that cannot be found or
downloaded raises :class:`DatasetNotFound`; a file that is there but wrong raises :class:`DatasetError`,
naming the file.
"""

from __future__ import annotations

import gzip
import logging
import math
import os
import pickle
import shutil
import struct
import tarfile
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlparse
from urllib.request import url2pathname

import numpy as np
import pooch
import torch

try:
    from numpy._core import multiarray as _np_multiarray
    from numpy._core import numeric as _np_numeric
except ImportError:  # numpy < 1.26
    from numpy.core import multiarray as _np_multiarray  # type: ignore[no-redef]
    from numpy.core import numeric as _np_numeric  # type: ignore[no-redef]

log = logging.getLogger(__name__)

DATASETS = ("fashion-mnist", "cifar10", "digits")
SYSTEM_DIRS: tuple[Path, ...] = (Path("/usr/share/datasets"),)
ENV_VAR = "ONECYCLE_DATA"


@dataclass(frozen=True)
class Layout:
    """What a dataset holds, known before it is read: training images, the shape of one and the classes."""

    train_images: int
    image_shape: tuple[int, int, int]  # (C, H, W)
    num_classes: int


LAYOUTS = {"fashion-mnist": Layout(60_000, (1, 28, 28), 10), "cifar10": Layout(50_000, (3, 32, 32), 10),
           "digits": Layout(1_437, (1, 8, 8), 10)}
"""The :data:`DATASETS` by name, for what is planned before the data is loaded (the steps of a run)."""

FASHION_MNIST_CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)  # fmt: skip
FASHION_MNIST_FILES = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)
CIFAR10_FILES = (*(f"data_batch_{i}" for i in range(1, 6)), "test_batch", "batches.meta")

IDX_IMAGES_MAGIC = 2051  # unsigned bytes, 3 dimensions
IDX_LABELS_MAGIC = 2049  # unsigned bytes, 1 dimension


class DatasetNotFound(Exception):
    """The dataset is not on disk and could not be downloaded (or needs a package that is not installed)."""


class DatasetError(ValueError):
    """A dataset file is present but unreadable or invalid; the message names the file and the problem."""


@dataclass(frozen=True, eq=False, repr=False)
class ImageData:
    """Images as uint8 ``(N, C, H, W)``, labels as int64 ``(N,)``, on one device."""

    images: torch.Tensor
    labels: torch.Tensor
    classes: tuple[str, ...]
    name: str = ""

    def __post_init__(self) -> None:
        images, labels = self.images, self.labels
        if images.dtype != torch.uint8 or images.ndim != 4:
            raise ValueError(f"images must be uint8 (N, C, H, W), got {images.dtype} {tuple(images.shape)}")
        if labels.dtype != torch.int64 or tuple(labels.shape) != (len(images),):
            raise ValueError(f"labels must be int64 ({len(images)},), got {labels.dtype} {tuple(labels.shape)}")
        if labels.device != images.device:
            raise ValueError(f"images on {images.device} but labels on {labels.device}")
        object.__setattr__(self, "classes", tuple(self.classes))

    def __len__(self) -> int:
        return self.images.shape[0]

    def __repr__(self) -> str:
        shape = ", ".join(str(s) for s in self.images.shape)
        classes = len(self.classes)
        return f"ImageData(name={self.name!r}, images=uint8[{shape}], classes={classes}, device={self.device})"

    @property
    def device(self) -> torch.device:
        return self.images.device

    def to(self, device: torch.device | str) -> ImageData:
        """The same data on ``device``."""
        return replace(self, images=self.images.to(device), labels=self.labels.to(device))

    def subset(self, index: int | Sequence[int] | torch.Tensor, seed: int | None = None) -> ImageData:
        """The first ``index`` samples (``index`` random ones if ``seed`` is given), or the given indices."""
        if isinstance(index, (int, np.integer)):
            index = int(index)
            if not 0 <= index <= len(self):
                raise ValueError(f"subset size must be in [0, {len(self)}], got {index}")
            if seed is None:
                return replace(self, images=self.images[:index], labels=self.labels[:index])
            index = torch.randperm(len(self), generator=torch.Generator().manual_seed(seed))[:index]
        idx = torch.as_tensor(index, dtype=torch.int64).to(self.device)
        return replace(self, images=self.images[idx], labels=self.labels[idx])


@dataclass(frozen=True)
class Remote:
    """Where a dataset is downloaded from: ``base_url``, and file names mapped to hashes (``"md5:..."``).

    ``file://`` URLs are copied, so a local mirror works offline.
    """

    base_url: str
    files: Mapping[str, str] = field(default_factory=dict)

    def url(self, name: str) -> str:
        return self.base_url.rstrip("/") + "/" + name


FASHION_MNIST_REMOTE = Remote(
    "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion",
    {
        "train-images-idx3-ubyte.gz": "md5:8d4fb7e6c68d591d4c3dfef9ec88bf0d",
        "train-labels-idx1-ubyte.gz": "md5:25c81989df183df01b3e8a0aad5dffbe",
        "t10k-images-idx3-ubyte.gz": "md5:bef4ecab320f06d8554ea6380940ec79",
        "t10k-labels-idx1-ubyte.gz": "md5:bb300cfdad3c16e7a12a480ee83cd310",
    },
)
CIFAR10_REMOTE = Remote(
    "https://www.cs.toronto.edu/~kriz",
    {"cifar-10-python.tar.gz": "md5:c58f30108f718f92721af3b95e74349a"},
)


def default_cache_dir() -> Path:
    """The per-user cache directory downloads go to (``~/.cache/onecycle`` on Linux)."""
    return Path(pooch.os_cache("onecycle")).expanduser()


def load_dataset(
    name: str,
    data_dir: str | Path | None = None,
    download: bool = True,
    *,
    cache_dir: str | Path | None = None,
    system_dirs: Sequence[str | Path] = SYSTEM_DIRS,
    remote: Remote | None = None,
) -> tuple[ImageData, ImageData]:
    """``(train, test)`` for ``name`` in :data:`DATASETS`, on the CPU.

    For the datasets read from files, ``cache_dir`` (default :func:`default_cache_dir`) is searched and receives
    downloads, ``system_dirs`` are searched last and ``remote`` replaces the canonical download source. Digits
    come from scikit-learn and ignore these.
    """
    if name == "digits":
        return digits()
    if name not in _SPECS:
        raise ValueError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}")
    spec = _SPECS[name]
    cache = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    directory = _locate(spec, data_dir, download, cache, system_dirs, remote or spec.remote)
    log.info("reading %s from %s", name, directory)
    return spec.read(directory)


def read_idx(path: str | Path, magic: int) -> np.ndarray:
    """The uint8 array in a gzipped IDX file, after checking its magic number and its length."""
    path = Path(path)
    try:
        with gzip.open(path, "rb") as f:
            raw = f.read()
    except FileNotFoundError:
        raise DatasetError(f"{path}: file is missing") from None
    except (OSError, EOFError, zlib.error) as err:
        raise DatasetError(f"{path}: not a complete gzip file ({err})") from None
    if len(raw) < 4:
        raise DatasetError(f"{path}: truncated, {len(raw)} bytes is shorter than the IDX header")
    found = int.from_bytes(raw[:4], "big")
    if found != magic:
        raise DatasetError(f"{path}: magic number is {found}, expected {magic}")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DatasetError(f"{path}: truncated inside the IDX header")
    dims = struct.unpack(f">{ndim}I", raw[4:header])
    expected = header + math.prod(dims)
    if len(raw) != expected:
        problem = "truncated" if len(raw) < expected else "has trailing bytes"
        raise DatasetError(f"{path}: {problem}, {len(raw)} bytes but the header {dims} implies {expected}")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims).copy()


def read_fashion_mnist(directory: str | Path) -> tuple[ImageData, ImageData]:
    """``(train, test)`` from the four Fashion-MNIST IDX files in ``directory``."""
    directory = Path(directory)
    return _read_idx_split(directory, "train"), _read_idx_split(directory, "t10k")


def read_cifar10(directory: str | Path) -> tuple[ImageData, ImageData]:
    """``(train, test)`` from the CIFAR-10 "python version" batches in ``directory``."""
    directory = Path(directory)
    meta_path = directory / "batches.meta"
    meta = _unpickle(meta_path)
    names = meta.get(b"label_names") if isinstance(meta, dict) else None
    if not (isinstance(names, list) and len(names) == 10 and all(isinstance(n, (bytes, str)) for n in names)):
        raise DatasetError(f"{meta_path}: expected a dict with b'label_names', a list of 10 names")
    classes = tuple(n.decode() if isinstance(n, bytes) else n for n in names)
    train = [_read_cifar_batch(directory / f"data_batch_{i}") for i in range(1, 6)]
    test = _read_cifar_batch(directory / "test_batch")
    return (
        _image_data(np.concatenate([x for x, _ in train]), np.concatenate([y for _, y in train]), classes, "cifar10"),
        _image_data(*test, classes, "cifar10"),
    )


def digits(test_size: float = 0.2, seed: int = 0) -> tuple[ImageData, ImageData]:
    """scikit-learn's 8x8 digits (pixels 0..16 scaled to 0..255), split stratified into ``(train, test)``."""
    try:
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split
    except ImportError:
        raise DatasetNotFound(
            "The digits dataset needs scikit-learn, which is not installed: pip install scikit-learn."
        ) from None
    bunch = load_digits()
    images = np.rint(bunch.images * (255 / 16)).astype(np.uint8)[:, None]
    labels = bunch.target.astype(np.int64)
    train, test = train_test_split(np.arange(len(labels)), test_size=test_size, random_state=seed, stratify=labels)
    classes = tuple(str(d) for d in range(10))
    return (
        _image_data(images[train], labels[train], classes, "digits"),
        _image_data(images[test], labels[test], classes, "digits"),
    )


def _image_data(images: np.ndarray, labels: np.ndarray, classes: tuple[str, ...], name: str) -> ImageData:
    images = np.require(images, np.uint8, ["C", "W"])
    labels = np.require(labels, np.int64, ["C", "W"])
    return ImageData(torch.from_numpy(images), torch.from_numpy(labels), classes, name)


def _read_idx_split(directory: Path, prefix: str) -> ImageData:
    images_path = directory / f"{prefix}-images-idx3-ubyte.gz"
    labels_path = directory / f"{prefix}-labels-idx1-ubyte.gz"
    images = read_idx(images_path, IDX_IMAGES_MAGIC)
    labels = read_idx(labels_path, IDX_LABELS_MAGIC)
    if images.shape[1:] != (28, 28):
        raise DatasetError(f"{images_path}: images are {images.shape[1]}x{images.shape[2]}, expected 28x28")
    if len(images) != len(labels):
        raise DatasetError(f"{labels_path}: {len(labels)} labels for {len(images)} images in {images_path.name}")
    if labels.size and labels.max() > 9:
        raise DatasetError(f"{labels_path}: label {labels.max()} is outside 0..9")
    return _image_data(images[:, None], labels, FASHION_MNIST_CLASSES, "fashion-mnist")


def _read_cifar_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    batch = _unpickle(path)
    if not isinstance(batch, dict) or b"data" not in batch or b"labels" not in batch:
        raise DatasetError(f"{path}: expected a dict with keys b'data' and b'labels'")
    data = batch[b"data"]
    if not (isinstance(data, np.ndarray) and data.dtype == np.uint8 and data.ndim == 2 and data.shape[1] == 3072):
        desc = f"{data.dtype} {data.shape}" if isinstance(data, np.ndarray) else type(data).__name__
        raise DatasetError(f"{path}: b'data' must be a uint8 array of shape (n, 3072), got {desc}")
    try:
        labels = np.asarray(batch[b"labels"], dtype=np.int64)
    except (TypeError, ValueError):
        raise DatasetError(f"{path}: b'labels' is not a list of integers") from None
    if labels.shape != (len(data),):
        raise DatasetError(f"{path}: {labels.size} labels for {len(data)} images")
    if labels.size and (labels.min() < 0 or labels.max() > 9):
        raise DatasetError(f"{path}: labels must be in 0..9, found {labels.min()}..{labels.max()}")
    return data.reshape(-1, 3, 32, 32), labels


_PICKLE_GLOBALS: dict[tuple[str, str], Any] = {
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    **{(f"{core}.multiarray", "_reconstruct"): _np_multiarray._reconstruct for core in ("numpy.core", "numpy._core")},
    **{(f"{core}.multiarray", "scalar"): _np_multiarray.scalar for core in ("numpy.core", "numpy._core")},
    **{(f"{core}.numeric", "_frombuffer"): _np_numeric._frombuffer for core in ("numpy.core", "numpy._core")},
}


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Resolves only the globals numpy arrays are rebuilt from; anything else (os.system, ...) is refused."""

    def find_class(self, module: str, name: str) -> Any:
        try:
            return _PICKLE_GLOBALS[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}") from None


def _unpickle(path: Path) -> Any:
    try:
        with open(path, "rb") as f:
            return _NumpyOnlyUnpickler(f, encoding="bytes").load()
    except FileNotFoundError:
        raise DatasetError(f"{path}: file is missing") from None
    except pickle.UnpicklingError as err:
        raise DatasetError(
            f"{path}: not a CIFAR-10 pickle ({err}); only numpy arrays, lists and bytes are allowed"
        ) from None
    except (EOFError, ValueError, TypeError, AttributeError, IndexError) as err:
        raise DatasetError(f"{path}: corrupt or truncated pickle ({type(err).__name__}: {err})") from None


@dataclass(frozen=True)
class _Spec:
    title: str
    subdir: str
    files: tuple[str, ...]
    hint: str
    remote: Remote
    install: Callable[[Remote, Path], None]
    read: Callable[[Path], tuple[ImageData, ImageData]]


def _candidate_dirs(
    subdir: str, data_dir: str | Path | None, cache: Path, system_dirs: Sequence[str | Path]
) -> list[Path]:
    dirs: list[Path] = []
    for root in (data_dir, os.environ.get(ENV_VAR)):
        if root:
            dirs += [Path(root).expanduser(), Path(root).expanduser() / subdir]
    dirs.append(cache / subdir)
    dirs += [Path(d) / subdir for d in system_dirs]
    return list(dict.fromkeys(dirs))


def _locate(
    spec: _Spec,
    data_dir: str | Path | None,
    download: bool,
    cache: Path,
    system_dirs: Sequence[str | Path],
    remote: Remote,
) -> Path:
    dirs = _candidate_dirs(spec.subdir, data_dir, cache, system_dirs)
    for directory in dirs:
        if all((directory / f).is_file() for f in spec.files):
            return directory
    if not download:
        raise DatasetNotFound(_not_found(spec, dirs, "download=False"))
    try:
        spec.install(remote, cache)
    except Exception as err:
        reason = " ".join(f"{type(err).__name__}: {err}".split())
        reason = reason if len(reason) <= 200 else reason[:197] + "..."
        raise DatasetNotFound(
            _not_found(spec, dirs, f"the download from {remote.base_url} failed ({reason})")
        ) from None
    return cache / spec.subdir


def _not_found(spec: _Spec, dirs: list[Path], reason: str) -> str:
    searched = ", ".join(str(d) for d in dirs)
    return (
        f"{spec.title} is not in any of {searched} and {reason}; put {spec.hint} in one of these directories "
        f"or in a directory named by ${ENV_VAR}."
    )


def _retrieve(url: str, known_hash: str | None, directory: Path) -> Path:
    """Downloads ``url`` into ``directory`` unless a file with the right hash is there; checks the hash."""
    downloader = _copy_file_url if url.startswith("file:") else None
    fname = url.rsplit("/", 1)[-1]
    path = pooch.retrieve(url, known_hash, fname=fname, path=directory, downloader=downloader, progressbar=True)
    return Path(path)


def _copy_file_url(url: str, output_file: str, pooch_obj: object, check_only: bool = False) -> bool | None:
    source = Path(url2pathname(urlparse(url).path))
    if check_only:
        return source.is_file()
    shutil.copyfile(source, output_file)
    return None


def _install_fashion_mnist(remote: Remote, cache: Path) -> None:
    for name, known_hash in remote.files.items():
        _retrieve(remote.url(name), known_hash, cache / "fashion-mnist")


def _install_cifar10(remote: Remote, cache: Path) -> None:
    ((name, known_hash),) = remote.files.items()
    archive = _retrieve(remote.url(name), known_hash, cache)
    target = cache / "cifar-10-batches-py"
    partial = cache / "cifar-10-batches-py.partial"
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    with tarfile.open(archive, "r:gz") as tar:
        for fname in CIFAR10_FILES:
            member = tar.extractfile(f"cifar-10-batches-py/{fname}")
            if member is None:
                raise DatasetError(f"{archive}: cifar-10-batches-py/{fname} is not a regular file")
            (partial / fname).write_bytes(member.read())
    shutil.rmtree(target, ignore_errors=True)
    partial.rename(target)
    archive.unlink()


_SPECS: dict[str, _Spec] = {
    "fashion-mnist": _Spec(
        "Fashion-MNIST",
        "fashion-mnist",
        FASHION_MNIST_FILES,
        ", ".join(FASHION_MNIST_FILES),
        FASHION_MNIST_REMOTE,
        _install_fashion_mnist,
        read_fashion_mnist,
    ),
    "cifar10": _Spec(
        "CIFAR-10",
        "cifar-10-batches-py",
        CIFAR10_FILES,
        "the cifar-10-batches-py files (data_batch_1 to data_batch_5, test_batch, batches.meta)",
        CIFAR10_REMOTE,
        _install_cifar10,
        read_cifar10,
    ),
}
