"""Each loader, handed another saddlepoint output, says what the file is and how to load it
(a new user's ``load_simulation("data.npz")`` raised a TypeError about an unexpected keyword
``X``); ``DAM.load`` accepts a ``train --out`` directory and ``load_sweep`` the sweep's CSV or
JSON as well as its directory."""

import pytest

from saddlepoint import io
from saddlepoint.cli import main
from saddlepoint.simulate import load_simulation
from saddlepoint.teacher import load_teacher
from saddlepoint.theory.phase import load_sweep
from saddlepoint.theory.problem import Solution
from saddlepoint.training.estimator import DAM


@pytest.fixture(scope="module")
def outputs(tmp_path_factory):
    """One small output of each kind, written by the commands a user runs."""
    d = tmp_path_factory.mktemp("outputs")
    prob = ["--p", "2", "--p-star", "2", "--b-star", "1"]
    runs = [
        ["solve", "--n", "inf", *prob, "--beta", "5", "--alpha", "2", "--save", str(d / "sol.json")],
        ["simulate", "--n", "20", *prob, "--beta", "3", "--alpha", "2", "--seeds", "2", "--no-progress",
         "--save", str(d / "sim.npz")],
        ["sample", "--n", "20", "--p-star", "2", "--beta-star", "50", "--m-samples", "30", "--seed", "1",
         "--out", str(d / "data.npz")],
        ["train", "--data", "digits", "--p", "10", "--beta", "10", "--seed", "0", "--max-epochs", "3",
         "--out", str(d / "run")],
        ["phase-diagram", "--x", "beta", "2:4:2", "--y", "alpha", "1:2:2", "--no-progress", "--out", str(d / "pd")],
    ]
    for argv in runs:
        assert main(argv) == 0, argv
    return d


@pytest.mark.parametrize("name, kind", [
    ("sol.json", "solution"), ("sim.npz", "simulation"), ("sim.json", "simulation"), ("data.npz", "sample"),
    ("run", "train_dir"), ("run/model.npz", "dam"), ("run/model.json", "dam"), ("pd", "sweep"),
    ("pd/phase_diagram.csv", "sweep"), ("pd/phase_diagram.json", "sweep"),
])
def test_identify_recognises_each_output(outputs, name, kind):
    assert io.identify(outputs / name)[0] == kind


def test_identify_unknown_and_missing_is_none(tmp_path):
    (tmp_path / "x.json").write_text('{"a": 1}')
    (tmp_path / "x.csv").write_text("a,b\n1,2\n")
    (tmp_path / "x.npz").write_bytes(b"not a zip")
    for name in ("x.json", "x.csv", "x.npz", "missing.npz", "."):
        assert io.identify(tmp_path / name) is None


@pytest.mark.parametrize("loader, name, says", [
    (load_simulation, "data.npz", ["sampled data set", "load_teacher", "saved simulation"]),
    (load_simulation, "sol.json", ["saved Solution", "Solution.load"]),
    (load_simulation, "run/model.npz", ["saved DAM model", "DAM.load"]),
    (DAM.load, "sol.json", ["saved Solution", "Solution.load", "saved DAM model"]),
    (DAM.load, "sim.npz", ["saved simulation", "load_simulation"]),
    (DAM.load, "pd/phase_diagram.csv", ["phase-diagram sweep", "load_sweep"]),
    (load_sweep, "sol.json", ["saved Solution", "Solution.load", "phase-diagram sweep"]),
    (load_sweep, "run/model.npz", ["saved DAM model", "DAM.load"]),
    (Solution.load, "run/model.npz", ["saved DAM model", "DAM.load"]),
    (load_teacher, "sim.npz", ["saved simulation", "load_simulation", "saved Teacher"]),
    (load_teacher, "run/model.npz", ["saved DAM model", "DAM.load"]),
])
def test_loader_names_the_wrong_file_and_its_loader(outputs, loader, name, says):
    with pytest.raises(ValueError) as exc:
        loader(outputs / name)
    for text in says:
        assert text in str(exc.value)


def test_dam_load_accepts_a_train_directory(outputs):
    assert DAM.load(outputs / "run").W_.shape == DAM.load(outputs / "run" / "model.npz").W_.shape


def test_dam_load_names_the_model_file_for_another_directory(outputs):
    with pytest.raises(FileNotFoundError, match="model.npz"):
        DAM.load(outputs / "pd")


def test_load_sweep_accepts_its_csv_and_json(outputs):
    meta, grids = load_sweep(outputs / "pd")
    for name in ("phase_diagram.csv", "phase_diagram.json"):
        meta2, grids2 = load_sweep(outputs / "pd" / name)
        assert meta2 == meta and (grids2["phase_code"] == grids["phase_code"]).all()


def test_load_sweep_on_another_directory_says_to_pass_the_sweep(outputs):
    with pytest.raises(FileNotFoundError, match="output directory of `saddlepoint train`.*DAM.load"):
        load_sweep(outputs / "run")
    with pytest.raises(FileNotFoundError, match="phase-diagram --out"):
        load_sweep(outputs / "missing")


def test_right_files_still_load(outputs):
    assert load_simulation(outputs / "sim.npz").K == 2
    assert load_teacher(outputs / "data.npz").P_star == 2
    assert Solution.load(outputs / "sol.json").converged
