"""Phase diagrams: 2-D sweeps of the saddle-point equations (docs/saddle_point.md, section 2).

At every grid point ``(x, y)`` (two scalar parameters of :data:`saddlepoint.theory.problem.PARAMETERS`)
the equations are solved twice, from the symmetric (merged) and from the specialised
initialisation. The merged state is a fixed point by symmetry, so the first solve always
follows the merged branch (stable or not); the second finds the specialised branch where it
exists. The row records both, with their free entropies, spectral radii and stability, and
the equilibrium phase: among converged, linearly stable solutions, the one with the larger
free entropy (for ``alpha = inf``: the larger energy, the O(alpha) coefficient). When the
specialised start lands on a saddle (possible for ``P != P*``) or on an unstable merged
state, :func:`saddlepoint.theory.solvers.descend` follows the unstable mode to a stable state.

Sweeps run their chunks of grid points on a local process pool or a dask cluster
(:func:`saddlepoint.parallel.map_unordered`), write each finished chunk of rows at once to a tidy CSV table
(:func:`saddlepoint.io.append_csv_rows`) with a JSON side-car of metadata, and are resumable:
rerunning the same sweep into the same directory computes only the missing points. A
finished table is rewritten in grid order (:func:`saddlepoint.io.sort_csv_rows`).
"""

import functools
import math
from pathlib import Path

import numpy as np

from .._validation import check_int
from .continuation import is_merged
from ..io import (append_csv_rows, check_kind, check_resume, load_json, output_lock, read_csv_rows,
                  sort_csv_rows, wrong_file)
from ..parallel import engine, map_unordered, slots
from .problem import PARAMETERS, Problem
from .solvers import descend, solve

__all__ = [
    "parse_grid",
    "phase_point",
    "distinct_students",
    "sweep",
    "load_sweep",
    "PHASE_CODES",
    "FIELDS",
]

#: Numeric codes of the ``phase`` column.
PHASE_CODES = {"failed": -1, "merged": 0, "specialized": 1}

FIELDS = [
    "ix", "iy", "x", "y", "phase", "phase_code", "coexistence",
    "converged_sym", "stable_sym", "free_entropy_sym", "radius_sym", "lambda_sym",
    "converged_spec", "stable_spec", "free_entropy_spec", "radius_spec", "merged_spec",
    "specialization", "m_self", "m_other", "n_distinct", "iterations",
]


def parse_grid(text):
    """Parse a grid: ``"a:b:n"`` (``n`` points linearly from ``a`` to ``b``),
    ``"log:a:b:n"`` (geometric) or ``"v1,v2,..."``. Returns a float array."""
    text = str(text).strip()
    try:
        if text.startswith("log:"):
            a, b, n = text[4:].split(":")
            a, b, n = float(a), float(b), int(n)
            if a <= 0 or b <= 0:
                raise ValueError
            return np.geomspace(a, b, n)
        if ":" in text:
            a, b, n = text.split(":")
            n = int(n)
            if n < 1:
                raise ValueError
            return np.linspace(float(a), float(b), n)
        return np.array([float(v) for v in text.split(",")])
    except ValueError:
        raise ValueError(f"grid must be 'start:stop:count', 'log:start:stop:count' or 'v1,v2,...', got {text!r}") from None


def _specialization(m):
    """Spread between students and self/other overlaps of a solution's ``m``."""
    P, P_star = m.shape
    spread = float(np.max(np.ptp(m, axis=0))) if P > 1 else 0.0
    srt = np.sort(m, axis=1)
    m_self = float(np.mean(srt[:, -1]))
    m_other = float(np.mean(srt[:, -2])) if P_star > 1 else math.nan
    return spread, m_self, m_other


def distinct_students(solution, tol=1e-6):
    """Number of distinct students (rows of ``m`` and ``p`` differing by more than ``tol``):
    1 for the merged state, ``P`` when fully specialised, in between for partially merged
    states (e.g. one student per group of a hierarchical teacher)."""
    rows = np.hstack([solution.m, solution.p])
    reps = []
    for row in rows:
        if not any(np.max(np.abs(row - r)) < tol for r in reps):
            reps.append(row)
    return len(reps)


def phase_point(problem, tol=1e-10):
    """Solve ``problem`` from the symmetric and specialised initialisations and classify.

    Returns
    -------
    dict
        The :data:`FIELDS` of one row except ``ix, iy, x, y``.
    """
    sym = solve(problem, init="symmetric", tol=tol)
    spec = solve(problem, init="specialized", tol=tol)
    if spec.converged and not spec.stable:
        # the specialised start may land on a saddle (e.g. P < P*): follow its unstable mode
        spec = descend(spec, tol=tol)
    merged_spec = bool(spec.converged and is_merged(spec))
    if merged_spec and not sym.stable:
        spec = descend(sym, tol=tol)
        merged_spec = bool(spec.converged and is_merged(spec))
    candidates = []
    if sym.converged and sym.stable:
        candidates.append(("merged", sym.free_entropy))
    if spec.converged and spec.stable and not merged_spec:
        candidates.append(("specialized", spec.free_entropy))
    if candidates:
        phase = max(candidates, key=lambda c: c[1])[0]
    elif spec.converged and merged_spec:
        phase = "merged"
    else:
        phase = "failed"
    best = spec if (phase == "specialized" or (phase == "failed" and spec.converged)) else sym
    spread, m_self, m_other = _specialization(best.m)
    ev = sym.jacobian_eigenvalues
    return {
        "phase": phase,
        "phase_code": PHASE_CODES[phase],
        "coexistence": int(len(candidates) == 2),
        "converged_sym": int(sym.converged), "stable_sym": int(sym.stable),
        "free_entropy_sym": sym.free_entropy, "radius_sym": sym.spectral_radius,
        "lambda_sym": float(np.max(ev.real)) if ev.size else math.nan,
        "converged_spec": int(spec.converged), "stable_spec": int(spec.stable),
        "free_entropy_spec": spec.free_entropy, "radius_spec": spec.spectral_radius,
        "merged_spec": int(merged_spec),
        "specialization": spread if phase != "merged" else 0.0,
        "m_self": m_self, "m_other": m_other,
        "n_distinct": distinct_students(best) if best.converged else 0,
        "iterations": sym.iterations + spec.iterations,
    }


def _chunk(problem, xname, yname, points, tol=1e-10):
    rows = []
    for ix, iy, xv, yv in points:
        pr = problem.with_parameter(xname, xv).with_parameter(yname, yv)
        row = {"ix": ix, "iy": iy, "x": xv, "y": yv}
        row.update(phase_point(pr, tol))
        rows.append(row)
    return rows


def _meta_params(problem, xname, xvalues, yname, yvalues, tol):
    return {"problem": problem.to_dict(), "x": xname, "x_values": [float(v) for v in xvalues],
            "y": yname, "y_values": [float(v) for v in yvalues], "tol": tol}


def sweep(problem, x, x_values, y, y_values, out, workers=2, progress=True, resume=True,
          tol=1e-10, name="phase_diagram", scheduler=None, client=None):
    """2-D phase-diagram sweep over ``x`` (grid ``x_values``) and ``y`` (``y_values``).

    Parameters
    ----------
    problem : Problem
        Base problem; ``x`` and ``y`` are set with :meth:`Problem.with_parameter`.
    x, y : str
        Parameter names (:data:`saddlepoint.theory.problem.PARAMETERS`), different.
    x_values, y_values : array-like
    out : path
        Output directory: ``<name>.csv`` (tidy rows, one per grid point; appended as chunks
        finish, then rewritten in grid order, ``iy`` slowest, when the sweep is complete) and
        ``<name>.json`` (metadata: version, problem, grids).
    workers : int
        Local processes (1: run in this process); ignored with a dask cluster.
    progress : bool or callable
        tqdm progress bar; a callable is called instead, first with the number of rows kept
        from an earlier run (if any), then with the number of rows written after each chunk
        (e.g. the ``update`` of a caller's bar, which then counts as the tqdm bar does).
    resume : bool
        Keep the rows of an earlier run of the same sweep in ``out`` and compute only the
        missing points; with False an existing table is replaced.
    scheduler : str, optional
        Address of a dask scheduler (``tcp://host:8786``): the chunks of grid points run on
        that cluster (the ``distributed`` extra); rows are written here as chunks finish,
        so resume and progress work as with the local pool.
    client : distributed.Client, optional
        An existing dask client (takes precedence over ``scheduler``).

    Returns
    -------
    dict with ``csv``, ``json`` (paths), ``computed`` and ``skipped`` (point counts).
    """
    if not isinstance(problem, Problem):
        raise TypeError("problem must be a saddlepoint.theory.problem.Problem")
    for nm, val in (("x", x), ("y", y)):
        if val not in PARAMETERS:
            raise ValueError(f"{nm} must be one of {PARAMETERS}, got {val!r}")
    if x == y:
        raise ValueError("x and y must be different parameters")
    workers = check_int("workers", workers, 1)
    xv = np.asarray(x_values, dtype=float).ravel()
    yv = np.asarray(y_values, dtype=float).ravel()
    if xv.size == 0 or yv.size == 0:
        raise ValueError("x_values and y_values must be non-empty")
    # validate the corners before launching workers (clear error naming the parameter)
    problem.with_parameter(x, xv[0]).with_parameter(y, yv[0])
    problem.with_parameter(x, xv[-1]).with_parameter(y, yv[-1])
    out = Path(out)
    csv_path, json_path = out / f"{name}.csv", out / f"{name}.json"
    params = _meta_params(problem, x, xv, y, yv, tol)
    with output_lock(out):
        return _sweep_locked(problem, x, xv, y, yv, csv_path, json_path, params, workers, progress, resume, tol, name,
                             scheduler, client)


def _sweep_locked(problem, x, xv, y, yv, csv_path, json_path, params, workers, progress, resume, tol, name,
                  scheduler, client):
    done = set()
    if check_resume(json_path, params, [csv_path], resume):
        for row in read_csv_rows(csv_path, FIELDS):  # a torn last row is dropped, recomputed
            i, j = int(row["ix"]), int(row["iy"])
            if 0 <= i < xv.size and 0 <= j < yv.size and row["x"] == float(xv[i]) and row["y"] == float(yv[j]):
                done.add((i, j))
    todo = [(i, j, float(xv[i]), float(yv[j])) for j in range(yv.size) for i in range(xv.size)
            if (i, j) not in done]
    if callable(progress):
        advance, bar = progress, None
        if done:
            advance(len(done))  # as the tqdm bar's initial: kept rows are done
    else:
        from tqdm.auto import tqdm

        bar = tqdm(total=xv.size * yv.size, initial=len(done), disable=not progress,
                   desc=f"{name} {x} x {y}", unit="pt")
        advance = bar.update
    try:
        with engine(scheduler, client) as cluster:
            # about 8 chunks per worker: balanced load, and little lost on an interrupt
            n = slots(workers, cluster)
            chunk = max(1, min(xv.size, math.ceil(len(todo) / (8 * n)) if todo else 1))
            chunks = [todo[k:k + chunk] for k in range(0, len(todo), chunk)]
            job = functools.partial(_chunk, problem, x, y, tol=tol)
            for _, rows in map_unordered(job, chunks, workers=workers, client=cluster):
                append_csv_rows(csv_path, rows, FIELDS)
                advance(len(rows))
    finally:
        if bar is not None:
            bar.close()
    # Chunks finish in any order: the finished table is rewritten in grid order (iy, then ix),
    # so the same sweep gives the same bytes.
    sort_csv_rows(csv_path, ("iy", "ix"))
    return {"csv": csv_path, "json": json_path, "computed": len(todo), "skipped": len(done)}


def load_sweep(out, name="phase_diagram"):
    """Load a sweep written by :func:`sweep`: returns ``(meta, grids)`` where ``grids`` maps
    each numeric column to an array of shape ``(len(y_values), len(x_values))`` (NaN where
    a point is missing) and ``meta`` is the JSON metadata.

    ``out`` is the sweep's directory (``--out`` of ``phase-diagram``), or its CSV table or JSON
    side-car (then ``name`` is taken from the file name). Raises FileNotFoundError naming what
    is missing, ValueError for another kind of file (saying what it is and how to load it)."""
    out = Path(out)
    expected = "a phase-diagram sweep (its --out directory, or its .csv / .json)"
    if out.is_file():
        if out.suffix not in (".csv", ".json"):
            raise ValueError(wrong_file(out, expected))
        check_kind(out, "sweep", expected)
        out, name = out.parent, out.stem
    elif not out.is_dir():
        raise FileNotFoundError(f"no such phase-diagram directory: {out} (pass the directory given to "
                                f"phase-diagram --out, or its {name}.csv)")
    elif not (out / f"{name}.json").is_file():
        raise FileNotFoundError(f"{wrong_file(out, expected)} (no {name}.json in it; name= for a sweep "
                                f"not called {name!r})")
    meta = load_json(out / f"{name}.json", "sweep metadata")
    if "x_values" not in meta.get("parameters", {}):
        raise ValueError(wrong_file(out / f"{name}.json", expected))
    p = meta["parameters"]
    nx, ny = len(p["x_values"]), len(p["y_values"])
    rows = read_csv_rows(out / f"{name}.csv")
    grids = {}
    for key in FIELDS:
        if key == "phase":
            continue
        grids[key] = np.full((ny, nx), np.nan)
    for row in rows:
        i, j = int(row["ix"]), int(row["iy"])
        for key in grids:
            v = row.get(key)
            grids[key][j, i] = v if isinstance(v, float) else np.nan
    grids["x_values"] = np.asarray(p["x_values"])
    grids["y_values"] = np.asarray(p["y_values"])
    return meta, grids
