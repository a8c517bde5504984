"""Tests of saddlepoint.data: IDX and npz readers (files written here, no downloads),
preprocessing onto the sphere, the seeded stratified split, and error messages."""

import gzip
import struct

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from saddlepoint import data


def _idx_bytes(arr, code):
    """IDX encoding written independently of data.write_idx (struct + big-endian bytes)."""
    dt = {0x08: ">u1", 0x0B: ">i2", 0x0D: ">f4", 0x0E: ">f8"}[code]
    header = bytes([0, 0, code, arr.ndim]) + struct.pack(">" + "I" * arr.ndim, *arr.shape)
    return header + np.asarray(arr).astype(dt).tobytes()


@pytest.mark.parametrize("gz", [False, True])
def test_read_idx_matches_hand_written_files(tmp_path, rng, gz):
    images = rng.integers(0, 256, size=(7, 4, 4)).astype(np.uint8)
    labels = rng.integers(0, 3, size=7).astype(np.uint8)
    for name, arr, code in (("img", images, 0x08), ("lab", labels, 0x08)):
        raw = _idx_bytes(arr, code)
        (tmp_path / name).write_bytes(gzip.compress(raw) if gz else raw)
    assert_array_equal(data.read_idx(tmp_path / "img"), images)
    assert_array_equal(data.read_idx(tmp_path / "lab"), labels)


@pytest.mark.parametrize("dtype", [np.uint8, np.int16, np.float32, np.float64])
def test_write_read_idx_round_trip(tmp_path, rng, dtype):
    arr = (rng.standard_normal((3, 5, 2)) * 50).astype(dtype)
    for name in ("a-idx3-ubyte", "a-idx3-ubyte.gz"):
        data.write_idx(tmp_path / name, arr)
        back = data.read_idx(tmp_path / name)
        assert back.dtype == np.dtype(dtype)
        assert_array_equal(back, arr)
    # The writer's bytes equal the independent encoding.
    code = {np.uint8: 0x08, np.int16: 0x0B, np.float32: 0x0D, np.float64: 0x0E}[dtype]
    assert (tmp_path / "a-idx3-ubyte").read_bytes() == _idx_bytes(arr, code)


def test_read_idx_rejects_bad_files(tmp_path):
    (tmp_path / "bad").write_bytes(b"\x01\x02\x03\x04rest")
    with pytest.raises(ValueError, match="not an IDX file"):
        data.read_idx(tmp_path / "bad")
    (tmp_path / "short").write_bytes(_idx_bytes(np.zeros((2, 2), np.uint8), 0x08)[:-1])
    with pytest.raises(ValueError, match="expected 4"):
        data.read_idx(tmp_path / "short")
    with pytest.raises(FileNotFoundError, match="no such IDX file"):
        data.read_idx(tmp_path / "missing")


@pytest.mark.parametrize("style", ["fashion", "mnist-dot"])
def test_load_idx_directory(tmp_path, rng, style):
    sep = "-" if style == "fashion" else "."
    suffix = ".gz" if style == "fashion" else ""
    Xtr = rng.integers(1, 256, size=(12, 3, 3)).astype(np.uint8)
    ytr = np.repeat(np.arange(3), 4).astype(np.uint8) + 5  # labels 5, 6, 7 are re-encoded
    Xte = rng.integers(1, 256, size=(6, 3, 3)).astype(np.uint8)
    yte = np.repeat(np.arange(3), 2).astype(np.uint8) + 5
    for part, X, y in (("train", Xtr, ytr), ("t10k", Xte, yte)):
        data.write_idx(tmp_path / f"{part}-images{sep}idx3-ubyte{suffix}", X)
        data.write_idx(tmp_path / f"{part}-labels{sep}idx1-ubyte{suffix}", y)
    ds = data.load_dataset(f"idx:{tmp_path}")
    assert ds.image_shape == (3, 3)
    assert_array_equal(ds.X, Xtr.reshape(12, 9).astype(float))
    assert_array_equal(ds.classes[ds.y], ytr)
    assert_array_equal(ds.classes[ds.y_test], yte)
    split = data.train_test(ds)  # the predefined t10k set is kept
    assert split.X_test.shape == (6, 9)
    assert_allclose(np.linalg.norm(split.X_train, axis=1), 1.0, rtol=1e-14)


def test_load_idx_directory_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="data: no such directory"):
        data.load_dataset(f"idx:{tmp_path / 'nope'}")
    (tmp_path / "readme.txt").write_text("nothing here")
    with pytest.raises(FileNotFoundError, match="train-images"):
        data.load_dataset(f"idx:{tmp_path}")


def test_load_npz_both_layouts(tmp_path, rng):
    X = rng.random((40, 6)) + 0.1
    y = np.repeat(["a", "b"], 20)
    np.savez(tmp_path / "xy.npz", X=X, y=y)
    ds = data.load_dataset(f"npz:{tmp_path / 'xy.npz'}")
    assert ds.X_test is None and list(ds.classes) == ["a", "b"]
    split = data.train_test(ds, test_fraction=0.25, seed=3)
    assert split.X_train.shape == (30, 6) and split.X_test.shape == (10, 6)
    np.savez(tmp_path / "tt.npz", x_train=X[:30].reshape(30, 2, 3), y_train=y[:30],
             x_test=X[30:].reshape(10, 2, 3), y_test=y[30:])
    ds2 = data.load_dataset(f"npz:{tmp_path / 'tt.npz'}")
    assert ds2.image_shape == (2, 3)
    assert_array_equal(ds2.X_test, X[30:])
    np.savez(tmp_path / "bad.npz", features=X)
    with pytest.raises(ValueError, match="must hold arrays X and y"):
        data.load_dataset(f"npz:{tmp_path / 'bad.npz'}")
    with pytest.raises(FileNotFoundError, match="no such .npz"):
        data.load_dataset(f"npz:{tmp_path / 'missing.npz'}")


def test_unknown_spec_names_the_parameter():
    with pytest.raises(ValueError, match="data: unknown data set spec"):
        data.load_dataset("cifar")
    with pytest.raises(TypeError, match="data must be a string"):
        data.load_dataset(3)


def test_digits_is_builtin():
    ds = data.load_dataset("digits")
    assert ds.X.shape == (1797, 64) and ds.C == 10 and ds.image_shape == (8, 8)


def test_preprocess_unit_rows_centring_and_zero_rows(rng):
    X = rng.random((20, 5))
    Xu, mean = data.preprocess(X, center=True)
    assert_allclose(mean, X.mean(axis=0), rtol=1e-15)
    # Direction of x - mean, unit norm (1e-14: one division).
    assert_allclose(Xu * np.linalg.norm(X - mean, axis=1)[:, None], X - mean, rtol=1e-14, atol=1e-15)
    Xt, _ = data.preprocess(X[:3], center=True, mean=mean)
    assert_allclose(Xt, Xu[:3], rtol=1e-15)
    X[4] = 0.0
    with pytest.raises(ValueError, match=r"X has 1 all-zero row.*\[4\]"):
        data.preprocess(X)


def test_stratified_split_is_seeded_and_stratified(rng):
    y = np.repeat(np.arange(4), [10, 20, 30, 41])
    tr, te = data.stratified_split(y, 0.2, seed=7)
    tr2, te2 = data.stratified_split(y, 0.2, seed=7)
    assert_array_equal(te, te2)
    assert_array_equal(tr, tr2)
    assert not np.array_equal(te, data.stratified_split(y, 0.2, seed=8)[1])
    assert np.intersect1d(tr, te).size == 0 and tr.size + te.size == y.size
    # round(0.2 n_c) per class, exactly.
    assert_array_equal(np.bincount(y[te]), [2, 4, 6, 8])
    with pytest.raises(ValueError, match="test_fraction"):
        data.stratified_split(y, 1.0)
