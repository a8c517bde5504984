"""Fig. 2 and Table 1: supervised DAMs with P = 1000 at fixed beta in {6, 10, 14, 18}.

Runs per beta (independent jobs):

* ``fixed``: the paper's run, ``beta`` fixed, no effective loss (``varsigma = 1``);
* ``effective``: the same protocol with the effective loss, ``beta`` starting at the table's
  value and learned under ``varsigma = 0.25`` (Table 1 with and without the effective loss,
  side by side);
* ``em`` (our arm, when ``em_arm``): the same model trained by EM at fixed ``beta``.

Fig. 2 is a memory page per beta of the ``fixed`` runs; Table 1 is the test accuracy per beta
(``table1.csv`` and ``table1.md``).
"""

from ..figures.paper_pages import draw_pages
from ..io import append_csv_rows
from .protocol import supervised_job

__all__ = ["MODULE", "ITEMS", "jobs", "assemble", "ARMS"]

MODULE = "fig2_table1"
ITEMS = ("fig2", "table1")
ARMS = ("fixed", "effective", "em")


def _arms(v):
    return ARMS if v.get("em_arm") else ARMS[:2]


def jobs(ctx):
    v = ctx.values
    out = []
    for beta in v["betas"]:
        for arm in _arms(v):
            changes = dict(beta=beta, learn_beta=arm == "effective",
                           varsigma=v["effective_varsigma"] if arm == "effective" else v["varsigma"])
            if arm == "em":
                changes.update(max_epochs=v["em_max_epochs"], early_stopping=False,
                               overrides=dict(method="em", ll_tol=v["em_ll_tol"]))
            out.append(supervised_job(ctx, f"fig2_table1/{arm}-beta{beta:g}", **changes))
    return out


def _rows(ctx, results):
    v = ctx.values
    rows = []
    for beta in v["betas"]:
        row = {"beta": beta}
        for arm in _arms(v):
            r, _ = results[f"fig2_table1/{arm}-beta{beta:g}"]
            for key in ("test_accuracy", "nn_accuracy", "nn_fidelity", "epochs"):
                row[f"{arm}_{key}"] = r[key]
            if arm == "effective":
                row["effective_final_beta"] = r["beta"]
                row["effective_stopped_early"] = r["stopped_early"]
        rows.append(row)
    return rows


def assemble(item, ctx, results):
    v = ctx.values
    if item == "fig2":
        files = []
        for beta in v["betas"]:
            r, _ = results[f"fig2_table1/fixed-beta{beta:g}"]
            files += draw_pages(r, ctx.out / f"fig2_beta{beta:g}", ctx.image_shape, per_page=v["page_size"],
                                shown=v["shown"],
                                title=f"Fig. 2: P = {v['P']}, beta = {beta:g} fixed, test acc {r['test_accuracy']:.3f}")
        numbers = {f"beta_{b:g}": results[f"fig2_table1/fixed-beta{b:g}"][0]["test_accuracy"] for b in v["betas"]}
        return dict(files=files, numbers={"test_accuracy": numbers})
    rows = _rows(ctx, results)
    fields = list(rows[0])
    csv_path = ctx.out / "table1.csv"
    if csv_path.exists():
        csv_path.unlink()
    append_csv_rows(csv_path, rows, fields)
    md = ctx.out / "table1.md"
    head = ["beta", "fixed beta (paper)", f"effective loss (varsigma = {v['effective_varsigma']:g}, beta learned)"]
    if "em" in _arms(v):
        head.append("EM, fixed beta (ours)")
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in rows:
        cells = [f"{row['beta']:g}", f"{row['fixed_test_accuracy']:.4f}",
                 f"{row['effective_test_accuracy']:.4f} (final beta {row['effective_final_beta']:.3g}, "
                 f"{row['effective_epochs']} epochs)"]
        if "em" in _arms(v):
            cells.append(f"{row['em_test_accuracy']:.4f}")
        lines.append("| " + " | ".join(cells) + " |")
    md.write_text(f"Table 1: test accuracy, P = {v['P']}\n\n" + "\n".join(lines) + "\n")
    numbers = {"rows": rows,
               "test_accuracy_fixed_beta": {f"{r['beta']:g}": r["fixed_test_accuracy"] for r in rows},
               "test_accuracy_effective_loss": {f"{r['beta']:g}": r["effective_test_accuracy"] for r in rows}}
    if "em" in _arms(v):
        numbers["test_accuracy_em"] = {f"{r['beta']:g}": r["em_test_accuracy"] for r in rows}
    return dict(files=["table1.csv", "table1.md"], numbers=numbers)
