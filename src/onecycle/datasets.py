"""Datasets: finding, downloading, reading and validating them, held in memory as uint8 tensors.

:func:`load_dataset` returns ``(train, test)`` :class:`ImageData` for ``"fashion-mnist"``, ``"cifar10"``
and ``"digits"``. Files are looked for, in order, in ``data_dir``, ``$ONECYCLE_DATA``, the user cache
(``~/.cache/onecycle`` on Linux) and ``/usr/share/datasets``; each may hold the files directly or in a
subdirectory named after the dataset (``fashion-mnist/``, ``cifar-10-batches-py/``). Missing files are
downloaded into the cache and checked against their published checksums; a ``data_dir`` given is the only
place looked in. A dataset that cannot be found or downloaded raises :class:`DatasetNotFound`; a file that is
there but wrong raises :class:`DatasetError`, naming the file.

The readers trust no file: an IDX file is checked against its header while it is decompressed (never more than
its header declares, and never more than :data:`IDX_MAX_BYTES`), and a CIFAR-10 pickle is read by an unpickler
that builds numpy arrays of plain numbers only, within :data:`PICKLE_MAX_ARRAY_BYTES`, after checking its opcodes.
"""

from __future__ import annotations

import gzip
import io
import logging
import math
import os
import pickle
import pickletools
import re
import shutil
import struct
import tarfile
import warnings
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
IDX_MAX_BYTES = 256 << 20  # the Fashion-MNIST training images are 47 MB
DEFLATE_MAX_RATIO = 1032  # deflate expands a byte to at most this many
CIFAR_BATCH_IMAGES = 10_000  # images per CIFAR-10 batch file
CIFAR_IMAGE_BYTES = 3 * 32 * 32
PICKLE_MAX_BYTES = 64 << 20  # a CIFAR-10 batch file is 31 MB
PICKLE_MAX_OPCODES = 1_000_000  # a batch is about 30,000: the labels, the file names, one array
PICKLE_MAX_ARRAY_BYTES = CIFAR_BATCH_IMAGES * CIFAR_IMAGE_BYTES + (1 << 20)  # all arrays of one file together


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
    source: str = ""  # where it was read from: a directory, or scikit-learn

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
    train, test = spec.read(directory)
    return replace(train, source=str(directory)), replace(test, source=str(directory))


def missing(
    name: str,
    data_dir: str | Path | None = None,
    download: bool = True,
    *,
    cache_dir: str | Path | None = None,
    system_dirs: Sequence[str | Path] | None = None,
) -> str | None:
    """Why dataset ``name`` is not on this machine, where :func:`load_dataset` would look for it (and whether it
    would download it); ``None`` when its files are there or it needs none. Nothing is read or downloaded."""
    absent = _absence(name, data_dir, download, cache_dir, system_dirs)
    return None if absent is None else absent[0]


def unobtainable(
    name: str,
    data_dir: str | Path | None = None,
    download: bool = True,
    *,
    cache_dir: str | Path | None = None,
    system_dirs: Sequence[str | Path] | None = None,
) -> str | None:
    """Why :func:`load_dataset` would fail to find dataset ``name`` without trying a download: it is not where it
    would look and it would not download it (``download`` off, or a ``data_dir`` given: the one place looked in).
    ``None`` when it is there or would be downloaded. Nothing is read or downloaded."""
    absent = _absence(name, data_dir, download, cache_dir, system_dirs)
    return None if absent is None or absent[1] else absent[0]


def _absence(name: str, data_dir: str | Path | None, download: bool, cache_dir: str | Path | None,
             system_dirs: Sequence[str | Path] | None) -> tuple[str, bool] | None:
    """Why dataset ``name`` is not on this machine and whether :func:`load_dataset` would download it; ``None``
    when its files are there or it needs none."""
    if name not in _SPECS:
        return None
    spec = _SPECS[name]
    cache = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    if data_dir is not None:
        try:
            _in_data_dir(spec, Path(data_dir).expanduser())
        except DatasetNotFound as err:
            return str(err), False
        return None
    dirs = _candidate_dirs(spec.subdir, cache, SYSTEM_DIRS if system_dirs is None else system_dirs)
    if _first_complete(spec, dirs) is not None:
        return None
    if download:
        return (f"{spec.title} is not in any of {', '.join(str(d) for d in dirs)}; it would be downloaded from "
                f"{spec.remote.base_url} first"), True
    return _not_found(spec, dirs, "download is off"), False


def read_idx(path: str | Path, magic: int, max_bytes: int = IDX_MAX_BYTES) -> np.ndarray:
    """The uint8 array in a gzipped IDX file, after checking its magic number and its length.

    The file is decompressed a chunk at a time and checked against its header as it goes: a header that
    declares more than ``max_bytes`` of data, or more than the compressed file can hold, is refused before
    anything is decompressed, and a stream longer than its header says is refused after one byte too many.
    """
    path = Path(path)
    try:
        compressed = path.stat().st_size
        with gzip.open(path, "rb") as f:
            return _read_idx_stream(path, f, magic, max_bytes, compressed)
    except FileNotFoundError:
        raise DatasetError(f"{path}: file is missing") from None
    except PermissionError as err:
        raise DatasetError(f"{path}: cannot be read ({err.strerror})") from None
    except (OSError, EOFError, zlib.error) as err:
        raise DatasetError(f"{path}: not a complete gzip file ({err})") from None


def _read_exactly(f: Any, n: int) -> bytes:
    """Up to ``n`` bytes of ``f``: fewer only at its end."""
    parts, got = [], 0
    while got < n:
        part = f.read(min(n - got, 1 << 20))
        if not part:
            break
        parts.append(part)
        got += len(part)
    return b"".join(parts)


def _read_idx_stream(path: Path, f: Any, magic: int, max_bytes: int, compressed: int) -> np.ndarray:
    start = _read_exactly(f, 4)
    if len(start) < 4:
        raise DatasetError(f"{path}: truncated, {len(start)} bytes is shorter than the IDX header")
    found = int.from_bytes(start, "big")
    if found != magic:
        raise DatasetError(f"{path}: magic number is {found}, expected {magic}")
    ndim = start[3]
    dims_raw = _read_exactly(f, 4 * ndim)
    if len(dims_raw) < 4 * ndim:
        raise DatasetError(f"{path}: truncated inside the IDX header")
    dims = struct.unpack(f">{ndim}I", dims_raw)
    header, size = 4 + 4 * ndim, math.prod(dims)
    shape = "x".join(str(d) for d in dims)
    if size > max_bytes:
        raise DatasetError(f"{path}: the header declares {shape} = {size} bytes of data, more than the "
                           f"{max_bytes} bytes this reader accepts from a file")
    if header + size > compressed * DEFLATE_MAX_RATIO + (1 << 16):
        raise DatasetError(f"{path}: the header declares {shape} = {size} bytes of data, more than a gzip file "
                           f"of {compressed} bytes can hold")
    data = bytearray()
    while len(data) < size:  # grows with what is really there, never to the declared size at once
        part = f.read(min(size - len(data), 1 << 20))
        if not part:
            raise DatasetError(f"{path}: truncated, {header + len(data)} bytes but the header {dims} implies "
                               f"{header + size}")
        data += part
    if f.read(1):
        raise DatasetError(f"{path}: has trailing bytes after the {header + size} the header {dims} implies")
    return np.frombuffer(data, dtype=np.uint8).reshape(dims)


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
    try:
        classes = tuple(n.decode() if isinstance(n, bytes) else n for n in names)
    except UnicodeDecodeError:
        raise DatasetError(f"{meta_path}: a label name is not UTF-8 text") from None
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
    source = "scikit-learn (sklearn.datasets.load_digits)"
    images = np.rint(bunch.images * (255 / 16)).astype(np.uint8)[:, None]
    labels = bunch.target.astype(np.int64)
    train, test = train_test_split(np.arange(len(labels)), test_size=test_size, random_state=seed, stratify=labels)
    classes = tuple(str(d) for d in range(10))
    return (
        replace(_image_data(images[train], labels[train], classes, "digits"), source=source),
        replace(_image_data(images[test], labels[test], classes, "digits"), source=source),
    )


def _image_data(images: np.ndarray, labels: np.ndarray, classes: tuple[str, ...], name: str) -> ImageData:
    images = np.require(images, np.uint8, ["C", "W"])
    labels = np.require(labels, np.int64, ["C", "W"])
    return ImageData(torch.from_numpy(images), torch.from_numpy(labels), classes, name)


def _read_idx_split(directory: Path, prefix: str) -> ImageData:
    images_path = directory / f"{prefix}-images-idx3-ubyte.gz"
    labels_path = directory / f"{prefix}-labels-idx1-ubyte.gz"
    images = read_idx(images_path, IDX_IMAGES_MAGIC)
    if images.shape[1:] != (28, 28):
        raise DatasetError(f"{images_path}: images are {images.shape[1]}x{images.shape[2]}, expected 28x28")
    if len(images) == 0:
        raise DatasetError(f"{images_path}: holds no images")
    labels = read_idx(labels_path, IDX_LABELS_MAGIC)
    if len(images) != len(labels):
        raise DatasetError(f"{labels_path}: {len(labels)} labels for {len(images)} images in {images_path.name}")
    if labels.size and labels.max() > 9:
        raise DatasetError(f"{labels_path}: label {labels.max()} is outside 0..9")
    return _image_data(images[:, None], labels, FASHION_MNIST_CLASSES, "fashion-mnist")


def _read_cifar_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Images ``(n, 3, 32, 32)`` and labels of one batch file, checked against the format: a dict whose b'data' is
    a uint8 array of 1 to 10,000 rows of 3072 pixels and whose b'labels' are as many integers in 0..9."""
    batch = _unpickle(path)
    if not isinstance(batch, dict) or b"data" not in batch or b"labels" not in batch:
        raise DatasetError(f"{path}: expected a dict with keys b'data' and b'labels'")
    data = batch[b"data"]
    if not (isinstance(data, np.ndarray) and data.dtype == np.uint8 and data.ndim == 2 and data.shape[1] == 3072
            and 1 <= data.shape[0] <= CIFAR_BATCH_IMAGES):
        desc = f"{data.dtype} {data.shape}" if isinstance(data, np.ndarray) else type(data).__name__
        raise DatasetError(f"{path}: b'data' must be a uint8 array of shape (n, 3072) with n from 1 to "
                           f"{CIFAR_BATCH_IMAGES}, got {desc}")
    data = data.view(np.ndarray)
    labels = _cifar_labels(path, batch[b"labels"])
    if labels.shape != (len(data),):
        raise DatasetError(f"{path}: {labels.size} labels for {len(data)} images")
    return data.reshape(-1, 3, 32, 32), labels


def _cifar_labels(path: Path, labels: Any) -> np.ndarray:
    """The b'labels' of a batch as int64, after checking that they are a flat list (or integer array) of
    integers in 0..9: a float (1.7) or a huge number is an error, never rounded or wrapped."""
    if isinstance(labels, np.ndarray):
        if labels.ndim != 1 or labels.dtype.kind not in "iu":
            raise DatasetError(f"{path}: b'labels' must be integers in 0..9, got a {labels.dtype} array of shape "
                               f"{labels.shape}")
        values: Sequence[Any] = labels.tolist()
    elif isinstance(labels, list):
        values = labels
    else:
        raise DatasetError(f"{path}: b'labels' must be a list of integers in 0..9, got {type(labels).__name__}")
    for i, v in enumerate(values):
        if not (type(v) is int or isinstance(v, np.integer)):  # not bool, not float: 1.7 is no class
            raise DatasetError(f"{path}: label {i} is a {type(v).__name__}, expected an integer in 0..9")
        if not 0 <= v <= 9:
            shown = str(v) if abs(v) < 10**12 else f"about 2**{int(v).bit_length() - 1}"
            raise DatasetError(f"{path}: label {i} is {shown}, outside 0..9")
    return np.array(values, dtype=np.int64).reshape(-1)


class _ArrayClass:
    """Stands for ``numpy.ndarray`` in a pickle, which names it as the class :func:`_reconstruct` builds. Called
    itself (``ndarray(shape)`` allocates any shape at once), it refuses."""

    def __new__(cls, *args: Any, **kwargs: Any) -> Any:
        raise pickle.UnpicklingError("refusing to call numpy.ndarray: arrays are rebuilt from their bytes only")


_DTYPE_NAME = re.compile(r"b1|[iu][1248]|f[48]")


class _Dtype:
    """``numpy.dtype`` as a pickle builds it: only a plain number type (``u1``, ``i8``, ``f4``...) in some byte
    order, never a structured, object or sub-array type. :attr:`dtype` is the real one."""

    def __init__(self, name: Any, align: Any = False, copy: Any = True) -> None:
        name = name.decode("ascii", "replace") if isinstance(name, bytes) else name
        if not (isinstance(name, str) and _DTYPE_NAME.fullmatch(name)):
            raise pickle.UnpicklingError(f"refusing numpy dtype {str(name)[:20]!r}: only plain numbers are allowed")
        self.dtype = np.dtype(name)

    def __setstate__(self, state: Any) -> None:
        order = state[1] if isinstance(state, tuple) and len(state) in (8, 9) else None
        order = order.decode("ascii", "replace") if isinstance(order, bytes) else order
        if order not in ("<", ">", "|", "=") or any(v is not None for v in state[2:5]):
            raise pickle.UnpicklingError("refusing a numpy dtype state other than a plain number's byte order")
        self.dtype = self.dtype.newbyteorder(order) if order in "<>" else self.dtype


def _dtype_of(value: Any) -> np.dtype:
    if not isinstance(value, _Dtype) or not hasattr(value, "dtype"):
        raise pickle.UnpicklingError("refusing an array whose dtype is not a plain number type")
    return value.dtype


class _SafeArray(np.ndarray):
    """The array :func:`_reconstruct` hands the unpickler, empty until its state is set: the state's shape,
    dtype and bytes are checked (bytes that fill the shape exactly, within the budget of the file) before numpy
    sees them."""

    budget: list[int]  # bytes the file may still build, shared by its arrays

    def __setstate__(self, state: Any) -> None:
        if not (isinstance(state, tuple) and len(state) in (4, 5)):
            raise pickle.UnpicklingError("refusing an array state of an unknown form")
        version, (shape, dtype, fortran, raw) = (state[0] if len(state) == 5 else 1), state[-4:]
        dtype = _dtype_of(dtype)
        _check_array(shape, dtype, raw, self.budget)
        super().__setstate__((version, shape, dtype, bool(fortran), raw))


def _check_array(shape: Any, dtype: np.dtype, raw: Any, budget: list[int]) -> None:
    """Raise ``UnpicklingError`` unless ``raw`` (bytes) holds exactly a ``shape`` array of ``dtype`` and fits in
    what is left of ``budget``, which it then uses up."""
    if not (isinstance(shape, tuple) and len(shape) <= 8
            and all(type(d) is int and d >= 0 for d in shape)):
        raise pickle.UnpicklingError("refusing an array whose shape is not a tuple of sizes")
    nbytes = math.prod(shape) * dtype.itemsize
    if nbytes > budget[0]:
        raise pickle.UnpicklingError(f"refusing an array of {nbytes} bytes, shape {shape}: more than a CIFAR-10 "
                                     f"batch holds ({PICKLE_MAX_ARRAY_BYTES} bytes in all)")
    if not isinstance(raw, (bytes, bytearray)) or len(raw) != nbytes:
        raise pickle.UnpicklingError(f"refusing an array of shape {shape} whose data is not its {nbytes} bytes")
    budget[0] -= nbytes


def _unpickling_globals(budget: list[int]) -> dict[tuple[str, str], Any]:
    """The globals a pickle of numpy arrays names, each checking what it is given; ``budget``: the bytes its
    arrays may hold in all."""

    def reconstruct(cls: Any, shape: Any, typecode: Any) -> np.ndarray:
        if cls is not _ArrayClass or shape != (0,):
            raise pickle.UnpicklingError("refusing numpy _reconstruct of anything but an empty ndarray")
        array = np.ndarray.__new__(_SafeArray, (0,), np.uint8)
        array.budget = budget
        return array

    def scalar(dtype: Any, raw: Any = b"") -> Any:
        dtype = _dtype_of(dtype)
        _check_array((), dtype, raw, budget)
        return np.frombuffer(raw, dtype)[0]

    def frombuffer(buf: Any, dtype: Any, shape: Any, order: Any) -> np.ndarray:
        dtype = _dtype_of(dtype)
        _check_array(shape, dtype, bytes(buf) if isinstance(buf, pickle.PickleBuffer) else buf, budget)
        return np.frombuffer(buf, dtype).reshape(shape, order="F" if order == "F" else "C")

    cores = ("numpy.core", "numpy._core")
    return {
        ("numpy", "ndarray"): _ArrayClass,
        ("numpy", "dtype"): _Dtype,
        **{(f"{core}.multiarray", "_reconstruct"): reconstruct for core in cores},
        **{(f"{core}.multiarray", "scalar"): scalar for core in cores},
        **{(f"{core}.numeric", "_frombuffer"): frombuffer for core in cores},
    }


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Resolves only the globals numpy arrays are rebuilt from, each replaced by a checked stand-in; anything
    else (os.system, ...) is refused."""

    def __init__(self, file: Any) -> None:
        super().__init__(file, encoding="bytes")
        self.globals = _unpickling_globals([PICKLE_MAX_ARRAY_BYTES])

    def find_class(self, module: str, name: str) -> Any:
        try:
            return self.globals[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(f"refusing to load {module[:60]}.{name[:60]}") from None


_MEMO_PUTS = frozenset({"PUT", "BINPUT", "LONG_BINPUT"})


def _check_opcodes(raw: bytes) -> None:
    """Raise ``UnpicklingError`` for a pickle that no CIFAR-10 batch is: more than :data:`PICKLE_MAX_OPCODES`
    opcodes, or a memo index past the objects built so far (the unpickler would size its memo to it: 2**31
    entries from five bytes). Structural damage raises ``ValueError`` from :func:`pickletools.genops`."""
    for count, (opcode, arg, _) in enumerate(pickletools.genops(raw), 1):
        if count > PICKLE_MAX_OPCODES:
            raise pickle.UnpicklingError(f"more than {PICKLE_MAX_OPCODES} pickle opcodes")
        if opcode.name in _MEMO_PUTS and not (isinstance(arg, int) and 0 <= arg < count):
            raise pickle.UnpicklingError(f"memo index {str(arg)[:20]} at opcode {count}")


def _unpickle(path: Path) -> Any:
    """The object pickled in ``path``, read by :class:`_NumpyOnlyUnpickler` from at most
    :data:`PICKLE_MAX_BYTES` after :func:`_check_opcodes`; every failure is one :class:`DatasetError`."""
    try:
        with open(path, "rb") as f:
            raw = f.read(PICKLE_MAX_BYTES + 1)
    except FileNotFoundError:
        raise DatasetError(f"{path}: file is missing") from None
    except OSError as err:
        raise DatasetError(f"{path}: cannot be read ({err.strerror or err})") from None
    if len(raw) > PICKLE_MAX_BYTES:
        raise DatasetError(f"{path}: larger than {PICKLE_MAX_BYTES >> 20} MiB, which no CIFAR-10 batch file is")
    try:
        with warnings.catch_warnings():  # a text opcode's bad escape: the pickle is refused or read all the same
            warnings.simplefilter("ignore", DeprecationWarning)
            _check_opcodes(raw)
            return _NumpyOnlyUnpickler(io.BytesIO(raw)).load()
    except pickle.UnpicklingError as err:
        raise DatasetError(
            f"{path}: not a CIFAR-10 pickle ({err}); only numpy arrays of numbers, lists and bytes are allowed"
        ) from None
    except (EOFError, ValueError, TypeError, AttributeError, IndexError, KeyError, OverflowError,
            RecursionError) as err:
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


def _candidate_dirs(subdir: str, cache: Path, system_dirs: Sequence[str | Path]) -> list[Path]:
    """Where a dataset is looked for when no ``data_dir`` is given, in order."""
    dirs: list[Path] = []
    root = os.environ.get(ENV_VAR)
    if root:
        dirs += [Path(root).expanduser(), Path(root).expanduser() / subdir]
    dirs.append(cache / subdir)
    dirs += [Path(d) / subdir for d in system_dirs]
    return list(dict.fromkeys(dirs))


def _first_complete(spec: _Spec, dirs: Sequence[Path]) -> Path | None:
    """The first of ``dirs`` that holds every file of ``spec``."""
    return next((d for d in dirs if all((d / f).is_file() for f in spec.files)), None)


def _locate(
    spec: _Spec,
    data_dir: str | Path | None,
    download: bool,
    cache: Path,
    system_dirs: Sequence[str | Path],
    remote: Remote,
) -> Path:
    if data_dir is not None:  # the user's: there or nowhere, never another copy found elsewhere
        return _in_data_dir(spec, Path(data_dir).expanduser())
    dirs = _candidate_dirs(spec.subdir, cache, system_dirs)
    found = _first_complete(spec, dirs)
    if found is not None:
        return found
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


def _in_data_dir(spec: _Spec, root: Path) -> Path:
    """The directory, ``root`` or its subdirectory named after the dataset, that holds every file of ``spec``;
    :class:`DatasetNotFound` naming what is missing where when neither does."""
    if not root.is_dir():
        problem = "is not a directory" if root.exists() else "does not exist"
        raise DatasetNotFound(f"data_dir {root} {problem}; give the directory that holds {spec.hint}, or leave "
                              f"out data_dir to search ${ENV_VAR}, the cache and the system directories.")
    tried = []
    for directory in (root, root / spec.subdir):
        missing = [f for f in spec.files if not (directory / f).is_file()]
        if not missing:
            return directory
        tried.append((len(missing), directory, missing))
    _, directory, missing = min(tried, key=lambda t: t[0])  # the closer of the two
    raise DatasetNotFound(f"{spec.title} is not complete in data_dir {root}: {directory} lacks {', '.join(missing)}; "
                          f"put {spec.hint} there (data_dir is the only place looked in when it is given; leave it "
                          f"out to search ${ENV_VAR}, the cache and the system directories, and download).")


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
