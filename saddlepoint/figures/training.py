"""Figures of DAM training on data (docs/training.md): the memories of a DAM trained on digits, and
the splitting growth curve (accuracy and split eigenvalues per stage).

Data are generated through the public API (:class:`saddlepoint.training.estimator.DAM`,
:func:`saddlepoint.training.growth.grow`) and saved beside each figure (npz / CSV / JSON); plotting
is separate (:func:`plot_memory_grid`, :func:`plot_growth`).
"""

import math
from pathlib import Path

import numpy as np

from . import figure, save_figure

__all__ = ["plot_memory_grid", "plot_growth", "make_memories", "make_growth"]


def _image_shape(N, image_shape=None):
    """``(height, width)`` of the picture of a memory: the data's image shape, else a square
    ``sqrt(N) x sqrt(N)``, else the smallest near-square grid holding ``N`` pixels (the
    vector is laid out row by row and the remainder left blank)."""
    if image_shape is not None:
        h, w = (int(v) for v in image_shape)
        if h * w != N:
            raise ValueError(f"image_shape {tuple(image_shape)} does not hold N = {N} pixels")
        return h, w
    w = int(math.ceil(math.sqrt(N)))
    return int(math.ceil(N / w)), w


def _picture(v, shape):
    """``v`` laid out row by row in ``shape``; cells beyond ``len(v)`` are NaN (blank)."""
    out = np.full(shape[0] * shape[1], np.nan)
    out[:v.size] = v
    return out.reshape(shape)


def plot_memory_grid(W, path, image_shape=None, labels=None, title=None, max_memories=400, offset=None,
                     scale=1.0):
    """Draw memories as a grid of images (``image_shape``; else ``sqrt(N) x sqrt(N)``, or a
    near-square grid filled row by row when ``N`` is not a square).

    Without ``offset`` each image uses a symmetric colour scale around zero. Memories of
    centred data are directions relative to the training mean: pass ``offset`` (the mean,
    raw units) and ``scale`` (a typical norm of centred examples) to draw
    ``offset + scale * w`` in grey levels, which looks like the examples. ``labels`` (one
    per memory) are written above the images.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    W = np.asarray(W, dtype=float)[:max_memories]
    P, N = W.shape
    h, w = _image_shape(N, image_shape)
    cols = int(math.ceil(math.sqrt(P)))
    rows = int(math.ceil(P / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(1.1 * cols, 1.2 * rows), squeeze=False)
    for k, ax in enumerate(axes.ravel()):
        ax.axis("off")
        if k < P:
            if offset is None:
                v = np.max(np.abs(W[k])) or 1.0
                ax.imshow(_picture(W[k], (h, w)), cmap="RdBu_r", vmin=-v, vmax=v, interpolation="nearest")
            else:
                ax.imshow(_picture(np.asarray(offset) + scale * W[k], (h, w)), cmap="gray_r",
                          interpolation="nearest")
            if labels is not None:
                ax.set_title(str(labels[k]), fontsize=7, pad=1)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return save_figure(fig, path, dpi=110)


def plot_growth(stages, path, full_width=None, title=None):
    """Growth curve: test / nearest-memory accuracy and split eigenvalues against ``P``.

    ``stages`` are rows of :attr:`saddlepoint.training.growth.GrowthResult.stages` (or the CSV).
    ``full_width``: optional rows ``{"P", "test_accuracy"}`` of full-width training to
    compare with.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    P = np.array([float(r["P"]) for r in stages])
    acc = np.array([float(r["test_accuracy"]) for r in stages])
    nn = np.array([float(r["nn_accuracy"]) for r in stages])
    lmax = np.array([float(r["lambda_max"]) for r in stages])
    lmed = np.array([float(r["lambda_median"]) for r in stages])
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(9, 3.6))
    a1.plot(P, acc, "o-", label="splitting: P(y|x)")
    a1.plot(P, nn, "s--", label="splitting: nearest memory")
    if full_width:
        a1.plot([float(r["P"]) for r in full_width], [float(r["test_accuracy"]) for r in full_width],
                "^:", label="full width, random init")
    a1.set_xscale("log", base=2)
    a1.set_xlabel("memories P")
    a1.set_ylabel("test accuracy")
    a1.legend(fontsize=8)
    ok = np.isfinite(lmax)
    a2.plot(P[ok], lmax[ok], "o-", label=r"max$_\nu$ $\lambda_{split}$")
    a2.plot(P[ok], lmed[ok], "s--", label=r"median $\lambda_{split}$")
    a2.axhline(1.0, color="k", lw=0.8)
    a2.set_xscale("log", base=2)
    a2.set_xlabel("memories P (before the split)")
    a2.set_ylabel(r"$\lambda_{split}$ (saddle if > 1)")
    a2.legend(fontsize=8)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return save_figure(fig, path, dpi=110)


@figure("training_memories", "memories of a supervised DAM trained on the 8x8 digits, with test accuracy")
def make_memories(outdir, quick):
    """The memories of a supervised DAM trained by EM on scikit-learn's 8x8 digits (seeded
    stratified split, seed 0): P = 80 memories (30 with --quick), beta = 14, centred data,
    at most 50 epochs (15). Each memory is drawn as mean digit + typical norm x memory
    (darker: more ink), with the class it votes for above it (the largest of its class
    weights p^y_nu); the title gives the test accuracy of the classifier P(y|x) and of the
    nearest memory.
    """
    from ..training import data
    from ..training.estimator import DAM
    from . import current_run

    run = current_run()
    outdir = Path(outdir)
    split = data.train_test(data.load_dataset("digits"), seed=0)
    P, epochs = (30, 15) if quick else (80, 50)
    run.total(epochs + 1)
    dam = DAM(n_memories=P, beta=14.0, center=True, max_epochs=epochs, ll_tol=1e-7, random_state=0)
    dam.fit(split.X_train, split.y_train, callback=lambda *_: run.advance())
    meas = dam.evaluate(split.X_train, split.y_train, split.X_test, split.y_test)
    model_path = dam.save(outdir / "training_memories.npz")
    order = np.argsort(dam.memory_classes(), kind="stable")
    scale = float(np.median(np.linalg.norm(split.X_train - dam.mean_, axis=1)))
    png = plot_memory_grid(dam.W_[order], outdir / "training_memories.png", (8, 8),
                           labels=dam.memory_classes()[order], offset=dam.mean_, scale=scale,
                           title=f"DAM on digits: P={P}, beta=14, test acc {meas['test_accuracy']:.3f}, "
                                 f"nearest-memory {meas['nn_accuracy']:.3f}")
    run.advance()
    return [png, model_path, model_path.with_suffix(".json")]


@figure("training_growth", "splitting steepest descent on digits: accuracy and split eigenvalues per stage")
def make_growth(outdir, quick):
    """Splitting steepest descent on the 8x8 digits (supervised, beta = 14, seed 0): a DAM of
    P0 = 4 memories is trained, then every memory is duplicated and its copies pushed apart
    along the top eigenvector of its split operator J_-, and so on up to P = 128 (32 with
    --quick), at most 60 epochs per stage (20). Left: test accuracy of P(y|x) and of the
    nearest memory after each stage; right: the largest and the median split eigenvalue
    lambda_split over the memories before each split (a memory is a saddle direction when
    lambda_split > 1; docs/training.md).
    """
    from ..training import data
    from ..training.estimator import DAM
    from ..training.growth import grow

    outdir = Path(outdir)
    split = data.train_test(data.load_dataset("digits"), seed=0)
    P_max = 32 if quick else 128
    dam = DAM(n_memories=4, beta=14.0, center=True, max_epochs=20 if quick else 60, tol=1e-5, ll_tol=1e-6,
              random_state=0)
    res = grow(dam, split.X_train, split.y_train, P_max=P_max, X_test=split.X_test, y_test=split.y_test,
               out=outdir, name="training_growth")
    png = plot_growth(res.stages, outdir / "training_growth.png",
                      title=f"Splitting steepest descent on digits (supervised, beta=14, P0=4 -> {P_max})")
    return [png, outdir / "training_growth_stages.csv", outdir / "training_growth.json"]
