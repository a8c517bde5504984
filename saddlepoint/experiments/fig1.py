"""Fig. 1: a supervised DAM with P = 25 memories at fixed beta = 16 (no effective loss).

One run of the paper protocol (momentum SGD, early stopping, label smoothing, null memory);
the figure is the page of the 25 memories, sorted by class, above their class-weight
heatmap (rows: the ten digits and "none").
"""

from ..figures.paper_pages import draw_pages
from .protocol import supervised_job

__all__ = ["MODULE", "ITEMS", "jobs", "assemble"]

MODULE = "fig1"
ITEMS = ("fig1",)


def jobs(ctx):
    return [supervised_job(ctx, "fig1/run")]


def assemble(item, ctx, results):
    r, _ = results["fig1/run"]
    v = ctx.values
    files = draw_pages(r, ctx.out / "fig1", ctx.image_shape, per_page=v["page_size"],
                       title=f"Fig. 1: P = {v['P']}, beta = {v['beta']:g} fixed, test acc {r['test_accuracy']:.3f}")
    numbers = {k: r[k] for k in ("test_accuracy", "nn_accuracy", "nn_fidelity", "beta", "epochs", "stopped_early")}
    return dict(files=files, numbers=numbers)
