"""Round trips of every result format in saddlepoint.io, and the shared input checks."""

import json
import math

import numpy as np
import pytest
from numpy.testing import assert_array_equal

from saddlepoint import __version__, io
from saddlepoint._validation import check_int, check_real, check_rng, check_unit_rows


def test_json_round_trip_with_numpy_and_nonfinite(tmp_path):
    obj = {
        "m": np.arange(6.0).reshape(2, 3),
        "eig": np.array([1 + 2j, 0.5 - 0j]),
        "flag": np.bool_(True),
        "n": np.int64(3),
        "bad": [math.inf, -math.inf, math.nan],
        "meta": io.metadata(beta=2.0, N=math.inf),
    }
    path = tmp_path / "a" / "r.json"
    io.save_json(path, obj)
    back = io.load_json(path)
    assert back["m"] == [[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]]
    assert back["eig"] == [[1.0, 2.0], [0.5, -0.0]]
    assert back["flag"] is True and back["n"] == 3
    assert back["bad"] == ["inf", "-inf", None]  # NaN is JSON null (issue 13)
    assert "NaN" not in path.read_text() and '"nan"' not in path.read_text()
    assert back["meta"]["saddlepoint_version"] == __version__
    assert back["meta"]["parameters"] == {"beta": 2.0, "N": "inf"}
    json.loads(path.read_text())  # strict JSON


def test_npz_round_trip(tmp_path, rng):
    arrays = {"W": rng.standard_normal((3, 4)), "y": np.arange(5)}
    path = io.save_npz(tmp_path / "run", arrays, io.metadata(seed=1))
    assert path.suffix == ".npz"
    back, meta = io.load_npz(path)
    for k in arrays:
        assert_array_equal(back[k], arrays[k])
    assert meta["parameters"] == {"seed": 1}


def test_csv_append_is_resumable(tmp_path):
    path = tmp_path / "t.csv"
    io.append_csv_rows(path, [{"a": 1, "b": "x"}], ["a", "b"])
    io.append_csv_rows(path, [{"a": 2.5, "b": math.inf}], ["a", "b"])
    rows = io.read_csv_rows(path)
    assert rows == [{"a": 1.0, "b": "x"}, {"a": 2.5, "b": math.inf}]


def test_missing_files_are_named(tmp_path):
    for loader in (io.load_json, io.load_npz, io.read_csv_rows):
        with pytest.raises(FileNotFoundError, match="nope"):
            loader(tmp_path / "nope")


def test_checks_name_the_parameter():
    with pytest.raises(ValueError, match="N must be >= 2"):
        check_int("N", 1, 2)
    with pytest.raises(ValueError, match="N must be an integer"):
        check_int("N", 2.5)
    with pytest.raises(TypeError, match="N must be an integer"):
        check_int("N", True)
    with pytest.raises(ValueError, match="kappa must not be NaN"):
        check_real("kappa", math.nan)
    with pytest.raises(ValueError, match="kappa must be >= 0"):
        check_real("kappa", -1, minimum=0)
    with pytest.raises(ValueError, match="alpha must be finite"):
        check_real("alpha", math.inf)
    assert check_real("alpha", math.inf, allow_inf=True) == math.inf
    with pytest.raises(ValueError, match="mean must be unit"):
        check_unit_rows("mean", [1.0, 1.0], ndim=1)
    with pytest.raises(ValueError, match="N >= 2"):
        check_unit_rows("mean", [1.0], ndim=1)
    with pytest.raises(TypeError, match="rng"):
        check_rng(None)
    a = check_rng(5).standard_normal(3)
    b = check_rng(5).standard_normal(3)
    assert_array_equal(a, b)


def test_sort_csv_rows_sorts_keeps_row_bytes_and_drops_torn_rows(tmp_path):
    from saddlepoint.io import sort_csv_rows

    path = tmp_path / "t.csv"
    rows = [{"ix": i, "iy": j, "v": 0.1 * i + 1 / 3 * j} for j in range(3) for i in range(4)]
    order = [5, 0, 11, 3, 7, 1, 10, 2, 9, 4, 8, 6]
    io.append_csv_rows(path, [rows[k] for k in order], ["ix", "iy", "v"])
    lines = path.read_bytes().splitlines(keepends=True)
    by_key = {tuple(map(int, ln.split(b",")[:2])): ln for ln in lines[1:]}
    with open(path, "ab") as fh:
        fh.write(by_key[(0, 0)] + b"1,2")  # a duplicate of a row, then a torn row
    assert sort_csv_rows(path, ("iy", "ix")) == 12
    out = path.read_bytes().splitlines(keepends=True)
    assert out[0] == lines[0]
    # each row's text kept as written (no float reformatted), now in grid order
    assert out[1:] == [by_key[(i, j)] for j in range(3) for i in range(4)]
    with pytest.raises(ValueError, match="no column"):
        sort_csv_rows(path, ("nope",))


def test_metadata_has_no_clock_so_reruns_give_the_same_bytes(tmp_path):
    from saddlepoint.io import metadata

    meta = metadata(P=2, beta=1.5)
    assert set(meta) == {"saddlepoint_version", "parameters"}
    io.save_json(tmp_path / "a.json", meta)
    io.save_json(tmp_path / "b.json", metadata(P=2, beta=1.5))
    assert (tmp_path / "a.json").read_bytes() == (tmp_path / "b.json").read_bytes()
    # the order the caller gathered its parameters in does not reach the file
    io.save_json(tmp_path / "c.json", metadata(beta=1.5, P=2))
    assert (tmp_path / "c.json").read_bytes() == (tmp_path / "a.json").read_bytes()


def test_remove_checkpoint_removes_npz_and_side_car(tmp_path):
    from saddlepoint.io import remove_checkpoint

    ck = tmp_path / "run.ckpt.npz"
    io.save_npz(ck, {"W": np.zeros(2)}, {"epochs": 1})
    assert ck.is_file() and (tmp_path / "run.ckpt.json").is_file()
    assert remove_checkpoint(ck)
    assert list(tmp_path.iterdir()) == []
    assert not remove_checkpoint(ck) and not remove_checkpoint(None)
