"""Fig. 4 and Figs. 7-10: an unsupervised DAM on 6 x 6 image patches with latent groups.

One run (seed 2 in the paper): the 6 x 6 patches with stride 2 of every training image, each
centred and normalised like an image; P = 100 memories, C = 10 latent groups with the
paper's hand-set group prior, beta learned from 0.01 under varsigma = 0.6, label softening
0.01, 10 epochs, 100 Sinkhorn sweeps per step, no early stopping. Figs. 7-10 are the four
pages of 25 memories with their group weights; Fig. 4 is one page of 25 memories taken
evenly along the group order (every group shown). The numbers are the group sizes: memories
per group (argmax of the group-weight row; ``none_memories`` for those whose largest weight
is on "none") and the share of training patches the DAM assigns to each group (the last
share is "none").
"""

import numpy as np

from ..figures.paper_pages import class_order, draw_pages
from .runner import Job, load_split

__all__ = ["MODULE", "ITEMS", "jobs", "assemble", "fit_patches"]

MODULE = "fig4_7_10"
ITEMS = ("fig4", "fig7", "fig8", "fig9", "fig10")


def patches(params):
    """Training patches on the unit sphere (float32) of the experiment's training images."""
    from ..training.data import preprocess_patches

    v = params["settings"]
    split = load_split(**params["data"])
    shape = split.image_shape or (28, 28)
    X, _ = preprocess_patches(split.X_train, v["patch_size"], v["patch_stride"], image_shape=shape)
    if v.get("n_train_patches"):
        X = X[: int(v["n_train_patches"])]
    return X


def fit_patches(params):
    """Job: the unsupervised patch run; returns memories, group table, group sizes, beta."""
    from ..training.estimator import DAM

    v = params["settings"]
    X = patches(params)
    dam = DAM.paper_unsupervised(int(v["P"]), n_groups=int(v["n_groups"]), group_prior=list(v["group_prior"]),
                                 beta=float(v["beta"]), varsigma=float(v["varsigma"]),
                                 label_smoothing=float(v["label_smoothing"]), max_epochs=int(v["max_epochs"]),
                                 early_stopping=bool(v["early_stopping"]), sinkhorn_sweeps=int(v["sinkhorn_sweeps"]),
                                 batch_size=int(v["batch_size"]), momentum=float(v["momentum"]), lr=float(v["lr"]),
                                 random_state=int(v["seed"]))
    # No checkpoint: the float32 preset's dtype parameter is not JSON-serialisable in the
    # checkpoint's metadata (reported to the lead); the run is cached once finished.
    dam.fit(X)
    table = np.asarray(dam.p_, dtype=np.float64)
    # A memory's group is the argmax of its row, "none" (index n_groups) included.
    groups = np.argmax(table, axis=1)
    # Share of the training patches in each group (the DAM's prediction; -1 is "none").
    assigned = np.asarray(dam.predict(X))
    shares = np.array([np.mean(assigned == g) for g in range(int(v["n_groups"]))] + [np.mean(assigned < 0)])
    return dict(patch_shares=shares, W=np.asarray(dam.W_, dtype=np.float64), table=table, classes=groups.astype(np.int64),
                beta=float(dam.beta_), epochs=int(dam.n_epochs_), n_patches=int(X.shape[0]),
                group_sizes=np.bincount(groups, minlength=table.shape[1]).astype(np.int64),
                history=np.asarray(getattr(dam, "history_", []), dtype=np.float64))


def jobs(ctx):
    return [Job("fig4_7_10/run", "saddlepoint.experiments.fig4_7_10:fit_patches",
                dict(data=ctx.split_params, settings=ctx.values))]


def assemble(item, ctx, results):
    r, _ = results["fig4_7_10/run"]
    v = ctx.values
    k = int(v["n_groups"])
    rows = [f"g{g}" for g in range(k)] + (["none"] if r["table"].shape[1] > k else [])
    shape = (int(v["patch_size"]),) * 2
    sizes = [int(n) for n in r["group_sizes"]]
    numbers = {"group_sizes": sizes[:k], "none_memories": sum(sizes[k:]),
               "patch_shares": [round(float(x), 6) for x in r["patch_shares"]], "beta": r["beta"],
               "epochs": r["epochs"], "n_patches": r["n_patches"]}
    page = int(v["page_size"])
    if item == "fig4":
        files = draw_pages(r, ctx.out / "fig4", shape, per_page=page, shown=page, row_labels=rows,
                           table_label="group weight",
                           title=f"Fig. 4: patch memories (P = {v['P']}, beta {v['beta']:g} -> {r['beta']:.3g})")
        return dict(files=files, numbers=numbers)
    # Figs. 7-10: page i of the group-sorted memories.
    i = ITEMS.index(item) - 1
    full = class_order(r["classes"], r["table"])
    order = full[i * page:(i + 1) * page]
    if order.size == 0:  # fewer than four pages of memories (small scales): the last page
        order = full[-page:]
    files = draw_pages(r, ctx.out / item, shape, per_page=page, row_labels=rows, table_label="group weight",
                       order=order, title=f"Fig. {7 + i}: patch memories {i * page + 1}-{i * page + order.size} "
                                          f"of {v['P']} (sorted by group)")
    return dict(files=files, numbers=dict(numbers, memories=[int(x) for x in order]))
