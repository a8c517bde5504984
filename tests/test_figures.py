"""The figures' machinery: the index with one caption per figure, resume plumbing, the
progress bar, and plotting helpers on inputs the main job does not exercise."""

import math

import numpy as np
import pytest

from saddlepoint import figures
from saddlepoint.cli import main


@pytest.fixture
def dummy_figures(monkeypatch):
    """Two cheap registered figures that record how they were run."""
    seen = {}

    def one(outdir, quick):
        """A line through the origin, slope 2 (the caption of figure one)."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        run = figures.current_run()
        run.total(3)
        for _ in range(3):
            run.advance()
        seen["one"] = (run.resume, run.workers, run.bar.n if run.bar is not None else None)
        (outdir / "one_data").mkdir(exist_ok=True)
        data = outdir / "one_data" / "line.csv"
        data.write_text("x,y\n0,0\n1,2\n")
        fig, ax = plt.subplots()
        ax.plot([0, 1], [0, 2])
        return [figures.save_figure(fig, outdir / "one.png"), data]

    def two(outdir, quick):
        """Figure two: nothing but a caption."""
        seen["two"] = figures.current_run().resume
        return []

    monkeypatch.setitem(figures._REGISTRY, "zz_one", (one, "figure one"))
    monkeypatch.setitem(figures._REGISTRY, "zz_two", (two, "figure two"))
    return seen


def test_index_has_one_caption_per_figure_and_keeps_earlier_entries(tmp_path, dummy_figures):
    figures.make_figures(tmp_path, names=["zz_one"], progress=True)
    text = (tmp_path / "README.md").read_text()
    assert "## zz_one" in text and "(the caption of figure one)" in text
    assert "![zz_one](one.png)" in text
    assert "`saddlepoint figures --only zz_one`" in text and "`one_data/`" in text
    # the bar was advanced by the figure (3 steps of 3)
    assert dummy_figures["one"] == (False, 2, 3)
    # remaking another figure alone keeps the first one's entry
    figures.make_figures(tmp_path, names=["zz_two"], progress=False)
    text = (tmp_path / "README.md").read_text()
    assert text.count("## zz_") == 2 and "Figure two: nothing but a caption." in text
    assert text.index("## zz_one") < text.index("## zz_two")


def test_cli_computes_from_scratch_unless_resume(tmp_path, dummy_figures, capsys):
    assert main(["figures", "--only", "zz_two", "--out", str(tmp_path), "--no-progress"]) == 0
    assert dummy_figures["two"] is False
    assert main(["figures", "--only", "zz_two", "--out", str(tmp_path), "--resume", "--no-progress"]) == 0
    assert dummy_figures["two"] is True
    assert main(["figures", "--only", "zz_two", "--out", str(tmp_path), "--workers", "0"]) == 2
    assert "--workers" in capsys.readouterr().err


def test_memory_grid_of_a_non_square_dimension_is_a_picture(tmp_path):
    from saddlepoint.figures.training import _image_shape, _picture, plot_memory_grid

    # N = 50 is not a square: 7 rows of 8 pixels, the last 6 cells blank (was a 1 x 50 strip)
    assert _image_shape(50) == (7, 8) and _image_shape(64) == (8, 8) and _image_shape(3) == (2, 2)
    pic = _picture(np.arange(50.0), (7, 8))
    assert pic[0, 7] == 7.0 and pic[6, 1] == 49.0 and np.isnan(pic[6, 2:]).all()
    with pytest.raises(ValueError, match="image_shape"):
        _image_shape(50, (8, 8))
    W = np.random.default_rng(0).standard_normal((5, 50))
    path = plot_memory_grid(W, tmp_path / "memories.png")
    import matplotlib.image as mpimg

    h, w = mpimg.imread(path).shape[:2]
    assert h > 50 and w > 50  # a picture, not a strip of one pixel's height


def test_sweep_title_leaves_out_the_swept_parameters():
    from saddlepoint.figures.phase_diagram import sweep_title
    from saddlepoint.theory.problem import Problem

    pr = Problem(gram=np.eye(2), P=2, beta=2.0, alpha=1.0, N=math.inf, b_star=1.0)
    assert "beta=2" in pr.describe() and "alpha=1" in pr.describe()
    title = sweep_title(pr, "beta", "alpha")
    assert "beta=" not in title and "alpha=" not in title and "b*=1" in title
    title = sweep_title(pr, "beta", "b_star")
    assert "b*=" not in title and "m*=" not in title and "alpha=1" in title


def test_distinct_students_colour_bar_lists_only_values_that_occur():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from saddlepoint.figures.phase_diagram import _draw_distinct

    n = np.array([[1.0, 1.0, 2.0], [4.0, 2.0, 4.0]])
    X, Y = np.meshgrid(np.arange(3.0), np.arange(2.0))
    fig, ax = plt.subplots()
    _draw_distinct(fig, ax, X, Y, n)
    cbar_ax = fig.axes[-1]
    labels = [t.get_text() for t in cbar_ax.get_yticklabels()]
    plt.close(fig)
    assert labels == ["1: merged", "2: one per group", "4: specialised"]


def test_phase_diagram_figure_resumes_only_when_told(tmp_path, monkeypatch):
    # The bug this guards: the main job silently resumed from the committed tables. The
    # phase-diagram figure must pass the run's resume flag (default False) to every sweep.
    import saddlepoint.theory.phase

    seen = []

    class Stop(Exception):
        pass

    def fake_sweep(*args, resume=True, **kwargs):
        seen.append(resume)
        raise Stop

    monkeypatch.setattr(saddlepoint.theory.phase, "sweep", fake_sweep)
    for resume in (False, True):
        with pytest.raises(RuntimeError, match="phase_diagram"):
            figures.make_figures(tmp_path, names=["phase_diagram"], quick=True, progress=False, resume=resume)
    assert seen == [False, True]
