"""Finite-N teacher-student simulations, measured like the theory (docs/simulator.md).

A run draws, for each seed, a teacher realising the problem's Gram matrix exactly
(:func:`saddlepoint.teacher.gram_teacher`), ``M = alpha N`` examples, and trains a student
(EM, Riemannian GD, SGD: :func:`saddlepoint.training.optim.fit`) or samples its Bayesian posterior
(:func:`saddlepoint.training.optim.gibbs`). It then measures what the saddle-point equations predict:

* the overlaps ``m_{nu mu} = w^nu.xi^mu`` (P x P*), made permutation-invariant by a Hungarian
  assignment (:func:`match_students`); the full matrix is kept in the assigned order, so a
  merged phase (several students on one teacher memory) stays visible;
* the student Gram matrix ``Q``, the class weights ``p``;
* optionally the split eigenvalues ``lambda_max(J_-(nu))`` of the empirical map (docs/hierarchy.md,
  matrix-free Lanczos: :func:`saddlepoint.training.model.split_operator`).

For the Gibbs sampler the order parameters are posterior means ``E[w].xi`` (what the
replica theory's ``m`` is), estimated over the kept sweeps; the Monte Carlo error of each
chain uses the integrated autocorrelation time (:func:`integrated_autocorrelation_time`).
Across seeds, means and standard errors (``std / sqrt(K)``) include the quenched disorder
(teacher and data) as well as the Monte Carlo error.

Which theory applies: Gibbs samples ``exp(M l(W))``, the measure of docs/saddle_point.md, section 2 at the finite
``alpha = M / N``; EM / GD / SGD find stationary points of ``l``, which the theory describes at
``alpha = inf`` (:func:`theory_problem`).
"""

import dataclasses
import functools
import json
import math
import time
from pathlib import Path

import numpy as np
from scipy.optimize import linear_sum_assignment

from .training import model, optim
from ._validation import check_int
from .io import check_kind, load_npz, metadata, output_lock, save_npz, to_jsonable, wrong_file
from .parallel import engine, map_unordered

__all__ = [
    "METHODS",
    "INITS",
    "SimulationResult",
    "match_students",
    "integrated_autocorrelation_time",
    "initial_memories",
    "theory_problem",
    "simulate_seed",
    "simulate",
    "load_simulation",
    "extrapolate",
    "theory_solution",
    "finite_size_scaling",
    "FSS_FIELDS",
]

METHODS = ("em", "gd", "sgd", "gibbs")
INITS = ("specialized", "symmetric", "random")


def match_students(m):
    """Order the students by a Hungarian assignment to the teacher memories.

    Parameters
    ----------
    m : array (P, P_star)
        Overlaps ``w^nu.xi^mu``.

    Returns
    -------
    order : int array (P,)
        Student indices: first the students assigned to teacher memories ``0, 1, ...``
        (maximising the total overlap, :func:`scipy.optimize.linear_sum_assignment`), then
        the unassigned ones (``P > P_star``) by their best teacher memory and overlap.
        ``m[order]`` is the permutation-invariant overlap matrix.
    """
    m = np.asarray(m, dtype=float)
    rows, cols = linear_sum_assignment(m, maximize=True)
    assigned = rows[np.argsort(cols)]
    rest = np.setdiff1d(np.arange(m.shape[0]), assigned)
    if rest.size:
        best = m[rest].argmax(axis=1)
        rest = rest[np.lexsort((-m[rest, best], best))]
    return np.concatenate([assigned, rest]).astype(np.intp)


def integrated_autocorrelation_time(x, c=5.0):
    """Integrated autocorrelation time of a chain, with Sokal's automatic window.

    ``tau = 1 + 2 sum_{t=1}^{W} rho(t)`` with the smallest window ``W >= c tau(W)``
    (Sokal 1997; ``rho`` from the FFT autocovariance). The variance of the chain's mean is
    ``var(x) tau / n``. Works on the first axis; other axes are independent series.

    Returns
    -------
    tau : array (x.shape[1:])
        ``>= 1`` by convention only when the chain is positively correlated; a constant
        series gets ``tau = 1``.
    """
    x = np.asarray(x, dtype=float)
    n = x.shape[0]
    flat = x.reshape(n, -1)
    out = np.ones(flat.shape[1])
    if n < 4:
        return out.reshape(x.shape[1:])
    f = flat - flat.mean(axis=0)
    size = 1 << int(math.ceil(math.log2(2 * n)))
    F = np.fft.rfft(f, n=size, axis=0)
    acov = np.fft.irfft(F * np.conj(F), n=size, axis=0)[:n] / n
    for j in range(flat.shape[1]):
        if acov[0, j] <= 0:
            continue
        rho = acov[:, j] / acov[0, j]
        taus = 2.0 * np.cumsum(rho) - 1.0
        window = np.arange(n) >= c * taus
        W = int(np.argmax(window)) if window.any() else n - 1
        out[j] = max(taus[W], 1e-12)
    return out.reshape(x.shape[1:])


def initial_memories(init, teacher_memories, P, rng, noise=1e-3):
    """Starting memories for a student of size ``P``.

    ``"specialized"``: student ``nu`` on teacher memory ``nu mod P_star`` (the specialised
    phase); ``"symmetric"``: every student on the normalised centroid of the teacher memories
    (the symmetric phase); ``"random"``: uniform on the sphere. ``noise`` (relative size of
    an isotropic Gaussian kick) breaks exact ties between copies.
    """
    if init not in INITS:
        raise ValueError(f"init must be one of {INITS}, got {init!r}")
    xi = np.asarray(teacher_memories, dtype=float)
    P_star, N = xi.shape
    if init == "random":
        W = rng.standard_normal((P, N))
    elif init == "specialized":
        W = xi[np.arange(P) % P_star] + noise * rng.standard_normal((P, N)) / math.sqrt(N)
    else:
        c = xi.mean(axis=0)
        if np.linalg.norm(c) < 1e-12:
            raise ValueError("init='symmetric' needs teacher memories with a non-zero centroid")
        c = c / np.linalg.norm(c)
        W = c[None, :] + noise * rng.standard_normal((P, N)) / math.sqrt(N)
    return W / np.linalg.norm(W, axis=1, keepdims=True)


def theory_problem(problem, method, exact=None):
    """The Problem whose saddle point the simulation should reproduce.

    Gibbs samples the posterior at the problem's ``alpha`` with ``p`` fixed at ``problem.p``
    (so ``learn_p`` is switched off); the trained students (EM, GD,
    SGD) sit at stationary points of the likelihood, i.e. ``alpha = inf``, where the exact
    finite-N population map (``exact=True``, docs/saddle_point.md, section 3) applies; it is used
    by default when ``N >= P + 3`` (its domain). The remaining gap of a trained student is
    then the finite-sample error ``O(N / M)`` only.
    """
    if method == "gibbs":
        # The sampler holds the class weights fixed at problem.p: so must the theory.
        return problem.replace(learn_p=False) if problem.learn_p else problem
    if exact is None:
        exact = problem.N >= problem.P + 3
    return problem.replace(alpha=math.inf, exact=bool(exact))


@dataclasses.dataclass(frozen=True)
class SimulationResult:
    """Measurements of a finite-N simulation over several seeds.

    Attributes
    ----------
    problem : dict
        ``Problem.to_dict()`` of the simulated parameters.
    method : str
    M : int
        Examples per seed.
    seeds : array (K,)
    m : array (K, P, P_star)
        Overlaps of each seed, rows in the Hungarian order (posterior means for Gibbs).
    Q : array (K, P, P)
        Student Gram matrices (Gibbs: ``E[w^nu.w^l]``, diagonal 1), same row order.
    p : array (K, P, C)
        Class weights, same row order.
    mc_stderr : array (K, P, P_star)
        Monte Carlo standard error of each seed's ``m`` (Gibbs; zero otherwise).
    tau_int : array (K, P, P_star)
        Integrated autocorrelation times of the overlap chains (Gibbs; one otherwise).
    converged : array (K,) of bool
    split : array (K, P)
        ``lambda_max(J_-(nu))`` per student (NaN when not measured).
    seconds : array (K,)
    """

    problem: dict
    method: str
    M: int
    seeds: np.ndarray
    m: np.ndarray
    Q: np.ndarray
    p: np.ndarray
    mc_stderr: np.ndarray
    tau_int: np.ndarray
    converged: np.ndarray
    split: np.ndarray
    seconds: np.ndarray

    def __post_init__(self):
        K = len(self.seeds)
        for name in ("m", "Q", "p", "mc_stderr", "tau_int", "converged", "split", "seconds"):
            if len(getattr(self, name)) != K:
                raise ValueError(f"SimulationResult: {name} must have one entry per seed ({K})")

    @property
    def K(self):
        return len(self.seeds)

    def _mean_err(self, a):
        a = np.asarray(a, dtype=float)
        if self.K == 0:
            return np.full(a.shape[1:], np.nan), np.full(a.shape[1:], np.nan)
        mean = a.mean(axis=0)
        if self.K == 1:
            return mean, np.full(mean.shape, np.nan)
        return mean, a.std(axis=0, ddof=1) / math.sqrt(self.K)

    @property
    def m_mean(self):
        return self._mean_err(self.m)[0]

    @property
    def m_stderr(self):
        """Standard error of ``m_mean`` over seeds (disorder plus Monte Carlo).

        With a single seed, the Monte Carlo error of the chain (Gibbs) is the only
        estimate available and is returned instead (NaN for trained students)."""
        if self.K == 1 and self.method == "gibbs":
            return self.mc_stderr[0]
        return self._mean_err(self.m)[1]

    @property
    def Q_mean(self):
        return self._mean_err(self.Q)[0]

    @property
    def Q_stderr(self):
        return self._mean_err(self.Q)[1]

    @property
    def p_mean(self):
        return self._mean_err(self.p)[0]

    def summary(self):
        """JSON-able summary: means and standard errors over seeds."""
        return {
            "method": self.method,
            "M": self.M,
            "seeds": [int(s) for s in self.seeds],
            "K": self.K,
            "m_mean": self.m_mean,
            "m_stderr": self.m_stderr,
            "Q_mean": self.Q_mean,
            "Q_stderr": self.Q_stderr,
            "p_mean": self.p_mean,
            "tau_int_max": float(np.max(self.tau_int)) if self.K else float("nan"),
            "converged": [bool(c) for c in self.converged],
            "split_mean": self._mean_err(self.split)[0],
            "split_stderr": self._mean_err(self.split)[1],
            "seconds": float(np.sum(self.seconds)),
        }

    def arrays(self):
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name not in ("problem", "method", "M")}

    def save(self, path, **extra):
        """Write ``path`` (.npz arrays) with a JSON side-car (problem, summary, metadata)."""
        meta = metadata(problem=self.problem, method=self.method, M=self.M, **extra)
        meta["summary"] = to_jsonable(self.summary())
        return save_npz(path, self.arrays(), meta)


def load_simulation(path):
    """Reload a :class:`SimulationResult` written by :meth:`SimulationResult.save`.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If ``path`` is another file (what it is and how to load it, when recognised), or lacks
        the arrays of a simulation.
    """
    expected = "a saved simulation (.npz from simulate --save / SimulationResult.save)"
    check_kind(path, "simulation", expected)
    arrays, meta = load_npz(path, "saved simulation (.npz)")
    names = {f.name for f in dataclasses.fields(SimulationResult)} - {"problem", "method", "M"}
    if set(arrays) != names:
        raise ValueError(f"{wrong_file(path, expected)} (arrays {sorted(arrays)}, expected {sorted(names)})")
    params = meta.get("parameters", {})
    return SimulationResult(problem=params.get("problem", {}), method=params.get("method", ""),
                            M=int(params.get("M", 0)), **arrays)


def _check_problem(problem):
    from .theory.problem import Problem

    if not isinstance(problem, Problem):
        raise TypeError(f"problem must be a saddlepoint.theory.problem.Problem, got {type(problem).__name__}")
    if math.isinf(problem.N):
        raise ValueError("problem.N must be finite to simulate (give --n)")
    return problem


def _resolve_M(problem, M):
    if M is not None:
        return check_int("M", M, 1)
    if math.isinf(problem.alpha):
        raise ValueError("alpha = inf cannot be simulated: give a finite alpha or M (--m-samples)")
    return max(1, int(round(problem.alpha * problem.N)))


def simulate_seed(problem, seed, *, method="em", M=None, init="specialized", sweeps=400, burn_in=100,
                  max_epochs=2000, tol=1e-10, lr=None, batch_size=None, split=False, progress=False):
    """One seed of a simulation: teacher, data, student; returns a dict of measurements.

    Parameters
    ----------
    problem : saddlepoint.theory.problem.Problem
        Finite ``N``; ``alpha`` gives ``M = round(alpha N)`` unless ``M`` is given.
    seed : int
        Seeds the teacher, the data, the initial student and the training/sampling, in that
        order (one Generator), so a seed reproduces the whole run.
    method : {"em", "gd", "sgd", "gibbs"}
    init : {"specialized", "symmetric", "random"}
        See :func:`initial_memories`.
    sweeps, burn_in : int
        Gibbs chain length and discarded prefix.
    max_epochs, tol, lr, batch_size
        Passed to :func:`saddlepoint.training.optim.fit`.
    split : bool
        Also measure ``lambda_max(J_-(nu))`` for every student (trained methods).
    """
    from .teacher import gram_teacher

    problem = _check_problem(problem)
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    M = _resolve_M(problem, M)
    seed = check_int("seed", seed, 0)
    rng = np.random.default_rng(seed)
    N, P = int(problem.N), problem.P
    teacher = gram_teacher(problem.gram, N, problem.beta_star, rng, class_table=problem.p_star)
    xi = teacher.memories
    X, y, _ = teacher.sample(M, rng)
    W0 = initial_memories(init, xi, P, rng)
    t0 = time.perf_counter()
    supervised = problem.C > 1
    y_arg = y if supervised else None
    p0 = problem.p if supervised else None
    mc = np.zeros((P, problem.P_star))
    tau = np.ones((P, problem.P_star))
    if method == "gibbs":
        res = optim.gibbs(X, W0, problem.beta, rng=rng, y=y_arg, pi=problem.pi, p=p0, sweeps=sweeps,
                          burn_in=burn_in, observe=lambda W: np.concatenate([(W @ xi.T).ravel(), (W @ W.T).ravel()]),
                          batch_size=batch_size, progress=progress)
        tr = res.trace
        if tr.shape[0] < 4:
            raise ValueError(f"sweeps - burn_in must be >= 4 (kept sweeps), got {tr.shape[0]}")
        Ps = problem.P_star
        n_m = P * Ps
        # Cross-fitted Hungarian order: the permutation chosen on one half of the chain is
        # applied to the other half's means (and vice versa), so that the assignment does
        # not select the Monte Carlo noise it is measured on. Matching and measuring on the
        # same samples biases the diagonal upwards by O(noise), which in a merged phase
        # (exchangeable students) grows like sqrt(K) in units of the standard error.
        half = tr.shape[0] // 2
        mA = tr[:half, :n_m].mean(axis=0).reshape(P, Ps)
        mB = tr[half:, :n_m].mean(axis=0).reshape(P, Ps)
        QA = tr[:half, n_m:].mean(axis=0).reshape(P, P)
        QB = tr[half:, n_m:].mean(axis=0).reshape(P, P)
        oA, oB = match_students(mA), match_students(mB)
        m = 0.5 * (mB[oA] + mA[oB])
        Q = 0.5 * (QB[np.ix_(oA, oA)] + QA[np.ix_(oB, oB)])
        chain = tr[:, :n_m].reshape(-1, P, Ps)[:, oA].reshape(tr.shape[0], n_m)
        tau = integrated_autocorrelation_time(chain).reshape(P, Ps)
        mc = np.sqrt(chain.var(axis=0, ddof=1).reshape(P, Ps) * tau / tr.shape[0])
        p = np.asarray(problem.p if p0 is None else p0)[oA]
        W = res.W_mean[oA]
        converged = True
        order = np.arange(P)
    else:
        res = optim.fit(X, W0, problem.beta, y=y_arg, pi=problem.pi, p0=p0, method=method,
                        learn_p=problem.learn_p, max_epochs=max_epochs, tol=tol, lr=lr,
                        batch_size=batch_size, rng=rng, p_update=problem.p_update, progress=progress)
        W, p = res.W, res.p
        m, Q = W @ xi.T, W @ W.T
        converged = res.converged
        order = match_students(m)
    lam = np.full(P, np.nan)
    if split and method != "gibbs":
        values, _, dead = model.split_spectra(X, W, problem.beta, problem.pi, p, y_arg, rng=seed)
        lam = np.where(dead, np.nan, values[:, 0])
    return {
        "m": m[order], "Q": Q[np.ix_(order, order)], "p": np.asarray(p)[order],
        "mc_stderr": mc[order], "tau_int": tau[order], "converged": bool(converged),
        "split": lam[order], "seconds": time.perf_counter() - t0,
    }


def simulate(problem, *, method="em", seeds=4, seed=0, M=None, init="specialized", sweeps=400, burn_in=100,
             max_epochs=2000, tol=1e-10, lr=None, batch_size=None, split=False, progress=True, save=None,
             resume=True, workers=1, scheduler=None, client=None):
    """Run :func:`simulate_seed` for ``seeds`` consecutive seeds ``seed, seed+1, ...``.

    ``progress``: a tqdm bar (True), none (False), or a callable called with 1 after each
    finished seed. The seeds are independent jobs: they run in this process (``workers=1``),
    on a local process pool (``workers > 1``) or on a dask cluster (``scheduler`` address or
    ``client``; see :func:`saddlepoint.parallel.map_unordered`), with the same results.

    Interruptible: on KeyboardInterrupt the finished seeds are returned (``K < seeds``: the
    caller must treat the result as partial) and, with ``save``, saved after each seed.
    Resumable: with ``save`` naming an earlier run of the same settings (problem, method,
    ``M`` and every keyword that changes a seed's result), its seeds are kept and only the
    missing ones are run; a file of other settings is refused (``resume=False`` replaces
    it). One run at a time may write ``save`` (a lock is held).

    Returns
    -------
    SimulationResult
        Seeds in increasing order (after an interrupt, the finished ones only).
    """
    problem = _check_problem(problem)
    K = check_int("seeds", seeds, 1)
    seed = check_int("seed", seed, 0)
    M = _resolve_M(problem, M)
    settings = dict(init=init, sweeps=sweeps, burn_in=burn_in, max_epochs=max_epochs, tol=tol, lr=lr,
                    batch_size=batch_size, split=split)
    wanted = range(seed, seed + K)
    engine_kw = dict(workers=workers, scheduler=scheduler, client=client)
    if save is None:
        return _simulate_seeds(problem, method, M, wanted, {}, settings, progress, None, engine_kw)
    save = Path(save).with_suffix(".npz")
    with output_lock(save, flag="save", file=True):
        done = _resumed_seeds(save, problem, method, M, settings, wanted, resume)
        return _simulate_seeds(problem, method, M, wanted, done, settings, progress, save, engine_kw)


def _simulate_seeds(problem, method, M, wanted, done, settings, progress, save, engine_kw):
    rows = dict(done)
    bar, advance = None, None
    if callable(progress):  # a caller's bar: called with 1 after each finished seed
        advance = progress
    elif progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(wanted), initial=len(rows), desc=f"simulate[{method}] N={int(problem.N)} M={M}")
        advance = bar.update

    def result():
        keys = ("m", "Q", "p", "mc_stderr", "tau_int", "converged", "split", "seconds")
        order = sorted(rows)
        arrs = {k: np.asarray([rows[s][k] for s in order]) for k in keys}
        if not rows:
            P, Ps, C = problem.P, problem.P_star, problem.C
            shapes = {"m": (0, P, Ps), "Q": (0, P, P), "p": (0, P, C), "mc_stderr": (0, P, Ps),
                      "tau_int": (0, P, Ps), "converged": (0,), "split": (0, P), "seconds": (0,)}
            arrs = {k: np.zeros(s) for k, s in shapes.items()}
        return SimulationResult(problem=problem.to_dict(), method=method, M=M,
                                seeds=np.asarray(order, dtype=np.int64), **arrs)

    job = functools.partial(simulate_seed, problem, method=method, M=M, progress=False, **settings)
    todo = [s for s in wanted if s not in rows]
    try:
        for i, row in map_unordered(job, todo, **engine_kw):
            rows[todo[i]] = row
            if save is not None:
                result().save(save, **settings)
            if advance is not None:
                advance(1)
    except KeyboardInterrupt:
        if not rows:
            raise
    finally:
        if bar is not None:
            bar.close()
    return result()


def _resumed_seeds(save, problem, method, M, settings, wanted, resume):
    """Rows of the seeds in ``wanted`` already saved in ``save`` by a run of the same settings."""
    from .io import ResumeMismatchError, param_name

    if not save.exists():
        return {}
    if not resume:
        save.unlink()
        return {}
    old = load_simulation(save)
    prm = load_npz(save)[1].get("parameters", {})
    want = json.loads(json.dumps(to_jsonable(dict(problem=problem.to_dict(), method=method, M=M, **settings))))
    diff = sorted(k for k in want if prm.get(k) != want[k])
    if diff:
        raise ResumeMismatchError(
            f"{param_name('save')} {save} holds a simulation of other settings ({', '.join(diff)} differ): "
            f"use {param_name('resume=False')} to replace it, or another file")
    arrays = old.arrays()
    return {int(s): {k: arrays[k][i] for k in arrays if k != "seeds"}
            for i, s in enumerate(old.seeds) if int(s) in wanted}


def extrapolate(N, values, stderr, power=1.0):
    """Weighted least-squares fit ``v(N) = a + b N^-power`` and its extrapolation ``a``.

    The disorder-averaged order parameters of the finite-N simulation approach their
    ``N = inf`` values as ``1/N`` (``power = 1``): every correction comes from fluctuations
    of the logits ``beta w.x`` (variance ``O(1/N)``) or of the vMF posterior (variance
    ``O(1/N)`` per direction), and terms linear in a zero-mean fluctuation average out, so
    the first correction is second order, ``O(1/N)`` (docs/simulator.md). The per-seed
    scatter is ``O(N^-1/2)``, but that sets the error bars, not the bias.

    Parameters
    ----------
    N : array (n,)
    values, stderr : arrays (n, ...)
        Means and standard errors at each N (entries fitted independently).
    power : float

    Returns
    -------
    dict
        ``a``, ``a_err``, ``b``, ``b_err``, ``chi2`` (same trailing shape) and ``dof``.
    """
    N = np.asarray(N, dtype=float)
    v = np.asarray(values, dtype=float)
    e = np.asarray(stderr, dtype=float)
    if N.ndim != 1 or N.size < 2 or v.shape[0] != N.size or e.shape != v.shape:
        raise ValueError("extrapolate needs >= 2 values of N and values/stderr of shape (len(N), ...)")
    if np.any(~np.isfinite(e)) or np.any(e <= 0):
        raise ValueError("stderr must be finite and positive (run more than one seed)")
    x = N ** -float(power)
    flat_v = v.reshape(N.size, -1)
    flat_e = e.reshape(N.size, -1)
    out = {k: np.empty(flat_v.shape[1]) for k in ("a", "a_err", "b", "b_err", "chi2")}
    A = np.column_stack([np.ones_like(x), x])
    for j in range(flat_v.shape[1]):
        w = 1.0 / flat_e[:, j]
        coef, *_ = np.linalg.lstsq(A * w[:, None], flat_v[:, j] * w, rcond=None)
        cov = np.linalg.inv((A * w[:, None] ** 2).T @ A)
        resid = (flat_v[:, j] - A @ coef) * w
        out["a"][j], out["b"][j] = coef
        out["a_err"][j], out["b_err"][j] = np.sqrt(np.diag(cov))
        out["chi2"][j] = float(resid @ resid)
    shape = v.shape[1:]
    res = {k: val.reshape(shape) for k, val in out.items()}
    res["dof"] = int(N.size - 2)
    return res


def theory_solution(problem, method, init="specialized"):
    """Saddle-point solution matching a simulation of ``problem`` (see :func:`theory_problem`).

    Returns ``(solution, m_sorted)``, the rows of ``m`` in Hungarian order, or
    ``(solution, None)`` when the solver did not converge (never silently used).
    """
    from .theory.solvers import solve

    if init not in INITS:
        raise ValueError(f"init must be one of {INITS}, got {init!r}")
    if not math.isinf(problem.N):
        tp = theory_problem(problem, method)
    elif method == "gibbs":
        tp = problem.replace(learn_p=False) if problem.learn_p else problem
    else:
        tp = problem.replace(alpha=math.inf)
    sol = solve(tp, init="symmetric" if init == "symmetric" else "specialized")
    if not sol.converged:
        return sol, None
    m = np.asarray(sol.m)
    return sol, m[match_students(m)]


FSS_FIELDS = ("N", "M", "K", "nu", "mu", "m_mean", "m_stderr", "theory_m", "gap_sigma", "tau_int_max", "seconds")


def finite_size_scaling(problem, n_list, *, method="gibbs", seeds=8, seed=0, init="specialized", sweeps=1000,
                        burn_in=200, max_epochs=2000, tol=1e-10, M_factor=None, power=1.0, csv_path=None,
                        progress=True, workers=1, scheduler=None, client=None):
    """Simulate ``problem`` at several N with ``beta* = b* N`` and extrapolate to N = inf.

    For each N: ``M = round(alpha N)`` examples (or ``M_factor * N`` for trained students at
    ``alpha = inf``), ``seeds`` seeds, the finite-N saddle point (``m* = A_N(beta*)``,
    ``A_N(N |h|)``; exact population map for trained students) and the gap in standard
    errors. Then the fit ``m(N) = a + b N^-power`` (:func:`extrapolate`) and the N = inf
    theory. Rows go to ``csv_path`` after each N; an interrupt keeps the finished N. The seeds
    of each N run as independent jobs (``workers``, ``scheduler``, ``client``: see
    :func:`simulate`).

    Returns
    -------
    dict
        ``N`` (list), ``m_mean``/``m_stderr``/``theory_m`` (n x P x P*), ``theory_inf``
        (P x P*), ``fit`` (see :func:`extrapolate`), ``extrapolation_gap_sigma``
        (``(a - theory_inf) / a_err``), ``interrupted``.
    """
    from .io import append_csv_rows

    _check_problem(problem)
    n_list = [check_int("n_list entry", n, 2) for n in n_list]
    if not n_list:
        raise ValueError("n_list must hold at least one N")
    out = {"N": [], "M": [], "m_mean": [], "m_stderr": [], "theory_m": [], "m_seeds": [], "interrupted": False,
           "method": method, "problem": problem.describe()}
    with engine(scheduler, client) as cluster:  # one connection for every N
        for N in n_list:
            pN = problem.replace(N=N)
            if math.isinf(pN.alpha):
                if M_factor is None:
                    raise ValueError("alpha = inf: give M_factor (examples per dimension) for the simulation")
                M = int(round(M_factor * N))
            else:
                M = None
            res = simulate(pN, method=method, seeds=seeds, seed=seed, M=M, init=init, sweeps=sweeps, burn_in=burn_in,
                           max_epochs=max_epochs, tol=tol, progress=progress, workers=workers, client=cluster)
            if res.K < seeds:
                out["interrupted"] = True
                if res.K < 2:
                    break
            _, tm = theory_solution(pN, method, init)
            out["N"].append(N)
            out["M"].append(res.M)
            out["m_mean"].append(res.m_mean)
            out["m_stderr"].append(res.m_stderr)
            out["m_seeds"].append(res.m)  # per seed, for averaging exchangeable entries (saddlepoint.verdict)
            out["theory_m"].append(np.full(res.m_mean.shape, np.nan) if tm is None else tm)
            if csv_path is not None:
                rows = []
                for nu in range(problem.P):
                    for mu in range(problem.P_star):
                        t = out["theory_m"][-1][nu, mu]
                        e = res.m_stderr[nu, mu]
                        rows.append({"N": N, "M": res.M, "K": res.K, "nu": nu, "mu": mu, "m_mean": res.m_mean[nu, mu],
                                     "m_stderr": e, "theory_m": t, "gap_sigma": (res.m_mean[nu, mu] - t) / e,
                                     "tau_int_max": float(np.max(res.tau_int)), "seconds": float(np.sum(res.seconds))})
                append_csv_rows(csv_path, rows, FSS_FIELDS)
            if out["interrupted"]:
                break
    for key in ("m_mean", "m_stderr", "theory_m"):
        out[key] = np.asarray(out[key])
    _, tinf = theory_solution(problem.replace(N=math.inf), method, init)
    out["theory_inf"] = tinf
    if len(out["N"]) >= 2:
        fit = extrapolate(out["N"], out["m_mean"], out["m_stderr"], power=power)
        out["fit"] = fit
        if tinf is not None:
            out["extrapolation_gap_sigma"] = (fit["a"] - tinf) / fit["a_err"]
    return out
