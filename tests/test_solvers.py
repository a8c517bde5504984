"""Solvers, stability and continuation of the saddle-point equations (THEORY 4)."""

import math

import numpy as np
import pytest

from saddlepoint.theory.continuation import continuation, is_merged, natural_continuation
from saddlepoint.theory.equations import equations_for
from saddlepoint.theory.equations.cluster import fixed_point_map
from saddlepoint.theory.problem import Problem, make_gram
from saddlepoint.theory.solvers import descend, solve
from saddlepoint.teacher import one_hot_class_table

INF = math.inf


def _pr(**kw):
    base = dict(gram=make_gram("overlap", 3, c=0.2), P=3, beta=5.0, alpha=4.0, N=INF, b_star=1.0,
                teacher={"kind": "overlap", "c": 0.2})
    base.update(kw)
    return Problem(**base)


@pytest.mark.parametrize("method", ["damped", "anderson", "newton", "krylov", "auto"])
def test_every_method_reaches_the_same_fixed_point(method):
    pr = _pr()
    ref = solve(pr, method="newton")
    sol = solve(pr, method=method, max_iter=5000)
    assert sol.converged, sol.message
    # residual recomputed independently of the solver, with the raw map
    m_new, _, _ = fixed_point_map(pr, sol.m)
    assert np.max(np.abs(m_new - sol.m)) <= 1e-10
    assert sol.residual <= 1e-10
    # same attracting fixed point: differences bounded by tol / (1 - rho) ~ 1e-9
    np.testing.assert_allclose(sol.m, ref.m, atol=1e-8)
    assert method in sol.method or method == "auto"


def test_newton_finds_the_unstable_merged_saddle_and_descend_leaves_it():
    # Above beta_c the merged state is a saddle: Newton on the residual converges to it from a
    # slightly perturbed symmetric start, the damped iteration runs away from it.
    pr = Problem(gram=np.eye(2), P=2, beta=4.0, alpha=INF, N=INF, b_star=1.0)
    sym = solve(pr, init="symmetric")
    m0 = sym.m + 1e-4 * np.array([[1.0, -1.0], [-1.0, 1.0]])
    sad = solve(pr, init={"m": m0}, method="newton")
    assert sad.converged and not sad.stable
    np.testing.assert_allclose(sad.m, sym.m, atol=1e-9)
    run = solve(pr, init={"m": m0}, method="damped", damping=0.5, max_iter=5000)
    assert run.converged and run.stable and not is_merged(run)
    assert run.free_entropy > sad.free_entropy  # the equilibrium branch has the larger Phi
    down = descend(sad)
    assert down.stable and down.free_entropy == pytest.approx(run.free_entropy, abs=1e-9)


def test_non_convergence_is_recorded_not_hidden():
    pr = _pr()
    sol = solve(pr, method="damped", max_iter=3, damping=0.1)
    assert not sol.converged
    assert sol.residual > 1e-10
    assert "did not converge" in sol.message
    assert not sol.stable  # stability is never claimed for a failed solve


def test_random_init_is_reproducible():
    pr = _pr(P=4)
    a = solve(pr, init="random", rng=7)
    b = solve(pr, init="random", rng=np.random.default_rng(7))
    np.testing.assert_array_equal(a.m, b.m)
    with pytest.raises(TypeError, match="rng"):
        solve(pr, init="random")


def test_learned_p_satisfies_sinkhorn_constraints():
    pi = np.array([0.2, 0.3, 0.5])
    pr = _pr(p_star=one_hot_class_table(3, 2), pi=pi)
    sol = solve(pr)
    assert sol.converged
    J = pi[:, None] * sol.p
    # model.sinkhorn stops at row error 1e-13; columns are exact after its last column sweep
    np.testing.assert_allclose(J.sum(axis=1), pi, atol=1e-12)
    np.testing.assert_allclose(J.sum(axis=0), pr.class_marginal, atol=1e-12)
    assert np.all(sol.p >= 0)


def test_init_from_solution_and_file(tmp_out):
    pr = _pr()
    sol = solve(pr)
    path = sol.save(tmp_out / "sol.json")
    again = solve(pr, init=str(path))
    assert again.converged and again.iterations <= 3  # starts at the fixed point
    np.testing.assert_allclose(again.m, sol.m, atol=1e-12)
    with pytest.raises(ValueError, match="init"):
        solve(pr, init="nonsense")


def test_continuation_detects_the_symmetry_breaking_bifurcation():
    # Independent value (docs/saddle_point.md): beta_c = sqrt(2) / m* for P = P* = 2, G = I,
    # alpha = inf. Linear interpolation of the test function between branch points: the
    # eigenvalue is linear in beta on the merged branch, so the location is exact to ~1e-9.
    pr = Problem(gram=np.eye(2), P=2, beta=1.0, alpha=INF, N=INF, b_star=1.0)
    br = continuation(pr, "beta", 4.0, init="symmetric", step=0.3)
    bif = [e for e in br.events if e["type"] == "bifurcation"]
    assert len(bif) == 1
    assert bif[0]["parameter"] == pytest.approx(math.sqrt(2.0) / pr.m_star, abs=1e-6)
    assert br.values[-1] >= 4.0 - 1e-9
    # stability flags flip at the event
    i = bif[0]["index"]
    assert br.solutions[i - 1].stable and not br.solutions[i].stable


def test_continuation_from_the_specialised_side_turns_at_the_pitchfork():
    # Seen from the specialised branch the supercritical pitchfork is a turning point in beta
    # (the branch continues into its mirror image): reported as a fold at beta_c.
    pr = Problem(gram=np.eye(2), P=2, beta=4.0, alpha=INF, N=INF, b_star=1.0)
    br = continuation(pr, "beta", 1.0, init="specialized", step=0.1, max_step=0.2)
    folds = [e for e in br.events if e["type"] == "fold"]
    assert folds and folds[0]["parameter"] == pytest.approx(math.sqrt(2.0) / pr.m_star, abs=2e-2)
    # every point of the branch solves the equations
    for v, s in zip(br.values, br.solutions):
        m_new, _, _ = fixed_point_map(pr.replace(beta=v), s.m)
        assert np.max(np.abs(m_new - s.m)) <= 1e-10


def test_fold_in_teacher_overlap_brackets_the_natural_continuation_jump():
    # The specialised branch (P = P* = 3, beta = 6, alpha = inf) ends at a fold in the
    # teacher overlap c. Independent check: natural-parameter continuation (plain solves,
    # each started from the previous) stays specialised up to the fold and jumps to the
    # merged state just after it.
    pr = _pr(alpha=INF, beta=6.0)
    br = continuation(pr, "c", 0.6, init="specialized")
    folds = [e["parameter"] for e in br.events if e["type"] == "fold"]
    assert len(folds) >= 1
    c_fold = folds[0]
    for v, s in zip(br.values, br.solutions):
        assert s.problem.gram[0, 1] == pytest.approx(v)
        m_new, _, _ = fixed_point_map(s.problem, s.m)
        assert np.max(np.abs(m_new - s.m)) <= 1e-10
    before, after = natural_continuation(pr, "c", [0.3, c_fold - 2e-3, c_fold + 2e-3])[1:]
    assert before.converged and not is_merged(before)
    assert after.converged and is_merged(after)
    with pytest.raises(ValueError, match="parameter"):
        continuation(pr, "gamma", 1.0)


def test_jacobian_eigenvalues_analytic_equal_fd_at_solution():
    pr = _pr(N=80, b_star=1.0)
    sol_a = solve(pr, jacobian="analytic")
    sol_f = solve(pr, jacobian="fd")
    # same spectrum: entries agree to ~1e-9 (FD step 1e-6), eigenvalues to the same order
    np.testing.assert_allclose(np.sort(np.abs(sol_a.jacobian_eigenvalues)),
                               np.sort(np.abs(sol_f.jacobian_eigenvalues)), atol=1e-6)
    eq = equations_for(pr)
    assert eq.size == pr.P * pr.P_star


@pytest.mark.parametrize("learn_p", [False, True])
def test_stability_by_lanczos_on_the_symmetrized_jacobian(rng, learn_p):
    # Above dense_max the cluster regime at fixed p hands the symmetric operator to Lanczos;
    # here dense_max is lowered so a 48-component state takes that path, at a random state
    # with eigenvalues above the floor (beta = 30 sharpens the softmax). Every eigenvalue of
    # modulus >= the floor must come out, equal to dense LAPACK on the analytic Jacobian to
    # 1e-9 (ARPACK to machine precision on a symmetric operator of norm O(10)).
    from saddlepoint.theory.jacobian import (
        LEADING_FLOOR,
        map_jacobian,
        sorted_eigenvalues,
        stability_eigenvalues,
    )

    P, P_star = 8, 6
    pr = Problem(gram=make_gram("overlap", P_star, c=0.3), P=P, beta=30.0, alpha=4.0, N=INF, b_star=1.0,
                 teacher={"kind": "overlap", "c": 0.3}, p_star=one_hot_class_table(P_star, 2),
                 pi=rng.dirichlet(5 * np.ones(P)), learn_p=learn_p)
    eq = equations_for(pr)
    s = eq.pack(rng.uniform(-0.2, 0.9, size=(P, P_star)), rng.dirichlet(np.ones(2), size=P))
    full = sorted_eigenvalues(map_jacobian(eq, s))
    k = int(np.sum(np.abs(full) >= LEADING_FLOOR))
    assert k >= 1  # the case exercises eigenvalues above the floor
    lead = stability_eigenvalues(eq, s, dense_max=10)
    assert (eq.stability_operator(s) is None) == learn_p  # learned p: the general Arnoldi path
    assert lead.size >= k and lead.size <= eq.size
    np.testing.assert_allclose(np.sort_complex(lead[:k]), np.sort_complex(full[:k]), rtol=0, atol=1e-9)
    # the default dense path below dense_max is unchanged
    np.testing.assert_array_equal(stability_eigenvalues(eq, s), full)


def test_stability_falls_back_to_the_formed_jacobian_when_lanczos_fails(rng, monkeypatch):
    # If Lanczos on the symmetrised operator does not converge, the state-sized Jacobian (the
    # matrix solve budgets memory for) is formed and handed to Arnoldi/LAPACK: same eigenvalues.
    import saddlepoint.theory.jacobian as jac

    P, P_star = 8, 6
    pr = Problem(gram=make_gram("overlap", P_star, c=0.3), P=P, beta=30.0, alpha=4.0, N=INF, b_star=1.0,
                 teacher={"kind": "overlap", "c": 0.3}, p_star=one_hot_class_table(P_star, 2))
    eq = equations_for(pr)
    s = eq.pack(rng.uniform(-0.2, 0.9, size=(P, P_star)))
    expected = jac.leading_eigenvalues(jac.map_jacobian(eq, s), dense_max=10)
    real = jac._arnoldi_leading
    monkeypatch.setattr(jac, "_arnoldi_leading",
                        lambda solver, A, n, floor: None if solver.__name__ == "eigsh" else real(solver, A, n, floor))
    got = jac.stability_eigenvalues(eq, s, dense_max=10)
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("n_outside", [3, 20])
def test_leading_eigenvalues_hold_every_eigenvalue_above_the_floor(rng, n_outside):
    from saddlepoint.theory.jacobian import LEADING_FLOOR, leading_eigenvalues, sorted_eigenvalues

    # A non-normal 300 x 300 matrix with a known spectrum: n_outside eigenvalues of modulus
    # >= the floor (two of them a complex pair, one real above one), the rest inside.
    n = 300
    lam = rng.uniform(-0.8, 0.8, size=n)
    lam[:n_outside] = rng.uniform(0.92, 1.3, size=n_outside) * rng.choice([-1, 1], size=n_outside)
    lam[0] = 1.05
    D = np.diag(lam)
    D[1:3, 1:3] = [[0.0, 1.1], [-1.1, 0.0]]  # eigenvalues +-1.1i
    V = rng.standard_normal((n, n))
    J = V @ D @ np.linalg.inv(V)
    full = sorted_eigenvalues(J)
    lead = leading_eigenvalues(J)
    k = int(np.sum(np.abs(full) >= LEADING_FLOOR))
    assert lead.size >= k and k == n_outside
    # ARPACK to machine precision on a matrix of condition ~1e3 (V): 1e-9 absolute.
    np.testing.assert_allclose(np.sort_complex(lead[:k]), np.sort_complex(full[:k]), atol=1e-9)
    assert np.all(np.abs(lead) >= np.abs(full[lead.size - 1]) - 1e-9)  # the leading ones, no other
    # Small matrices get every eigenvalue, exactly as before.
    small = J[:50, :50]
    np.testing.assert_array_equal(leading_eigenvalues(small), sorted_eigenvalues(small))
