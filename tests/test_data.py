"""Tests of saddlepoint.training.data: IDX and npz readers (files written here, no downloads),
preprocessing onto the sphere, the seeded stratified split, and error messages."""

import gzip
import struct

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from saddlepoint.training import data


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


# ---------------------------------------------------------------------------------------------
# Patches


def _patches_by_loop(images, size, stride):
    """Reference: every VALID window by explicit loops (independent of stride tricks)."""
    (sh, sw), (th, tw) = size, stride
    out = []
    for img in images:
        h, w = img.shape
        for r in range(0, h - sh + 1, th):
            for c in range(0, w - sw + 1, tw):
                out.append(img[r:r + sh, c:c + sw].ravel())
    return np.array(out)


@pytest.mark.parametrize("image_shape,size,stride", [
    ((28, 28), 6, 2), ((8, 8), 3, 1), ((9, 7), (4, 2), (3, 2)), ((5, 5), 5, 1), ((6, 6), 1, 5), ((7, 10), 3, 4),
])
def test_extract_patches_matches_a_loop(rng, image_shape, size, stride):
    size2 = size if isinstance(size, tuple) else (size, size)
    stride2 = stride if isinstance(stride, tuple) else (stride, stride)
    images = rng.integers(0, 256, size=(3,) + image_shape).astype(np.uint8)
    ref = _patches_by_loop(images, size2, stride2)
    got = data.extract_patches(images, size, stride)
    assert got.dtype == np.uint8
    assert_array_equal(got, ref)
    # Flat images with an explicit shape, and a dtype conversion, give the same rows.
    flat = data.extract_patches(images.reshape(3, -1), size, stride, image_shape=image_shape, dtype=np.float32)
    assert flat.dtype == np.float32
    assert_array_equal(flat, ref.astype(np.float32))
    assert got.shape == (3 * int(np.prod(data.patch_grid(image_shape, size, stride))), size2[0] * size2[1])


def test_mnist_patch_grid_is_the_papers():
    # 6x6 patches with stride 2 on 28x28 images: 12 x 12 = 144 per image (paper: 8.6 million for 60,000).
    assert data.patch_grid((28, 28), 6, 2) == (12, 12)


@pytest.mark.parametrize("size,stride,match", [
    (29, 2, "larger than the images"), (0, 2, "size must be >= 1"), (-3, 2, "size must be >= 1"),
    (6, 0, "stride must be >= 1"), (6, -1, "stride must be >= 1"), ((6, 30), 1, "larger than the images"),
    (2.5, 1, "size must be an integer"), ((2, 2, 2), 1, "size must be an int or a pair"),
])
def test_bad_patch_size_or_stride_is_refused(size, stride, match):
    with pytest.raises((ValueError, TypeError), match=match):
        data.extract_patches(np.zeros((2, 28, 28)), size, stride)


def test_preprocess_patches_centres_normalises_and_handles_constant_patches(rng):
    images = rng.integers(0, 256, size=(4, 10, 10)).astype(float)
    images[0, :6, :6] = 0.0            # blank corner: the first patch of image 0 is constant 0
    images[2, 4:, 4:] = 255.0          # saturated corner: the last patch of image 2 is constant 255
    raw = data.extract_patches(images, 6, 4)
    per = 4
    const = np.ptp(raw, axis=1) == 0
    assert_array_equal(np.flatnonzero(const), [0, 2 * per + 3])
    X, kept = data.preprocess_patches(images, 6, 4)
    assert X.dtype == np.float32
    assert_array_equal(kept, ~const)
    ref = raw[~const] - raw[~const].mean(axis=1, keepdims=True)
    ref /= np.linalg.norm(ref, axis=1, keepdims=True)
    # float32 output of a float64 computation: rounding 6e-8 relative per entry.
    assert_allclose(X, ref, atol=2e-7)
    assert_allclose(np.linalg.norm(X.astype(float), axis=1), 1.0, atol=1e-6)
    assert_allclose(X.astype(float).sum(axis=1), 0.0, atol=1e-5)
    # "zero" keeps every row, constant ones as zero vectors; "error" names the first one.
    Xz, keptz = data.preprocess_patches(images, 6, 4, constant="zero", dtype=np.float64, chunk_images=3)
    assert keptz.all() and Xz.shape == raw.shape
    assert_array_equal(Xz[const], 0.0)
    assert_allclose(Xz[~const], ref, atol=1e-12)
    with pytest.raises(ValueError, match="patch 0 of image 0 has constant value"):
        data.preprocess_patches(images, 6, 4, constant="error")
    with pytest.raises(ValueError, match="constant must be one of"):
        data.preprocess_patches(images, 6, 4, constant="skip")
    # Chunking does not change the result.
    X1, _ = data.preprocess_patches(images, 6, 4, chunk_images=1)
    assert_array_equal(X1, X)


def test_patch_spec_loads_everywhere_a_data_set_does(tmp_path, rng):
    images = rng.integers(0, 256, size=(6, 8, 8)).astype(np.uint8)
    images[1] = 0                      # an all-blank image gives only constant patches
    labels = np.array([3, 1, 4, 1, 5, 9], dtype=np.uint8)
    data.write_idx(tmp_path / "train-images-idx3-ubyte", images)
    data.write_idx(tmp_path / "train-labels-idx1-ubyte", labels)
    ds = data.load_dataset(f"patches:4:2:idx:{tmp_path}")
    per = 9                            # (8 - 4) // 2 + 1 = 3 per axis
    X, kept = data.preprocess_patches(images, 4, 2)
    assert ds.X.dtype == np.float32 and ds.image_shape == (4, 4)
    assert_array_equal(ds.X, X)
    assert not kept[per:2 * per].any()
    # Each patch keeps its image's label (re-encoded to 0..C-1 as for images).
    assert_array_equal(ds.classes[ds.y], labels[np.flatnonzero(kept) // per])
    # The split and preprocessing keep float32, and unit rows are not copied.
    split = data.train_test(ds, test_fraction=0.25, seed=0)
    assert split.X_train.dtype == np.float32
    Xu, _ = data.preprocess(ds.X)
    assert Xu is ds.X
    # Nested on the bundled digits (8x8), too.
    dg = data.load_dataset("patches:4:4:digits")
    assert dg.X.shape[1] == 16 and dg.X.shape[0] <= 1797 * 4


@pytest.mark.parametrize("spec,match", [
    ("patches:6:2", "must be 'patches:SIZE:STRIDE:SPEC'"), ("patches:a:2:digits", "must be integers"),
    ("patches:9:2:digits", "larger than the images"), ("patches:0:2:digits", "size must be >= 1"),
    ("patches:3:-1:digits", "stride must be >= 1"), ("patches:3:1:nope", "unknown data set spec"),
])
def test_bad_patch_specs(spec, match):
    with pytest.raises(ValueError, match=match):
        data.load_dataset(spec)
