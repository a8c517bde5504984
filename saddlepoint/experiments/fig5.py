"""Fig. 5: the learning-dynamics tree of (a) full-width training and (b) growth by splitting.

Both arms train on the first 1,000 training images (batch 100), with the effective loss
(beta learned from 32 under varsigma = 0.25), every memory starting at the normalised mean
training image plus vMF noise of concentration 1.6e5 (the top of the hierarchy): (a) with
P = 400 memories at full width, (b) growing from 100 to 400 by splitting. Every memory is
recorded after every epoch; each recorded state becomes its vector of overlaps with the
1,000 images; a 2-D UMAP (n_neighbors 1000, seed 37) is fitted on (a) and (b) is mapped by
the same embedding. Points are coloured by the memory's class at that epoch (argmax of its
class-weight row) and joined along each memory's trajectory, a copy to its parent.

UMAP comes from ``umap-learn``, the ``paper`` extra (``pip install "saddlepoint[paper]"``).
"""

import numpy as np

from .protocol import measure, paper_dam
from .runner import Job, cached, load_split

__all__ = ["MODULE", "ITEMS", "jobs", "assemble", "fit_dynamics", "embed", "require_umap"]

MODULE = "fig5"
ITEMS = ("fig5",)


def require_umap():
    """Import ``umap``, or raise :class:`saddlepoint.parallel.MissingExtraError` naming the extra."""
    try:
        import umap
    except ImportError:
        from ..parallel import MissingExtraError

        raise MissingExtraError('fig5 needs umap-learn (its UMAP embedding): pip install "saddlepoint[paper]"') from None
    return umap


def _unit_images(X):
    from ..training.data import preprocess

    Xc = np.asarray(X, float) - np.asarray(X, float).mean(axis=1, keepdims=True)
    return preprocess(Xc)[0]


def _trajectories(records):
    """Stack recorded states; link each state to the previous state of its memory (a new copy
    to the state of the previous epoch it overlaps most: its parent)."""
    rows, parent, memory, epoch, classes = [], [], [], [], []
    last = {}
    prev_W, prev_rows = None, None
    for t, (ep, W, cls) in enumerate(records):
        this_rows = []
        for nu in range(W.shape[0]):
            if nu in last:
                par = last[nu]
            elif prev_W is not None:
                par = prev_rows[int(np.argmax(prev_W @ W[nu]))]
            else:
                par = -1
            idx = len(rows)
            rows.append(W[nu])
            parent.append(par)
            memory.append(nu)
            epoch.append(t)
            classes.append(int(cls[nu]))
            last[nu] = idx
            this_rows.append(idx)
        prev_W, prev_rows = W, this_rows
    return (np.asarray(rows), np.asarray(parent, np.int64), np.asarray(memory, np.int64),
            np.asarray(epoch, np.int64), np.asarray(classes, np.int64))


def fit_dynamics(params):
    """Job: one arm (``"full"`` or ``"split"``) of Fig. 5 with every epoch recorded."""
    from ..vmf import sample_vmf

    v = params["settings"]
    split = load_split(**params["data"])
    n = int(v["n_images"])
    X, y = split.X_train[:n], split.y_train[:n]
    Xu = _unit_images(X)
    mean = Xu.mean(axis=0)
    mean /= np.linalg.norm(mean)
    rng = np.random.default_rng(int(v["seed"]))
    records = []

    def record(epoch, W, p):
        records.append((epoch, np.array(W, dtype=np.float64), np.argmax(np.asarray(p), axis=1)))
        return False

    common = dict(beta=v["beta"], learn_beta=v["learn_beta"], varsigma=v["varsigma"], seed=v["seed"],
                  early_stopping=v["early_stopping"])
    if params["arm"] == "full":
        W0 = sample_vmf(mean, float(v["init_kappa"]), int(v["P"]), rng)
        dam = paper_dam(v, v["P"], max_epochs=v["max_epochs"], init=W0, **common)
        dam.fit(X, y, callback=record)
    else:
        from ..training.growth import grow

        W0 = sample_vmf(mean, float(v["init_kappa"]), int(v["P0"]), rng)
        dam = paper_dam(v, v["P0"], max_epochs=v["stage_max_epochs"], init=W0, **common)
        grow(dam, X, y, P_max=int(v["P"]), eps=float(v["split_eps"]), rank="mass", callback=record)
    states, parent, memory, epoch, classes = _trajectories(records)
    out = dict(overlaps=(states @ Xu.T).astype(np.float32), parent=parent, memory=memory, epoch=epoch,
               classes=classes, image_labels=np.asarray(y, np.int64))
    out.update({k: val for k, val in measure(dam, split).items() if not isinstance(val, np.ndarray)})
    return out


def embed(params, full, split_arm):
    """UMAP fitted on the full-width states, the splitting states mapped by it."""
    umap = require_umap()
    A, B = full["overlaps"], split_arm["overlaps"]
    k = int(min(params["n_neighbors"], A.shape[0] - 1))
    reducer = umap.UMAP(n_neighbors=max(k, 2), n_components=2, random_state=int(params["seed"]), n_jobs=1)
    Ea = reducer.fit_transform(A)
    Eb = reducer.transform(B)
    return dict(full=np.asarray(Ea, np.float64), split=np.asarray(Eb, np.float64))


def jobs(ctx):
    require_umap()
    return [Job(f"fig5/{arm}", "saddlepoint.experiments.fig5:fit_dynamics",
                dict(data=ctx.split_params, settings=ctx.values, arm=arm)) for arm in ("full", "split")]


def assemble(item, ctx, results):
    from ..figures.paper_fig5 import plot_dynamics_tree

    v = ctx.values
    full, _ = results["fig5/full"]
    sp, _ = results["fig5/split"]
    params = dict(n_neighbors=v["umap_n_neighbors"], seed=v["umap_seed"],
                  runs=[_digest_of(full), _digest_of(sp)])
    emb = cached(ctx.runs_dir, "fig5/umap", params, lambda p: embed(p, full, sp))
    path = plot_dynamics_tree(emb["full"], full, emb["split"], sp, ctx.out / "fig5.png",
                              title=f"Fig. 5: learning dynamics on {v['n_images']} images "
                                    f"((a) P = {v['P']} full width, (b) {v['P0']} -> {v['P']} by splitting)")
    numbers = {"n_states_full": int(full["overlaps"].shape[0]), "n_states_split": int(sp["overlaps"].shape[0]),
               "epochs_full": full["epochs"], "epochs_split": sp["epochs"],
               "test_accuracy_full": full["test_accuracy"], "test_accuracy_split": sp["test_accuracy"],
               "final_beta_full": full["beta"], "final_beta_split": sp["beta"]}
    return dict(files=[path.name], numbers=numbers)


def _digest_of(result):
    import hashlib

    return hashlib.sha256(np.ascontiguousarray(result["overlaps"]).tobytes()).hexdigest()[:16]
