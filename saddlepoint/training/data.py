"""Real data sets for training DAMs (docs/theory.md, section 3): loading, preprocessing, a seeded split.

Three sources, named by a *spec* string:

``"digits"``
    scikit-learn's 8 x 8 hand-written digits (1797 examples, bundled with scikit-learn,
    no download). The default.
``"idx:DIR"``
    MNIST-format IDX files in directory ``DIR`` (gzipped or not), e.g. Fashion-MNIST as
    installed by the Debian package ``dataset-fashion-mnist`` in
    ``/usr/share/datasets/fashion-mnist``. File names follow the MNIST convention
    ``train-images-idx3-ubyte[.gz]``, ``train-labels-idx1-ubyte[.gz]``,
    ``t10k-images-idx3-ubyte[.gz]``, ``t10k-labels-idx1-ubyte[.gz]`` (``.`` instead of the
    last ``-`` and ``test`` instead of ``t10k`` are accepted too).
``"npz:FILE"``
    NumPy arrays with keys ``X``/``y`` (split here) or ``x_train``/``y_train``/``x_test``/
    ``y_test`` (split kept).
``"patches:SIZE:STRIDE:SPEC"``
    The ``SIZE x SIZE`` patches, taken with stride ``STRIDE`` (VALID padding), of every image
    of the data set ``SPEC`` (any of the above), each centred and normalised on its own
    (:func:`preprocess_patches`); patches of constant value are dropped. A patch keeps the
    label of its image. Stored as float32: full MNIST (8.6 million 6 x 6 patches) takes
    1.2 GB instead of 2.5 GB.

The DAM lives on the unit sphere, so :func:`preprocess` optionally centres (with the
*training* mean) and always scales every example to unit norm, refusing all-zero rows.
float32 data stay float32; rows that are already unit vectors are not copied.
"""

import gzip
import re
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .._validation import check_array, check_int, check_real, check_rng, float_dtype_of

__all__ = [
    "Dataset",
    "Split",
    "load_dataset",
    "read_idx",
    "write_idx",
    "preprocess",
    "stratified_split",
    "train_test",
    "patch_grid",
    "extract_patches",
    "preprocess_patches",
]

# IDX type codes -> big-endian numpy dtypes (http://yann.lecun.com/exdb/mnist/).
_IDX_DTYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_IDX_CODES = {dt.newbyteorder("="): code for code, dt in _IDX_DTYPES.items()}

_IDX_NAME = re.compile(r"^(train|t10k|test)-(images|labels)[-.]idx([13])-ubyte(\.gz)?$")


@dataclass(frozen=True)
class Dataset:
    """A labelled data set, as loaded (not yet on the sphere).

    Attributes
    ----------
    X : array (M, N)
        Examples, one per row (images flattened).
    y : array (M,) of int
        Labels in ``0..C-1``.
    X_test, y_test : arrays or None
        A predefined test set (IDX and some npz files), else ``None``.
    classes : array (C,)
        Original label values; ``classes[y]`` recovers them.
    name : str
        The spec the data set was loaded from.
    image_shape : tuple of int or None
        ``(height, width)`` for drawing examples/memories as images.
    """

    X: np.ndarray
    y: np.ndarray
    X_test: object = None
    y_test: object = None
    classes: object = None
    name: str = ""
    image_shape: object = None

    def __post_init__(self):
        X = check_array("X", self.X, ndim=2, dtype=float_dtype_of(self.X))
        y = check_array("y", self.y, ndim=1, dtype=np.intp, shape=(X.shape[0],))
        object.__setattr__(self, "X", X)
        object.__setattr__(self, "y", y)
        if (self.X_test is None) != (self.y_test is None):
            raise ValueError("X_test and y_test must be given together")
        if self.X_test is not None:
            Xt = check_array("X_test", self.X_test, ndim=2, shape=(None, X.shape[1]),
                             dtype=float_dtype_of(self.X_test))
            yt = check_array("y_test", self.y_test, ndim=1, dtype=np.intp, shape=(Xt.shape[0],))
            object.__setattr__(self, "X_test", Xt)
            object.__setattr__(self, "y_test", yt)
        if X.shape[0] < 1:
            raise ValueError("X must hold at least one example")
        if self.classes is None:
            object.__setattr__(self, "classes", np.arange(int(y.max()) + 1))

    @property
    def M(self):
        return self.X.shape[0]

    @property
    def N(self):
        return self.X.shape[1]

    @property
    def C(self):
        return len(self.classes)


@dataclass(frozen=True)
class Split:
    """Training and test arrays (see :func:`train_test`)."""

    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    mean: object = None


def _encode_labels(y, *more):
    """Map arbitrary labels to ``0..C-1`` consistently across arrays."""
    all_y = np.concatenate([np.asarray(a).ravel() for a in (y,) + more if a is not None])
    classes, _ = np.unique(all_y, return_inverse=True)
    out = [np.searchsorted(classes, np.asarray(a).ravel()) if a is not None else None for a in (y,) + more]
    return classes, out


def _flatten_images(name, X):
    X = np.asarray(X)
    if X.ndim == 3:
        return X.reshape(X.shape[0], -1), (X.shape[1], X.shape[2])
    if X.ndim != 2:
        raise ValueError(f"{name} must be 2-D (examples x features) or 3-D (examples x h x w), got shape {X.shape}")
    side = int(round(np.sqrt(X.shape[1])))
    return X, ((side, side) if side * side == X.shape[1] else None)


def read_idx(path):
    """Read one IDX file (MNIST format), gzipped or not (detected from the magic bytes).

    Returns
    -------
    array
        Native-endian array of the stored type and shape.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such IDX file: {path}")
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES:
        raise ValueError(f"{path} is not an IDX file (bad magic number {raw[:4]!r})")
    dtype, ndim = _IDX_DTYPES[raw[2]], raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(f"{path}: truncated IDX header")
    shape = struct.unpack(">" + "I" * ndim, raw[4:header])
    count = int(np.prod(shape)) if ndim else 1
    if len(raw) - header != count * dtype.itemsize:
        raise ValueError(
            f"{path}: IDX body has {len(raw) - header} bytes, expected {count * dtype.itemsize} for shape {shape}"
        )
    data = np.frombuffer(raw, dtype=dtype, count=count, offset=header)
    return data.astype(dtype.newbyteorder("="), copy=True).reshape(shape)


def write_idx(path, array, compress=None):
    """Write ``array`` as an IDX file (gzipped when ``compress`` or the name ends in .gz)."""
    path = Path(path)
    arr = np.asarray(array)
    code = _IDX_CODES.get(arr.dtype.newbyteorder("="))
    if code is None:
        raise TypeError(f"array dtype {arr.dtype} has no IDX type code; use one of {sorted(map(str, _IDX_CODES))}")
    body = bytes([0, 0, code, arr.ndim]) + struct.pack(">" + "I" * arr.ndim, *arr.shape)
    body += arr.astype(_IDX_DTYPES[code], copy=False).tobytes()
    if compress or (compress is None and path.suffix == ".gz"):
        body = gzip.compress(body)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(body)
    return path


def _find_idx(directory):
    found = {}
    for f in sorted(Path(directory).iterdir()):
        m = _IDX_NAME.match(f.name)
        if m:
            part = "train" if m.group(1) == "train" else "test"
            found.setdefault((part, m.group(2)), f)
    return found


def _load_idx_dir(spec, directory):
    directory = Path(directory)
    if not directory.is_dir():
        raise FileNotFoundError(f"data: no such directory for {spec!r}: {directory}")
    found = _find_idx(directory)
    missing = [k for k in (("train", "images"), ("train", "labels")) if k not in found]
    if missing:
        names = sorted(p.name for p in directory.iterdir())[:20]
        raise FileNotFoundError(
            f"data: {directory} lacks {['-'.join(k) for k in missing]} IDX files "
            f"(expected e.g. train-images-idx3-ubyte[.gz]); it holds {names}"
        )
    Xtr, shape = _flatten_images("train images", read_idx(found["train", "images"]))
    ytr = read_idx(found["train", "labels"]).ravel()
    if ytr.shape[0] != Xtr.shape[0]:
        raise ValueError(f"data: {found['train', 'labels'].name} has {ytr.shape[0]} labels for {Xtr.shape[0]} images")
    Xte = yte = None
    if ("test", "images") in found and ("test", "labels") in found:
        Xte, _ = _flatten_images("test images", read_idx(found["test", "images"]))
        yte = read_idx(found["test", "labels"]).ravel()
        if yte.shape[0] != Xte.shape[0]:
            raise ValueError(f"data: {found['test', 'labels'].name} has {yte.shape[0]} labels for {Xte.shape[0]} images")
    classes, (ytr, yte) = _encode_labels(ytr, yte)
    return Dataset(Xtr.astype(float), ytr, None if Xte is None else Xte.astype(float), yte, classes, spec, shape)


def _npz_examples(path, key, X):
    """``X`` of an npz data file as (examples, features) with N >= 2, or a ValueError saying
    which array of which file has which shape and what is expected."""
    X = np.asarray(X)
    if X.ndim not in (2, 3) or X.shape[0] < 1 or int(np.prod(X.shape[1:])) < 2 or X.dtype.kind not in "biuf":
        raise ValueError(f"data: {path}: array {key!r} has shape {X.shape} and dtype {X.dtype}: expected numbers of "
                         "shape (M, N) (M examples of N >= 2 features: a DAM lives on the sphere S^(N-1)) or "
                         "(M, h, w) (M images)")
    return _flatten_images(key, X)


def _npz_labels(path, key, y, M, X_key):
    y = np.asarray(y)
    if y.ndim != 1 or y.shape[0] != M:
        raise ValueError(f"data: {path}: array {key!r} has shape {y.shape}: expected ({M},), one label per example "
                         f"of {X_key!r}")
    return y


def _load_npz(spec, path):
    import zipfile

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"data: no such .npz file for {spec!r}: {path}")
    if not zipfile.is_zipfile(path):
        raise ValueError(f"data: {path}: not a .npz archive (no zip signature: not written by numpy.savez, or "
                         "truncated)")
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {k: f[k] for k in f.files}
    except Exception as exc:  # BadZipFile, zlib.error, "contains pickled data", ...
        raise ValueError(f"data: {path}: unreadable .npz archive (corrupt, or an array of Python objects: "
                         f"{type(exc).__name__}: {exc})") from None
    keys = set(arrays)
    if {"x_train", "y_train"} <= keys:
        names = ("x_train", "y_train", "x_test", "y_test")
    elif {"X", "y"} <= keys:
        names = ("X", "y", None, None)
    else:
        raise ValueError(f"data: {path} must hold arrays X and y, or x_train and y_train (found {sorted(keys)})")
    if (names[2] in keys) != (names[3] in keys):
        raise ValueError(f"data: {path} must hold both x_test and y_test, or neither")
    X, shape = _npz_examples(path, names[0], arrays[names[0]])
    y = _npz_labels(path, names[1], arrays[names[1]], X.shape[0], names[0])
    Xte = yte = None
    if names[2] in keys:
        Xte, _ = _npz_examples(path, names[2], arrays[names[2]])
        if Xte.shape[1] != X.shape[1]:
            raise ValueError(f"data: {path}: array 'x_test' has {Xte.shape[1]} features per example, 'x_train' "
                             f"{X.shape[1]}: expected the same")
        yte = _npz_labels(path, names[3], arrays[names[3]], Xte.shape[0], names[2])
    classes, (y, yte) = _encode_labels(y, yte)
    return Dataset(np.asarray(X, float), y, None if Xte is None else np.asarray(Xte, float), yte, classes, spec, shape)


def load_dataset(spec="digits"):
    """Load a data set named by ``spec`` (``"digits"``, ``"idx:DIR"``, ``"npz:FILE"`` or
    ``"patches:SIZE:STRIDE:SPEC"``, see the module docstring).

    Returns
    -------
    Dataset
        Raw features (not yet centred or normalised) with integer labels ``0..C-1``.

    Raises
    ------
    ValueError, OSError (FileNotFoundError, ...)
        Every message starts with ``data: `` and names the file or spec and the problem (the
        command line replaces ``data:`` by the flag that gave the spec, ``--data``).
    """
    try:
        return _load_dataset(spec)
    except (ValueError, OSError) as exc:
        message = str(exc)
        if message.startswith("data: "):
            raise
        # an error from below (a reader, a Dataset check) that does not name its source yet
        kind = FileNotFoundError if isinstance(exc, FileNotFoundError) else ValueError
        raise kind(f"data: {spec}: {message}") from None


def _load_dataset(spec):
    if not isinstance(spec, (str, Path)):
        raise TypeError(f"data must be a string such as 'digits', 'idx:DIR' or 'npz:FILE', got {spec!r}")
    spec = str(spec)
    if spec == "digits":
        from sklearn.datasets import load_digits

        d = load_digits()
        return Dataset(d.data.astype(float), d.target, classes=np.arange(10), name="digits", image_shape=(8, 8))
    kind, sep, rest = spec.partition(":")
    if sep and kind == "idx" and rest:
        return _load_idx_dir(spec, rest)
    if sep and kind == "npz" and rest:
        return _load_npz(spec, rest)
    if sep and kind == "patches":
        return _load_patches(spec, rest)
    raise ValueError(
        f"data: unknown data set spec {spec!r}; use 'digits', 'idx:DIR', 'npz:FILE' or 'patches:SIZE:STRIDE:SPEC'"
    )


_CENTER_MODES = (False, True, "dataset", "image")


def preprocess(X, center=False, mean=None):
    """Put examples on the unit sphere (docs/training.md: ``x_a`` scaled to unit norm).

    Parameters
    ----------
    X : array (M, N)
    center : {False, True, "dataset", "image"}
        ``True``/``"dataset"``: subtract a mean example first (``mean`` if given, else the
        mean of ``X``: pass the training mean when preprocessing test data). ``"image"``:
        subtract from each example its own mean over features (the paper's per-image
        centring: examples then live in the hyperplane orthogonal to ``(1, ..., 1)``).
        ``False``: no centring.
    mean : array (N,), optional
        The centring vector for dataset centring.

    Returns
    -------
    X_unit : array (M, N)
        Unit rows.
    mean : array (N,) or None
        The mean that was subtracted (dataset centring only).

    Raises
    ------
    ValueError
        For an unknown ``center``, fewer than 2 features, or a row that is zero (after
        centring: e.g. a constant image under per-image centring).
    """
    if not any(center is m or (isinstance(center, str) and center == m) for m in _CENTER_MODES):
        raise ValueError(f"center must be False, True, 'dataset' or 'image', got {center!r}")
    X = check_array("X", X, ndim=2, dtype=float_dtype_of(X))
    if X.shape[1] < 2:
        raise ValueError(f"X must have at least 2 features (N >= 2), got {X.shape[1]}")
    rounding = 16 * np.finfo(X.dtype).eps * np.sqrt(X.shape[1])
    # size of the data before centring (max and min: no |X| temporary)
    scale0 = float(max(np.max(X, initial=0.0), -np.min(X, initial=0.0)))
    copied = False  # whether X below is already a fresh copy (centred), scaled in place
    if center is True or center == "dataset":
        mean = X.mean(axis=0) if mean is None else check_array("mean", mean, shape=(X.shape[1],))
        X = (X - mean).astype(X.dtype, copy=False)
        copied = True
    elif center == "image":
        row_means = X.mean(axis=1, dtype=np.float64)
        # Rows already centred (e.g. patches from preprocess_patches) are not copied.
        # (measured against each row's largest entry: its squared norm overflows at 1e200)
        row_max = np.maximum(X.max(axis=1), -X.min(axis=1)).astype(np.float64)
        if np.any(np.abs(row_means) > rounding * row_max):
            X = (X - row_means[:, None]).astype(X.dtype, copy=False)
            copied = True
        mean = None
    else:
        mean = None
    # Row norms in blocks of rows, without an (M, N) temporary on large data. Projection onto
    # the sphere is scale-free: each row is divided by its largest entry before its norm is
    # taken (no overflow at 1e200, no underflow at 1e-13), and a row is "zero" relative to the
    # data's own size (1e-12: what centring leaves of a constant row).
    B = 4096  # rows per block: the temporaries stay a few MB whatever M
    amax = np.concatenate([np.maximum(X[i:i + B].max(axis=1), -X[i:i + B].min(axis=1))
                           for i in range(0, X.shape[0], B)] or [np.zeros(0)]).astype(np.float64)
    zero = np.flatnonzero(~(amax > 1e-12 * scale0))
    if zero.size:
        raise ValueError(
            f"X has {zero.size} all-zero row(s){' after centring' if center else ''} "
            f"(first at index {zero[:5].tolist()}): they cannot be put on the unit sphere"
        )
    safe = np.where(amax > 0, amax, 1.0)
    scaled = np.concatenate([np.linalg.norm(X[i:i + B] / safe[i:i + B, None], axis=1)
                             for i in range(0, X.shape[0], B)] or [np.zeros(0)])
    with np.errstate(over="ignore"):
        norms = amax * scaled  # inf only for rows near the float limit (then not "on the sphere")
    # Rows already on the sphere (to rounding of the dtype) are returned as they are, without
    # a copy: a data set of several GB (patches) is not duplicated.
    if np.max(np.abs(norms - 1.0), initial=0.0) <= rounding:
        return X, mean
    if copied and X.dtype == np.float64:  # scale the centred copy in place: one copy of X in all
        out = np.divide(X, safe[:, None], out=X)
    else:
        out = X / safe[:, None]
    out /= scaled[:, None].astype(out.dtype)
    return out.astype(X.dtype, copy=False), mean


def stratified_split(y, test_fraction=0.2, seed=0):
    """Fixed, seeded, stratified split of example indices.

    In every class with ``n_c`` examples, ``round(test_fraction * n_c)`` examples (at least
    one when ``n_c >= 2``, never all of them) go to the test set, chosen by a permutation
    drawn from ``numpy.random.default_rng(seed)``, class by class in label order.

    Returns
    -------
    train_idx, test_idx : sorted int arrays
    """
    y = check_array("y", y, ndim=1, dtype=np.intp)
    test_fraction = check_real("test_fraction", test_fraction, minimum=0.0, maximum=1.0, strict=True)
    rng = check_rng(seed)
    test = []
    for c in np.unique(y):
        idx = np.flatnonzero(y == c)
        n = idx.size
        k = int(round(test_fraction * n))
        k = min(max(k, 1 if n >= 2 else 0), n - 1)
        test.append(rng.permutation(idx)[:k])
    test_idx = np.sort(np.concatenate(test)) if test else np.zeros(0, np.intp)
    train_mask = np.ones(y.size, bool)
    train_mask[test_idx] = False
    return np.flatnonzero(train_mask), test_idx


def train_test(dataset, test_fraction=0.2, seed=0, center=False, max_train=None, max_test=None,
               holdout="stratified"):
    """Training and test sets on the unit sphere.

    A predefined test set (IDX ``t10k`` files, npz ``x_test``) is kept; otherwise
    :func:`stratified_split` makes one (``holdout="stratified"``), or the last
    ``round(test_fraction M)`` examples are the test set (``holdout="last"``: a fixed split
    in file order, e.g. the first 8,000 / last 2,000 digits of the 10,000-digit MNIST subset).
    ``center`` subtracts the *training* mean from both.
    ``max_train`` / ``max_test`` keep a stratified seeded subset (for quick runs on large
    data such as Fashion-MNIST).

    Returns
    -------
    Split
    """
    if not isinstance(dataset, Dataset):
        raise TypeError(f"dataset must be a Dataset (from load_dataset), got {type(dataset).__name__}")
    if holdout not in ("stratified", "last"):
        raise ValueError(f"holdout must be 'stratified' or 'last', got {holdout!r}")
    if dataset.X_test is None and holdout == "last":
        test_fraction = check_real("test_fraction", test_fraction, minimum=0.0, maximum=1.0, strict=True)
        n_test = int(round(test_fraction * dataset.M))
        if not 1 <= n_test < dataset.M:
            raise ValueError(f"test_fraction = {test_fraction} leaves no training or no test example of {dataset.M}")
        tr, te = np.arange(dataset.M - n_test), np.arange(dataset.M - n_test, dataset.M)
        Xtr, ytr, Xte, yte = dataset.X[tr], dataset.y[tr], dataset.X[te], dataset.y[te]
    elif dataset.X_test is None:
        tr, te = stratified_split(dataset.y, test_fraction, seed)
        Xtr, ytr, Xte, yte = dataset.X[tr], dataset.y[tr], dataset.X[te], dataset.y[te]
    else:
        Xtr, ytr, Xte, yte = dataset.X, dataset.y, dataset.X_test, dataset.y_test
    for name, cap in (("max_train", max_train), ("max_test", max_test)):
        if cap is None:
            continue
        cap = check_int(name, cap, 1)
        X_, y_ = (Xtr, ytr) if name == "max_train" else (Xte, yte)
        if cap < y_.size:
            _, keep = stratified_split(y_, cap / y_.size, seed)
            if name == "max_train":
                Xtr, ytr = X_[keep], y_[keep]
            else:
                Xte, yte = X_[keep], y_[keep]
    Xtr, mean = preprocess(Xtr, center=center)
    Xte, _ = preprocess(Xte, center=center, mean=mean)
    return Split(Xtr, ytr, Xte, yte, mean)


# ---------------------------------------------------------------------------------------------
# Image patches (the paper's unsupervised runs: 6 x 6 patches of MNIST with stride 2).

_CONSTANT = ("drop", "zero", "error")


def _pair(name, value):
    """``value`` as a pair of positive ints (an int ``k`` means ``(k, k)``)."""
    if isinstance(value, (tuple, list, np.ndarray)):
        if len(value) != 2:
            raise ValueError(f"{name} must be an int or a pair (height, width), got {value!r}")
        return tuple(check_int(name, v, 1) for v in value)
    v = check_int(name, value, 1)
    return v, v


def patch_grid(image_shape, size, stride):
    """Number of patches along each axis with VALID padding (no patch crosses the border).

    Parameters
    ----------
    image_shape : (h, w)
    size, stride : int or (int, int)
        Patch size and stride (rows, columns), each >= 1; the patch must fit in the image.

    Returns
    -------
    (n_rows, n_cols) : ints, ``n = (h - size) // stride + 1`` per axis.

    Raises
    ------
    ValueError
        Naming ``size`` or ``stride`` when either is below 1 or the patch is larger than
        the image.
    """
    h, w = _pair("image_shape", image_shape)
    sh, sw = _pair("size", size)
    th, tw = _pair("stride", stride)
    if sh > h or sw > w:
        raise ValueError(f"size {(sh, sw)} is larger than the images {(h, w)}")
    return (h - sh) // th + 1, (w - sw) // tw + 1


def _as_images(images, image_shape):
    arr = np.asarray(images)
    if arr.ndim == 3:
        if image_shape is not None and tuple(image_shape) != arr.shape[1:]:
            raise ValueError(f"image_shape {tuple(image_shape)} does not match images of shape {arr.shape[1:]}")
        return arr
    if arr.ndim != 2:
        raise ValueError(f"images must be (n, h, w) or (n, h*w), got shape {arr.shape}")
    if image_shape is None:
        side = int(round(np.sqrt(arr.shape[1])))
        if side * side != arr.shape[1]:
            raise ValueError(f"images are flat with {arr.shape[1]} pixels, not a square: give image_shape")
        image_shape = (side, side)
    h, w = _pair("image_shape", image_shape)
    if h * w != arr.shape[1]:
        raise ValueError(f"image_shape {(h, w)} does not match {arr.shape[1]} pixels per image")
    return arr.reshape(arr.shape[0], h, w)


def extract_patches(images, size, stride, image_shape=None, dtype=None):
    """All ``size x size`` windows of every image, with stride ``stride`` (VALID padding).

    Parameters
    ----------
    images : array (n, h, w), or (n, h*w) with ``image_shape`` (square images are inferred)
    size, stride : int or (int, int)
        Patch size and step between patch corners, rows then columns.
    image_shape : (h, w), optional
    dtype : numpy dtype, optional
        Output dtype (default: that of ``images``).

    Returns
    -------
    array (n * n_rows * n_cols, size_h * size_w)
        Row ``(i * n_rows + r) * n_cols + c`` is the patch of image ``i`` whose top-left
        pixel is ``(r * stride_h, c * stride_w)``, flattened row by row (the order of
        TensorFlow's ``extract_patches`` reshaped). A view of the images is made with
        ``numpy.lib.stride_tricks.sliding_window_view``; only the output is allocated.
    """
    imgs = _as_images(images, image_shape)
    view = _windows(imgs, size, stride)
    out = np.empty((view.shape[0] * view.shape[1] * view.shape[2], view.shape[3] * view.shape[4]),
                   dtype=imgs.dtype if dtype is None else dtype)
    out.reshape(view.shape)[...] = view
    return out


def _windows(imgs, size, stride):
    """Strided view (n, n_rows, n_cols, size_h, size_w) of the VALID windows of (n, h, w) images."""
    nr, nc = patch_grid(imgs.shape[1:], size, stride)
    (sh, sw), (th, tw) = _pair("size", size), _pair("stride", stride)
    view = np.lib.stride_tricks.sliding_window_view(imgs, (sh, sw), axis=(1, 2))[:, ::th, ::tw]
    assert view.shape[1:3] == (nr, nc)
    return view


def preprocess_patches(images, size, stride, image_shape=None, constant="drop", dtype=np.float32,
                       chunk_images=2048):
    """Patches on the unit sphere, each centred and normalised like an image.

    Every patch ``x`` (a row of :func:`extract_patches`) becomes
    ``(x - mean(x)) / |x - mean(x)|``: the per-image centring of the paper applied per
    patch, so patches live on the unit sphere inside the hyperplane orthogonal to
    ``(1, ..., 1)``. Centring and scaling are done in float64, chunk by chunk of images,
    and written into a ``dtype`` array: memory is the output plus one chunk.

    A patch of **constant value** (all blank, or all ink: 35% of MNIST's 6 x 6 patches at
    stride 2) has ``x - mean(x) = 0`` and no direction. ``constant`` says what to do:

    ``"drop"`` (default)
        Leave it out. It carries no information about shape, and a zero vector is not on
        the sphere the model is defined on.
    ``"zero"``
        Keep it as the zero vector (what the authors' code produces: their normalisation
        maps 0/0 to 0). Such rows have ``w.x = 0`` for every memory.
    ``"error"``
        Raise ``ValueError`` naming the first such patch.

    A patch counts as constant when its peak-to-peak range is 0 (exact for integer
    pixels) or its centred norm is below ``1e-12`` times its largest absolute pixel.

    Returns
    -------
    X : array (M, size_h * size_w) of ``dtype``
        Unit rows (and zero rows with ``constant="zero"``).
    kept : bool array (n * n_rows * n_cols,)
        Which rows of :func:`extract_patches` are in ``X`` (all True unless dropped); the
        image of row ``k`` of ``X`` is ``flatnonzero(kept)[k] // (n_rows * n_cols)``.
    """
    if constant not in _CONSTANT:
        raise ValueError(f"constant must be one of {_CONSTANT}, got {constant!r}")
    imgs = _as_images(images, image_shape)
    nr, nc = patch_grid(imgs.shape[1:], size, stride)
    sh, sw = _pair("size", size)
    if sh * sw < 2:
        raise ValueError(f"size {(sh, sw)} makes patches of one pixel: a centred patch needs N >= 2 pixels")
    chunk = check_int("chunk_images", chunk_images, 1)
    n, per, N = imgs.shape[0], nr * nc, sh * sw
    if not np.all(np.isfinite(imgs)):
        raise ValueError("images must be finite (no NaN or inf)")
    # One float64 work buffer, reused for every chunk, laid out pixel-major (N, patches): the
    # reductions over a patch's N pixels then run across contiguous rows, several times faster
    # than reducing rows of length N = 36.
    buf = np.empty((N, min(chunk, n) * per))

    def centred(i):
        part = imgs[i:i + chunk]
        Zt = buf[:, :part.shape[0] * per]
        Zt.reshape(sh, sw, part.shape[0], nr, nc)[...] = _windows(part, size, stride).transpose(3, 4, 0, 1, 2)
        hi, lo = Zt.max(axis=0), Zt.min(axis=0)
        Zt -= Zt.mean(axis=0)
        norms = np.sqrt(np.einsum("ij,ij->j", Zt, Zt))
        const = (hi == lo) | (norms <= 1e-12 * np.maximum(np.abs(hi), np.abs(lo)))
        return Zt, norms, const

    # Pass 1: which patches are constant (so that the output is allocated once, exactly).
    kept = np.ones(n * per, dtype=bool)
    for i in range(0, n, chunk):
        const = centred(i)[2]
        if constant == "error" and const.any():
            k = i * per + int(np.flatnonzero(const)[0])
            raise ValueError(
                f"patch {k % per} of image {k // per} has constant value: it cannot be centred and "
                "normalised (use constant='drop' or 'zero')"
            )
        if constant == "drop":
            kept[i * per:i * per + const.size] = ~const
    X = np.empty((int(kept.sum()), N), dtype=dtype)
    # Pass 2: centre, normalise and write.
    row = 0
    for i in range(0, n, chunk):
        Zt, norms, const = centred(i)
        Zt /= np.where(const, 1.0, norms)
        if constant == "drop":
            Zt = Zt[:, ~const]
        else:
            Zt[:, const] = 0.0
        X[row:row + Zt.shape[1]] = Zt.T
        row += Zt.shape[1]
    return X, kept


def _load_patches(spec, rest):
    parts = rest.split(":", 2)
    if len(parts) != 3 or not parts[2]:
        raise ValueError(f"data: patch spec {spec!r} must be 'patches:SIZE:STRIDE:SPEC', e.g. 'patches:6:2:idx:DIR'")
    try:
        size, stride = int(parts[0]), int(parts[1])
    except ValueError:
        raise ValueError(f"data: SIZE and STRIDE in {spec!r} must be integers") from None
    base = load_dataset(parts[2])
    if base.image_shape is None:
        raise ValueError(f"data: {parts[2]!r} has no image shape, so it cannot be cut into patches")
    try:
        per = int(np.prod(patch_grid(base.image_shape, size, stride)))
    except ValueError as exc:
        raise ValueError(f"data: {spec!r}: {exc}") from None

    def cut(X, y):
        P, kept = preprocess_patches(X, size, stride, image_shape=base.image_shape)
        return P, y[np.flatnonzero(kept) // per]

    X, y = cut(base.X, base.y)
    Xt, yt = (None, None) if base.X_test is None else cut(base.X_test, base.y_test)
    return Dataset(X, y, Xt, yt, base.classes, spec, (size, size))
