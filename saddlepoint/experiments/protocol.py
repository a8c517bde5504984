"""The paper's training protocol as jobs: one DAM configured from an experiment's settings,
fitted on the fixed split, and measured as the paper measures it.

Every supervised run of Figs. 1-3 and Table 1 is :func:`fit_supervised`; the settings names
are those of :mod:`saddlepoint.experiments.settings`.
"""

import numpy as np

from .runner import Job, load_split

__all__ = ["paper_dam", "measure", "memory_arrays", "fit_supervised", "supervised_job", "CLASS_ROWS"]

# Rows of the class-weight heatmap: the ten digits and the extra "none" class.
CLASS_ROWS = [str(c) for c in range(10)] + ["none"]


def paper_dam(v, P, *, beta, learn_beta, varsigma, seed, max_epochs, early_stopping=True, **overrides):
    """``DAM.paper`` with the optimiser settings ``v`` (batch, momentum, step, label smoothing,
    validation split, patience, Sinkhorn sweeps) of an experiment."""
    from ..training.estimator import DAM

    kw = dict(batch_size=v["batch_size"], momentum=v["momentum"], lr=v["lr"], label_smoothing=v["label_smoothing"],
              validation_fraction=v.get("validation_fraction", 0.1), n_iter_no_change=v.get("n_iter_no_change", 1),
              sinkhorn_sweeps=v.get("sinkhorn_sweeps", 10), max_epochs=int(max_epochs),
              early_stopping=bool(early_stopping), random_state=int(seed))
    kw.update(overrides)
    return DAM.paper(int(P), beta=float(beta), learn_beta=bool(learn_beta), varsigma=float(varsigma), **kw)


def measure(dam, split):
    """The paper's numbers of a fitted supervised DAM on the test set.

    ``test_accuracy`` (argmax over the C + 1 columns of ``p(x, c)``, "none" counts as wrong),
    the 1-NN score (class of the most correlated memory) and its fidelity to the DAM's own
    prediction (overall, on correctly and on wrongly classified examples), the final
    ``beta``, epochs, whether early stopping fired, and the training seconds.
    """
    nn = dam.nn_metrics(split.X_test, split.y_test)
    out = {key: float(nn[key]) for key in ("test_accuracy", "nn_accuracy", "nn_fidelity", "nn_fidelity_correct",
                                           "nn_fidelity_wrong")}
    out.update(beta=float(dam.beta_), epochs=int(dam.n_epochs_),
               stopped_early=bool(getattr(dam, "stopped_early_", False)), fit_seconds=float(dam.fit_seconds_))
    return out


def memory_arrays(dam):
    """Memories, class table and each memory's class (the DAM's prediction on its image;
    "none" is coded as the last table column, so that it sorts last)."""
    classes = np.asarray(dam.memory_classes(kind="prediction")).astype(np.int64)
    table = np.asarray(dam.p_, dtype=np.float64)
    classes[classes < 0] = table.shape[1] - 1
    return dict(W=np.asarray(dam.W_, dtype=np.float64), table=table, classes=classes)


def fit_supervised(params):
    """Job: one supervised paper-protocol run; returns the measurements and the memories.

    ``params``: ``data`` (``spec``, ``n_train``, ``n_test``), ``settings`` (the experiment's
    values), ``P``, ``beta``, ``learn_beta``, ``varsigma``, ``seed``, ``max_epochs``,
    optionally ``method`` and ``overrides``, and ``_checkpoint`` (a ``.npz`` path: an
    interrupted fit resumes from it).
    """
    split = load_split(**params["data"])
    dam = paper_dam(params["settings"], params["P"], beta=params["beta"], learn_beta=params["learn_beta"],
                    varsigma=params["varsigma"], seed=params["seed"], max_epochs=params["max_epochs"],
                    early_stopping=params.get("early_stopping", True), **params.get("overrides", {}))
    dam.fit(split.X_train, split.y_train, checkpoint=params.get("_checkpoint"))
    out = measure(dam, split)
    out.update(memory_arrays(dam))
    if getattr(dam, "history_", None) is not None:
        out["history"] = np.asarray(dam.history_, dtype=np.float64)
    return out


def supervised_job(ctx, key, **changes):
    """The :func:`fit_supervised` job of an experiment's settings (``ctx.values``), with a
    checkpoint under ``ctx.runs_dir``; ``changes`` override single parameters."""
    v = ctx.values
    params = dict(data=ctx.split_params, settings=v, P=v["P"], beta=v.get("beta"), learn_beta=v["learn_beta"],
                  varsigma=v["varsigma"], seed=v["seed"], max_epochs=v["max_epochs"],
                  early_stopping=v["early_stopping"], _checkpoint=str(ctx.runs_dir / f"{key}.ckpt.npz"))
    params.update(changes)
    return Job(key, "saddlepoint.experiments.protocol:fit_supervised", params)
