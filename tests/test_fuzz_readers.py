"""Generated bad inputs (hypothesis) for the three readers of untrusted bytes: the settings parser (TOML files and
config.json values), the IDX reader and the CIFAR-10 reader. Every input is bad by construction and must end in
the project's own error (:class:`ConfigError`, :class:`DatasetError` naming the file) within a memory cap and a
time limit; a few hundred each, every run. Inputs that may or may not be bad (random bytes flipped in a good
file) must end in that error or in data of the right shape."""

from __future__ import annotations

import datetime
import gzip
import json
import math
import os
import pickle
import struct
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from benchmarks.robustness import cifar_batch, idx_bytes, write_cifar, write_fashion
from onecycle.config import CHOICES, FIELDS, ConfigError, RunConfig, build_config, field_type, from_dict
from onecycle.datasets import CIFAR10_FILES, FASHION_MNIST_FILES, DatasetError, read_cifar10, read_fashion_mnist
from tests.limits import memory_cap, time_limit

EXAMPLES = int(os.environ.get("ONECYCLE_FUZZ_EXAMPLES", 250))  # more for a longer hunt
FUZZ = settings(max_examples=EXAMPLES, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
HEADROOM = 1 << 30  # every input below is a few MB at most: a reader that allocates a GiB has been fooled
SECONDS = 20  # per input; none should take a second


def _guarded(fn, *args):
    with memory_cap(HEADROOM), time_limit(SECONDS):
        return fn(*args)


# ------------------------------------------------------------------------------------------- the settings


def _toml(value) -> str:
    """``value`` as a TOML value."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf") if math.isinf(value) else repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, (datetime.date, datetime.datetime)):
        return value.isoformat()
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(k)} = {_toml(v)}" for k, v in value.items()) + "}"
    raise AssertionError(value)


_TEXT = st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=30)
_INT64 = st.integers(-(2**63), 2**63 - 1)
_SCALARS = st.one_of(st.booleans(), _INT64, st.floats(), _TEXT, st.dates())
_ANY = st.recursive(_SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                      st.dictionaries(_TEXT, inner, max_size=3)), max_leaves=8)
_NON_FINITE = st.sampled_from([math.inf, -math.inf, math.nan])


def _not(kinds):
    """Values of none of the Python types ``kinds``."""
    return _ANY.filter(lambda v: not isinstance(v, kinds) or (isinstance(v, bool) and bool not in kinds))


def _bad_value(key: str):
    """Values that setting ``key`` refuses, whatever the other settings are."""
    kind, _ = field_type(key)
    if kind is bool:
        return _not((bool,))
    if kind is int:
        huge = st.one_of(st.integers(2**31, 2**63 - 1), st.integers(-(2**63), -(2**31)))
        return st.one_of(_not((int,)).filter(lambda v: v is not None), st.booleans(), huge)
    if kind is float:
        negative = st.floats(max_value=-1e-3, allow_nan=False, allow_infinity=False)
        wrong = _not((int, float)).filter(lambda v: v is not None)
        return st.one_of(wrong, st.booleans(), _NON_FINITE, negative)
    if kind is str:
        wrong = _not((str,)).filter(lambda v: v is not None)
        if key == "data_dir":
            return st.one_of(wrong, st.sampled_from(["", " ", "\t"]))
        if key == "device":
            odd = _TEXT.filter(lambda s: s.split(":")[0] not in ("auto", "cpu", "cuda", "mps"))
            return st.one_of(wrong, odd)
        return st.one_of(wrong, _TEXT.filter(lambda s: s not in CHOICES[key]))
    if kind is list:
        wrong = _not((list,)).filter(lambda v: v is not None)
        return st.one_of(wrong, st.just([]), st.lists(_not((int, float)), min_size=1, max_size=4),
                         st.lists(_NON_FINITE, min_size=1, max_size=3))
    raise AssertionError(key)


_KEYS = sorted(FIELDS)
_BAD_SETTING = st.sampled_from(_KEYS).flatmap(lambda key: st.tuples(st.just(key), _bad_value(key)))
_UNKNOWN_SETTING = st.tuples(_TEXT.filter(lambda k: k not in FIELDS and k != "onecycle"), _ANY)
_GOOD = {"seed": 3, "epochs": 2, "dataset": "digits", "momentum": 0.8, "verify": True, "sweep_values": [1e-3, 1e-4]}


@st.composite
def bad_settings(draw):
    """A dict of settings with one (or more) that no run can have, and where it goes: a TOML file (top level or
    under [onecycle]) or config.json values."""
    good = draw(st.dictionaries(st.sampled_from(sorted(_GOOD)), st.just(None), max_size=3))
    values = {k: _GOOD[k] for k in good}
    bad = draw(st.lists(st.one_of(_BAD_SETTING, _UNKNOWN_SETTING), min_size=1, max_size=3))
    values.update(dict(bad))
    return values, draw(st.sampled_from(["toml", "table", "dict"]))


_NOT_A_TABLE = _ANY.filter(lambda v: not isinstance(v, dict))


def _write_toml(path: Path, values: dict, table: bool) -> None:
    lines = [f"{json.dumps(k, ensure_ascii=False)} = {_toml(v)}" for k, v in values.items()]
    path.write_text(("[onecycle]\n" if table else "") + "\n".join(lines) + "\n", encoding="utf-8")


@FUZZ
@given(bad_settings())
def test_settings_that_no_run_can_have_are_one_config_error(case):
    values, where = case
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "c.toml"
        _write_toml(path, values, where == "table")
        with pytest.raises(ConfigError) as info:
            _guarded(build_config, None if where == "dict" else path, values if where == "dict" else None)
    assert "\n" not in str(info.value)


@FUZZ
@given(st.one_of(
    st.binary(max_size=300).map(lambda b: b"\xff" + b),  # never UTF-8
    st.builds(lambda v: f"onecycle = {_toml(v)}\n".encode(), _NOT_A_TABLE),  # onecycle not a table
    st.integers(1, 200_000).map(lambda n: b"seed = " + b"[" * n + b"]" * n),  # nested deeper than a parser goes
    st.text(max_size=200).map(lambda t: ("= " + t).encode()),  # a value without a key
    st.integers(4301, 20_000).map(lambda n: b"seed = 1" + b"0" * n),  # more digits than Python converts
    st.integers((1 << 20) + 1, 3 << 20).map(lambda n: b"#" * n),  # larger than a settings file
))
def test_settings_files_that_are_not_settings_are_one_config_error(raw):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "c.toml"
        path.write_bytes(raw)
        with pytest.raises(ConfigError) as info:
            _guarded(build_config, path)
    assert str(path) in str(info.value) or "seed" in str(info.value)


@settings(max_examples=max(100, EXAMPLES // 2), deadline=None, database=None)
@given(st.dictionaries(st.sampled_from(_KEYS), _ANY, max_size=4))
def test_whatever_the_parser_accepts_is_a_run_it_can_build(values):
    try:
        cfg = _guarded(from_dict, values)
    except ConfigError:
        return
    assert isinstance(cfg, RunConfig)
    for key, value in cfg.to_dict().items():
        if isinstance(value, float):
            assert math.isfinite(value), key
        if isinstance(value, int) and not isinstance(value, bool):
            assert abs(value) < 2**31, key


# ------------------------------------------------------------------------------------------------- IDX files

_MAGIC = {name: 2051 if "images" in name else 2049 for name in FASHION_MNIST_FILES}


def _gz(raw: bytes) -> bytes:
    return gzip.compress(raw, compresslevel=1, mtime=0)


_ZEROS_MEMBER = gzip.compress(bytes(16 << 20), compresslevel=9, mtime=0)  # 16 MiB of zeros in 16 kB


@st.composite
def bad_idx(draw, magic: int):
    """The bytes of a file that is no valid IDX file with ``magic``, and what is wrong with it."""
    ndim = magic & 0xFF
    kind = draw(st.sampled_from(["magic", "size", "header", "zeros", "declared", "truncated gzip", "not gzip",
                                 "shape", "labels"]))
    small_dims = st.lists(st.integers(0, 40), min_size=ndim, max_size=ndim)
    if kind == "magic":
        wrong = draw(st.integers(0, 2**32 - 1).filter(lambda m: m != magic))
        return kind, _gz(struct.pack(">I", wrong) + draw(st.binary(max_size=64)))
    if kind == "size":  # the data is not as long as the header says
        dims = draw(small_dims)
        size = draw(st.integers(0, 2000).filter(lambda n: n != math.prod(dims)))
        return kind, _gz(struct.pack(f">I{ndim}I", magic, *dims) + bytes(size))
    if kind == "header":  # cut inside the header
        return kind, _gz(struct.pack(">I", magic) + draw(st.binary(max_size=4 * ndim - 1)))
    if kind == "zeros":  # a good file, then up to 4 GiB of zeros
        dims = draw(small_dims)
        members = draw(st.integers(1, 256))
        return kind, _gz(struct.pack(f">I{ndim}I", magic, *dims) + bytes(math.prod(dims))) + _ZEROS_MEMBER * members
    if kind == "declared":  # a header declaring up to 2**96 bytes in a small file
        dims = draw(st.lists(st.integers(2**20, 2**32 - 1), min_size=ndim, max_size=ndim))
        return kind, _gz(struct.pack(f">I{ndim}I", magic, *dims) + draw(st.binary(max_size=1000)))
    if kind == "truncated gzip":
        dims = draw(small_dims)
        raw = _gz(struct.pack(f">I{ndim}I", magic, *dims) + bytes(math.prod(dims)))
        return kind, raw[: draw(st.integers(0, len(raw) - 1))]
    if kind == "not gzip":
        return kind, draw(st.binary(max_size=200).filter(lambda b: not b.startswith(b"\x1f\x8b")))
    if kind == "shape" and ndim == 3:  # images that are not 28x28
        h, w = draw(st.tuples(st.integers(0, 40), st.integers(0, 40)).filter(lambda s: s != (28, 28)))
        return kind, _gz(idx_bytes(np.zeros((draw(st.integers(1, 3)), h, w), np.uint8), magic))
    # labels: some beyond 9 (or, for images, none at all)
    if ndim == 3:
        return "no images", _gz(idx_bytes(np.zeros((0, 28, 28), np.uint8), magic))
    labels = draw(st.lists(st.integers(0, 255), min_size=1, max_size=64).filter(lambda v: max(v) > 9))
    return kind, _gz(idx_bytes(np.array(labels), magic))


@FUZZ
@given(st.sampled_from(FASHION_MNIST_FILES).flatmap(lambda name: st.tuples(st.just(name), bad_idx(_MAGIC[name]))))
def test_bad_idx_files_are_one_dataset_error_naming_the_file(case):
    name, (kind, raw) = case
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        write_fashion(directory, n_train=4, n_test=4)
        (directory / name).write_bytes(raw)
        if kind == "labels" and name.endswith("labels-idx1-ubyte.gz"):  # as many images as labels
            n = len(gzip.decompress(raw)) - 8
            prefix = name.split("-")[0]
            (directory / f"{prefix}-images-idx3-ubyte.gz").write_bytes(
                _gz(idx_bytes(np.ones((n, 28, 28), np.uint8), 2051)))
        with pytest.raises(DatasetError) as info:
            _guarded(read_fashion_mnist, directory)
    assert name in str(info.value), (kind, str(info.value))


def _change_bytes(path, changes):
    """Set the byte at each offset (modulo the file's length) of ``changes`` to its value."""
    raw = bytearray(path.read_bytes())
    for at, value in changes:
        raw[at % len(raw)] = value
    path.write_bytes(bytes(raw))


@settings(max_examples=max(100, EXAMPLES // 2), deadline=None, database=None)
@given(st.sampled_from(FASHION_MNIST_FILES), st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)),
                                                      min_size=1, max_size=4))
def test_idx_files_with_bytes_changed_read_right_or_fail_clearly(name, changes):
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        write_fashion(directory, n_train=4, n_test=4)
        _change_bytes(directory / name, changes)
        try:
            train, test = _guarded(read_fashion_mnist, directory)
        except DatasetError as err:
            assert name in str(err)
            return
    for data in (train, test):
        assert data.images.shape[1:] == (1, 28, 28) and len(data.labels) == len(data.images) >= 1
        assert int(data.labels.max()) <= 9


# ---------------------------------------------------------------------------------------------- CIFAR files

def _global(module: str, name: str) -> bytes:
    return f"c{module}\n{name}\n".encode()


_ALLOWED = {("numpy", "ndarray"), ("numpy", "dtype"), *((f"numpy.{c}.multiarray", n) for c in ("core", "_core")
                                                       for n in ("_reconstruct", "scalar")),
            *((f"numpy.{c}.numeric", "_frombuffer") for c in ("core", "_core"))}
_NAME = st.text("abcdefghijklmnopqrstuvwxyz_.", min_size=1, max_size=20).filter(lambda s: "\n" not in s)
_SHAPE = st.lists(st.integers(0, 2**31 - 1), min_size=1, max_size=3).map(tuple)


def _ints(values: tuple[int, ...]) -> bytes:
    return b"".join(b"J" + struct.pack("<i", v) for v in values)


_KEEP = object()


def _batch_with(data=_KEEP, labels=_KEEP, n: int = 3) -> dict:
    batch = cifar_batch(n)
    if data is not _KEEP:
        batch[b"data"] = data
    if labels is not _KEEP:
        batch[b"labels"] = labels
    return batch


_BAD_DATA = st.one_of(
    st.sampled_from([np.float32, np.int64, np.uint16, np.bool_, np.int8]).map(lambda t: np.zeros((3, 3072), t)),
    st.tuples(st.integers(0, 4), st.integers(0, 4000).filter(lambda w: w != 3072)).map(
        lambda s: np.zeros(s, np.uint8)),
    st.just(np.zeros((0, 3072), np.uint8)),
    st.just(np.zeros((3, 3072, 1), np.uint8)),
    st.lists(st.integers(0, 255), max_size=5),
    st.binary(max_size=50),
    st.none(),
)
_BAD_LABELS = st.one_of(
    st.lists(st.floats(allow_nan=True), min_size=3, max_size=3),  # 1.7 is no class
    st.lists(st.integers().filter(lambda v: not 0 <= v <= 9), min_size=3, max_size=3),
    st.lists(st.booleans(), min_size=3, max_size=3),
    st.lists(st.integers(0, 9), max_size=6).filter(lambda v: len(v) != 3),  # not one per image
    st.integers(1, 4).map(lambda depth: [[[0] * 3] * 3] * depth),  # nested, memo-shared
    st.lists(st.binary(max_size=3), min_size=3, max_size=3),
    st.just(np.array([0.5, 1.0, 2.0])),
    st.just(np.zeros((3, 1), np.int64)),
    st.none(),
)


@st.composite
def bad_cifar(draw):
    """The bytes of a file that no CIFAR-10 batch is, and what is wrong with it."""
    kind = draw(st.sampled_from(["random", "truncated", "data", "labels", "not a dict", "missing key", "global",
                                 "ndarray call", "reconstruct", "memo", "dtype state", "frombuffer", "shared labels"]))
    protocol = draw(st.integers(3, 5))
    if kind == "random":
        return kind, draw(st.binary(max_size=300))
    if kind == "truncated":
        raw = pickle.dumps(cifar_batch(3), protocol=protocol)
        return kind, raw[: draw(st.integers(0, len(raw) - 1))]
    if kind == "data":
        return kind, pickle.dumps(_batch_with(data=draw(_BAD_DATA)), protocol=protocol)
    if kind == "labels":
        return kind, pickle.dumps(_batch_with(labels=draw(_BAD_LABELS)), protocol=protocol)
    if kind == "not a dict":
        return kind, pickle.dumps(draw(st.one_of(st.lists(st.integers(), max_size=3), st.integers(), st.binary(),
                                                 st.none())), protocol=protocol)
    if kind == "missing key":
        batch = cifar_batch(3)
        del batch[draw(st.sampled_from([b"data", b"labels"]))]
        return kind, pickle.dumps(batch, protocol=protocol)
    if kind == "global":  # any other global, called
        module, name = draw(st.tuples(_NAME, _NAME).filter(lambda g: g not in _ALLOWED))
        return kind, b"\x80\x02" + _global(module, name) + b")R."
    if kind == "ndarray call":  # numpy.ndarray(shape): allocates any shape at once
        return kind, b"\x80\x02}(C\x04data" + _global("numpy", "ndarray") + b"(" + _ints(draw(_SHAPE)) + b"t\x85Ru."
    if kind == "reconstruct":  # numpy's _reconstruct(ndarray, shape, typecode) with any shape but (0,)
        shape = draw(_SHAPE.filter(lambda s: s != (0,)))
        return kind, (b"\x80\x02}(C\x04data" + _global("numpy.core.multiarray", "_reconstruct")
                      + _global("numpy", "ndarray") + b"(" + _ints(shape) + b"tC\x01B\x87Ru.")
    if kind == "memo":  # a memo index far past the objects built
        index = draw(st.integers(2, 2**32 - 1))
        return kind, b"\x80\x02N" + b"r" + struct.pack("<I", index) + b"."
    if kind == "dtype state":  # numpy.dtype('u1') given a structured or sub-array state
        state = draw(st.sampled_from([
            b"(K\x03C\x01|(C\x01aNtNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00t",
            b"(K\x03C\x01|NN}J\x00\x00\x00\x10J\x01\x00\x00\x00K\x00t",
            b"(K\x03C\x01<NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00K\x00K\x00t",
            b"N",
        ]))
        return kind, b"\x80\x02" + _global("numpy", "dtype") + b"C\x02u1\x89\x88\x87R" + state + b"b."
    if kind == "frombuffer":  # bytes that do not fill the shape
        shape, size = draw(_SHAPE), draw(st.integers(0, 100))
        dtype = _global("numpy", "dtype") + b"C\x02u1\x89\x88\x87R"
        return kind, (b"\x80\x02" + _global("numpy.core.numeric", "_frombuffer") + b"(C" + bytes([size])
                      + bytes(size) + dtype + b"(" + _ints(shape) + b"tC\x01CtR.")
    # labels: one list shared at every level, 10**(3 * depth) numbers when flattened
    width, depth = draw(st.integers(2, 1000)), draw(st.integers(2, 4))
    labels: list = [0] * width
    for _ in range(depth - 1):
        labels = [labels] * width
    return kind, pickle.dumps(_batch_with(labels=labels), protocol=protocol)


@FUZZ
@given(st.sampled_from(CIFAR10_FILES), bad_cifar())
def test_bad_cifar_files_are_one_dataset_error_naming_the_file(name, case):
    kind, raw = case
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        write_cifar(directory, per_batch=3)
        (directory / name).write_bytes(raw)
        with pytest.raises(DatasetError) as info:
            _guarded(read_cifar10, directory)
    assert name in str(info.value), (kind, str(info.value))


@settings(max_examples=max(100, EXAMPLES // 2), deadline=None, database=None)
@given(st.sampled_from(CIFAR10_FILES), st.lists(st.tuples(st.integers(0, 10**5), st.integers(0, 255)), min_size=1,
                                                max_size=4))
def test_cifar_files_with_bytes_changed_read_right_or_fail_clearly(name, changes):
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        write_cifar(directory, per_batch=3)
        _change_bytes(directory / name, changes)
        try:
            train, test = _guarded(read_cifar10, directory)
        except DatasetError as err:
            assert name in str(err)
            return
    for data in (train, test):
        assert data.images.shape[1:] == (3, 32, 32) and len(data.labels) == len(data.images) >= 1
        assert int(data.labels.min()) >= 0 and int(data.labels.max()) <= 9


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="no /proc: no cap")
def test_the_memory_cap_catches_what_these_tests_look_for():
    with pytest.raises(MemoryError), memory_cap(HEADROOM):
        bytearray(3 << 30)
