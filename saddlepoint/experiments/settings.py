"""The settings of every experiment of the paper, at each scale, in one place.

``PAPER`` holds the values of the paper (Theriault & Tantari, arXiv 2508.19151) as the
authors' notebooks ran them (docs/paper_figures.md). A scale other than ``"paper"``
overrides some of them; :func:`settings` returns every value used, each as
``{"value": used, "paper": the paper's, "scaled": used != paper}``, so a manifest shows
exactly what was scaled.

Scales
------
``"paper"``
    The paper's values: full MNIST (60,000 training and 10,000 test digits, the IDX files
    as given).
``"quick"``
    Every protocol kept, sizes scaled so that the whole set runs on 10,000 MNIST digits
    (8,000 training, 2,000 test) in at most 30 minutes on 2 cores.
``"tiny"``
    A smoke scale for tests (a few hundred digits, ``P <= 8``, a few epochs).

Steps per epoch
---------------
With 7,200 examples (8,000 minus the 10% validation split) and batch 1000, an epoch has
8 optimiser steps against 54 on full MNIST, and every run with the paper's epoch cap stops
far short of the paper's number of steps. The quick scale therefore keeps the paper's
*steps per epoch* (``batch_size = 1000 * 7,200 / 54,000 = 133``) and its epoch counts, so
that the epoch cap, the early-stopping patience (in epochs) and the number of steps all
match the paper's; each example is visited as often as in the paper. Fig. 5 trains on the
first 1,000 training images with batch 100 at both scales (unchanged).
"""

import copy

__all__ = ["SCALES", "ITEM_NAMES", "PAPER", "OVERRIDES", "settings", "values", "batch_for_steps"]

SCALES = ("paper", "quick", "tiny")
ITEM_NAMES = ("fig1", "fig2", "table1", "fig3", "fig4", "fig5", "fig6", "fig7", "fig8", "fig9", "fig10")

# The paper's MNIST split: 60,000 training digits (the last 10% held out for early stopping)
# and the 10,000 test digits.
_PAPER_DATA = dict(n_train=60000, n_test=10000, split="the IDX files' own training and test sets")
_QUICK_DATA = dict(n_train=8000, n_test=2000,
                   split="the first n_train examples for training, the last n_test for testing")
_TINY_DATA = dict(n_train=300, n_test=100, split=_QUICK_DATA["split"])

# Optimiser of every supervised run (heavy-ball SGD, label smoothing 0.1, validation 10%).
_SGD = dict(batch_size=1000, momentum=0.99, lr=0.01, label_smoothing=0.1, validation_fraction=0.1,
            n_iter_no_change=1, sinkhorn_sweeps=10)


def batch_for_steps(batch_paper, n_fit_paper, n_fit):
    """Batch size that keeps the paper's optimiser steps per epoch on ``n_fit`` examples."""
    steps = n_fit_paper / batch_paper
    return max(1, int(round(n_fit / steps)))


# 8,000 training digits minus the 10% validation split, against the paper's 54,000.
_QUICK_BATCH = batch_for_steps(1000, 54000, 7200)

PAPER = {
    "fig1": dict(_PAPER_DATA, **_SGD, P=25, beta=16.0, learn_beta=False, varsigma=1.0, max_epochs=300,
                 early_stopping=True, seed=0, page_size=25),
    # Figs. 2 and Table 1 share their runs: fixed beta, and (beside it) the effective loss.
    "fig2_table1": dict(_PAPER_DATA, **_SGD, P=1000, betas=[6.0, 10.0, 14.0, 18.0], learn_beta=False,
                        varsigma=1.0, effective_varsigma=0.25, max_epochs=300, early_stopping=True, seed=0,
                        page_size=25, shown=25, em_arm=True, em_max_epochs=200, em_ll_tol=1e-6),
    "fig3": dict(_PAPER_DATA, **_SGD, P=2000, beta=1.0, learn_beta=True, varsigma=0.25, max_epochs=300,
                 early_stopping=True, seed=0, page_size=25, shown=50),
    # Unsupervised 6x6 patches with stride 2; Figs. 4 and 7-10 share one run.
    "fig4_7_10": dict(_PAPER_DATA, patch_size=6, patch_stride=2, P=100, beta=0.01, learn_beta=True,
                      varsigma=0.6, label_smoothing=0.01, max_epochs=10, early_stopping=False,
                      sinkhorn_sweeps=100, batch_size=1000, momentum=0.99, lr=0.01, seed=2, n_groups=10,
                      group_prior=[110, 132, 121, 101, 105, 108, 104, 102, 112, 125], page_size=25,
                      n_train_patches=None),
    "fig5": dict(n_train=60000, n_test=10000, split=_PAPER_DATA["split"], n_images=1000, batch_size=100,
                 momentum=0.99, lr=0.01, label_smoothing=0.1, beta=32.0, learn_beta=True, varsigma=0.25,
                 P=400, P0=100, init_kappa=1.6e5, max_epochs=140, stage_max_epochs=100, early_stopping=True,
                 validation_fraction=0.1, n_iter_no_change=1, sinkhorn_sweeps=10, seed=0,
                 umap_n_neighbors=1000, umap_seed=37, split_eps=0.25),
    "fig6": dict(_PAPER_DATA, **_SGD, beta=1.0, learn_beta=True, varsigma=0.25, P0=100,
                 split_P_max=[1000, 1125, 1250, 1375, 1500, 1625, 1750, 1875, 2000],
                 full_P_max=[1000, 1250, 1500, 1750, 2000], stage_max_epochs=100, full_epochs_base=100,
                 full_epochs_per_memory=0.1, early_stopping=True, n_seeds=10, n_repeats=10, seed=0,
                 split_eps=0.25, em_arm=True, em_max_epochs=100, em_ll_tol=1e-6, clock="wall"),
}
ITEM_MODULE = {"fig1": "fig1", "fig2": "fig2_table1", "table1": "fig2_table1", "fig3": "fig3",
               "fig4": "fig4_7_10", "fig7": "fig4_7_10", "fig8": "fig4_7_10", "fig9": "fig4_7_10",
               "fig10": "fig4_7_10", "fig5": "fig5", "fig6": "fig6"}

OVERRIDES = {
    "paper": {"fig6": dict(clock="process")},
    "quick": {
        "fig1": dict(_QUICK_DATA, batch_size=_QUICK_BATCH),
        "fig2_table1": dict(_QUICK_DATA, batch_size=_QUICK_BATCH, P=200, em_max_epochs=100),
        "fig3": dict(_QUICK_DATA, batch_size=_QUICK_BATCH, P=400),
        "fig4_7_10": dict(_QUICK_DATA, batch_size=_QUICK_BATCH),
        "fig5": dict(n_train=8000, n_test=2000, split=_QUICK_DATA["split"], P=100, P0=25, max_epochs=40,
                     stage_max_epochs=30, umap_n_neighbors=100),
        "fig6": dict(_QUICK_DATA, batch_size=_QUICK_BATCH, P0=25, split_P_max=[100, 150, 200, 300, 400],
                     full_P_max=[100, 200, 300, 400], n_seeds=2, n_repeats=2, em_max_epochs=30, em_ll_tol=1e-5,
                     clock="process"),
    },
    "tiny": {
        "fig1": dict(_TINY_DATA, batch_size=50, P=4, max_epochs=3, page_size=4),
        "fig2_table1": dict(_TINY_DATA, batch_size=50, P=6, betas=[6.0, 14.0], max_epochs=3, page_size=6, shown=6,
                            em_max_epochs=3),
        "fig3": dict(_TINY_DATA, batch_size=50, P=8, max_epochs=3, page_size=8, shown=8),
        "fig4_7_10": dict(_TINY_DATA, batch_size=500, P=8, max_epochs=1, page_size=2, sinkhorn_sweeps=10,
                          n_train_patches=3000),
        "fig5": dict(n_train=300, n_test=100, split=_TINY_DATA["split"], n_images=200, batch_size=50, P=8, P0=2,
                     max_epochs=4, stage_max_epochs=2, umap_n_neighbors=10),
        "fig6": dict(_TINY_DATA, batch_size=50, P0=2, split_P_max=[4, 6, 8], full_P_max=[4, 6, 8], n_seeds=2,
                     n_repeats=2, stage_max_epochs=2, full_epochs_base=2, em_max_epochs=3, clock="process"),
    },
}


def settings(module, scale, seed=None):
    """Every setting of experiment ``module`` at ``scale``, each marked against the paper.

    Parameters
    ----------
    module : str
        A key of :data:`PAPER` (``"fig1"``, ``"fig2_table1"``, ``"fig3"``, ``"fig4_7_10"``,
        ``"fig5"``, ``"fig6"``).
    scale : {"paper", "quick", "tiny"}
    seed : int, optional
        Replaces the training seed (``seed``) of the paper (Fig. 6 uses ``seed, seed + 1, ...``).

    Returns
    -------
    dict
        ``{name: {"value": v, "paper": v_paper, "scaled": bool}}``; ``scaled`` is true when the
        value differs from the paper's (a seed given by the user is not a scaling).
    """
    if scale not in SCALES:
        raise ValueError(f"scale must be one of {SCALES}, got {scale!r}")
    if module not in PAPER:
        raise ValueError(f"unknown experiment {module!r}; known: {sorted(PAPER)}")
    paper = PAPER[module]
    used = dict(copy.deepcopy(paper), **copy.deepcopy(OVERRIDES[scale].get(module, {})))
    out = {}
    for name, value in used.items():
        out[name] = {"value": value, "paper": copy.deepcopy(paper.get(name)), "scaled": value != paper.get(name)}
    if seed is not None:
        out["seed"] = {"value": int(seed), "paper": paper["seed"], "scaled": False}
    return out


def values(marked):
    """The plain ``{name: value}`` of a :func:`settings` dict."""
    return {k: v["value"] for k, v in marked.items()}
