"""Pages of memories drawn as images above their weight heatmap (the paper's Figs. 1-4, 7-10).

One page shows ``per_page`` memories (25 in the paper) in a row, each as a small image in a
diverging colour map symmetric about zero (memories of centred data have signed pixels),
and under them a heatmap whose column ``k`` is the weight table row of the memory above it:
the class weights ``p^c_nu`` of a supervised DAM, or the group weights of a DAM with latent
groups, with the "none" column as the last heatmap row when there is one. Memories are
sorted by their dominant row (class or group), then by decreasing weight on it, so that a
page reads group by group.

Plotting only: the data come from a fitted :class:`saddlepoint.training.estimator.DAM` (``W_`` and
its table), saved by the caller.
"""

import math
from pathlib import Path

import numpy as np

from .._validation import check_array, check_int
from . import save_figure

__all__ = ["memory_pages", "sort_by_table"]


def sort_by_table(table):
    """Order memories by dominant row of ``table`` (argmax), then by decreasing weight on it.

    Parameters
    ----------
    table : array (P, K)
        One row of weights per memory (ties in the argmax go to the lowest column).

    Returns
    -------
    order : int array (P,)
        A permutation of ``0..P-1``.
    """
    table = check_array("table", table, ndim=2)
    top = np.argmax(table, axis=1)
    return np.lexsort((-table[np.arange(table.shape[0]), top], top))


def memory_pages(W, table, image_shape, row_labels, order=None, per_page=25, out_prefix="memory_page",
                 title=None, table_label="weight", vmax=None, dpi=120):
    """Draw memories as pages of images over their weight heatmap; one PNG per page.

    Parameters
    ----------
    W : array (P, N)
        Memories (unit rows), drawn as ``image_shape`` images; the colour map (``RdBu_r``)
        is symmetric about 0 with the same scale on every page, ``[-vmax, vmax]``
        (default ``vmax = max |W|``), so pages can be compared.
    table : array (P, K)
        Weights of each memory over the ``K`` heatmap rows (e.g. class weights ``p_``, or
        group weights with a last "none" column); drawn on ``[0, max(1, max table)]``.
    image_shape : (h, w) with ``h * w = N``
    row_labels : sequence of K str
        Names of the heatmap rows (e.g. ``["0", ..., "9", "none"]``).
    order : int array, optional
        Memories to draw, in page order (default :func:`sort_by_table`). May select a subset.
    per_page : int
        Memories per page (25 in the paper).
    out_prefix : path
        Pages are written to ``{out_prefix}_{i}.png``, ``i = 1, 2, ...``.
    title : str, optional
        Page title; ``" (page i/n)"`` is appended.
    table_label : str
        Label of the heatmap colour bar.

    Returns
    -------
    list of Path
        The pages written.

    Raises
    ------
    ValueError
        On shapes that do not match (naming the argument), an empty ``order`` or an index
        out of range.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.gridspec import GridSpec

    W = check_array("W", W, ndim=2)
    P, N = W.shape
    table = check_array("table", table, ndim=2, shape=(P, None))
    K = table.shape[1]
    h, w = (int(v) for v in image_shape)
    if h * w != N:
        raise ValueError(f"image_shape {(h, w)} does not match N = {N} pixels per memory")
    row_labels = [str(r) for r in row_labels]
    if len(row_labels) != K:
        raise ValueError(f"row_labels must have {K} entries (one per table column), got {len(row_labels)}")
    per_page = check_int("per_page", per_page, 1)
    order = sort_by_table(table) if order is None else np.asarray(order)
    if order.ndim != 1 or order.size == 0 or order.dtype.kind not in "iu":
        raise ValueError("order must be a non-empty 1-D array of memory indices")
    if order.min() < 0 or order.max() >= P:
        raise ValueError(f"order holds indices outside 0..{P - 1}")
    if vmax is None:
        vmax = float(np.max(np.abs(W[order]))) or 1.0
    tmax = max(1.0, float(np.max(table[order])))
    n_pages = math.ceil(order.size / per_page)
    # Layout in inches: a 0.6 margin for the row labels, 0.55 per memory, 1.0 for the two
    # colour bars; an image row of 0.7 over a heatmap of 0.2 per table row.
    fw = 0.6 + 0.55 * per_page + 1.0
    fh = 0.35 + 0.7 + 0.2 * K + 0.35
    frame = dict(top=1 - 0.35 / fh, bottom=0.35 / fh)
    paths = []
    for page in range(n_pages):
        idx = order[page * per_page:(page + 1) * per_page]
        fig = plt.figure(figsize=(fw, fh))
        gs = GridSpec(2, per_page, figure=fig, height_ratios=[0.7, 0.2 * K], wspace=0.08, hspace=0.1,
                      left=0.6 / fw, right=1 - 1.0 / fw, **frame)
        for k in range(per_page):
            ax = fig.add_subplot(gs[0, k])
            ax.axis("off")
            if k < idx.size:
                im = ax.imshow(W[idx[k]].reshape(h, w), cmap="RdBu_r", vmin=-vmax, vmax=vmax,
                               interpolation="nearest")
                ax.set_title(str(idx[k]), fontsize=6, pad=1)
        heat = fig.add_subplot(gs[1, :])
        cells = np.full((K, per_page), np.nan)
        cells[:, :idx.size] = table[idx].T
        hm = heat.imshow(np.ma.masked_invalid(cells), aspect="auto", cmap="viridis", vmin=0.0, vmax=tmax,
                         interpolation="nearest")
        heat.set_yticks(range(K))
        heat.set_yticklabels(row_labels, fontsize=6)
        heat.set_xticks(range(idx.size))
        heat.set_xticklabels([row_labels[c] for c in np.argmax(table[idx], axis=1)], fontsize=6)
        bars = GridSpec(2, 1, figure=fig, left=1 - 0.75 / fw, right=1 - 0.62 / fw, hspace=0.35, **frame)
        fig.colorbar(im, cax=fig.add_subplot(bars[0])).ax.tick_params(labelsize=5)
        cb = fig.colorbar(hm, cax=fig.add_subplot(bars[1]))
        cb.ax.tick_params(labelsize=5)
        cb.set_label(table_label, fontsize=6)
        fig.suptitle(f"{title or 'memories'} (page {page + 1}/{n_pages})", fontsize=8)
        paths.append(save_figure(fig, Path(f"{out_prefix}_{page + 1}.png"), dpi=dpi))
    return paths
