"""Tests of the saddle hierarchy (THEORY 6): duplicated fixed points, the antisymmetric block,
the Hessian identity, population closed forms and the critical inverse temperature.

References are independent computations: finite-difference Jacobians of the EM map
(model.em_map), finite-difference second derivatives of model.log_likelihood, the regime's
order-parameter map differentiated by finite differences, closed forms from the vMF moments
(THEORY 0), and one EM step on exact vMF samples with its Monte Carlo standard error.
"""

import math

import numpy as np
import pytest

from saddlepoint.theory import hierarchy as H
from saddlepoint.training import model
from saddlepoint import special
from saddlepoint.theory.problem import Problem, make_gram
from saddlepoint.theory.solvers import solve
from saddlepoint.teacher import gram_teacher, random_teacher


def _fixed_point(X, W, beta, pi, p, y, learn_p=True, p_update="sinkhorn", max_iter=20000):
    """Iterate the EM map to its fixed point (contracting near a stable point)."""
    for _ in range(max_iter):
        Wn, pn = model.em_map(X, W, beta, pi, p, y, learn_p, p_update=p_update)
        d = max(np.abs(Wn - W).max(), np.abs(pn - p).max())
        W, p = Wn, pn
        if d < 1e-15:
            break
    return W, p


@pytest.fixture(scope="module")
def supervised_data():
    """Three soft-labelled vMF clusters in N = 5 and a P = 2 fixed point with learned p."""
    rng = np.random.default_rng(1)
    table = np.array([[0.8, 0.2], [0.3, 0.7], [0.5, 0.5]])
    T = random_teacher(5, 3, 4.0, rng, classes=2, class_table=table)
    X, y, _ = T.sample(600, rng)
    beta, P = 3.0, 2
    pi = np.full(P, 1.0 / P)
    out = {}
    for pu in ("sinkhorn", "mstep"):
        W, p = _fixed_point(X, T.memories[:P].copy(), beta, pi, np.full((P, 2), 0.5), y, p_update=pu)
        out[pu] = (W, p)
    return X, y, beta, pi, out


@pytest.fixture(scope="module")
def unsupervised_data():
    rng = np.random.default_rng(2)
    T = random_teacher(6, 3, 5.0, rng)
    X, _, _ = T.sample(500, rng)
    beta, P = 4.0, 2
    pi = np.array([0.4, 0.6])
    W, p = _fixed_point(X, T.memories[:P].copy(), beta, pi, np.ones((P, 1)), None, learn_p=False)
    return X, beta, pi, W, p


def _tangent(rng, w, C=0):
    z = rng.standard_normal(w.size + C)
    z[: w.size] -= (w @ z[: w.size]) * w
    if C:
        z[w.size:] -= z[w.size:].mean()
    return z / np.linalg.norm(z)


# ----------------------------------------------------------------- duplicated fixed point
@pytest.mark.parametrize("pu", ["sinkhorn", "mstep"])
def test_duplicate_is_fixed_point_on_data(supervised_data, pu):
    X, y, beta, pi, fps = supervised_data
    W, p = fps[pu]
    for which in (None, [1], [0]):
        res = H.duplication_residual(X, W, beta, pi, p, y, which=which, p_update=pu)
        # The narrow point is converged to rounding; duplication is exact algebra, so the
        # wide residual is at machine precision too (a few ulps of O(1) quantities).
        assert res["narrow_residual_W"] < 1e-14
        assert res["residual_W"] < 1e-14 and res["residual_p"] < 1e-14
        assert res["W2"].shape[0] == 2 + (2 if which is None else 1)


def test_duplicate_is_fixed_point_in_every_population_regime():
    G = make_gram("overlap", 3, c=0.2)
    cases = [
        Problem(gram=G, P=1, beta=2.0, alpha=math.inf, N=math.inf, b_star=1.0),
        Problem(gram=G, P=1, beta=3.0, alpha=math.inf, N=30, beta_star=30.0),
        Problem(gram=G, P=1, beta=3.0, alpha=math.inf, N=30, beta_star=30.0, exact=True),
        Problem(gram=np.eye(2), P=1, beta=2.0, alpha=math.inf, N=math.inf, b_star=1.0, p_star=np.eye(2)),
    ]
    for pr in cases:
        sol = solve(pr, init="symmetric", tol=1e-12)
        assert sol.converged
        out = H.order_parameter_split(sol, 0)
        # duplicated state plugged into the (P+1)-memory map: residual at the narrow
        # solution's own level (tol 1e-12) -- it is the same fixed point.
        assert out["residual"] < 1e-10, pr.describe()
        # the antisymmetric subspace is invariant (swap symmetry): FD leak O(1e-9)
        assert out["invariant_leak"] < 1e-6


def test_duplicate_is_not_a_fixed_point_at_finite_alpha():
    """At finite alpha (the Bayesian posterior, THEORY 4) each copy sees half the data:
    m_hat halves, |h| halves, and the copies' overlaps shrink by a(|h|/2)/a(|h|). Duplication
    gives a fixed point only of the EM (maximum-likelihood) map: on data, or alpha = inf."""
    from saddlepoint.theory.equations import cluster as cl
    from saddlepoint.theory.equations import equations_for

    G = make_gram("overlap", 3, c=0.2)
    pr = Problem(gram=G, P=1, beta=2.0, alpha=3.0, N=math.inf, b_star=1.0)
    sol = solve(pr, init="symmetric", tol=1e-12)
    wide = pr.replace(P=2, pi=[0.5, 0.5], p=np.ones((2, 1)))
    eq = equations_for(wide)
    m_new, _, _ = eq.unpack(eq.map(eq.state_from(np.vstack([sol.m, sol.m]))))
    kappa = cl.field_norms(sol.m_hat, G)[0]
    ratio = cl.resultant(math.inf, kappa / 2) / cl.resultant(math.inf, kappa)
    np.testing.assert_allclose(m_new, np.vstack([sol.m, sol.m]) * ratio, rtol=1e-10)  # algebra
    assert ratio < 0.99


# ----------------------------------------------------------------- Jacobian block structure
@pytest.mark.parametrize("pu", ["sinkhorn", "mstep"])
def test_wide_spectrum_is_narrow_plus_antisymmetric_blocks(supervised_data, pu):
    X, y, beta, pi, fps = supervised_data
    W, p = fps[pu]
    dup = H.duplication_residual(X, W, beta, pi, p, y, p_update=pu)
    Jw = H.dense(H.wide_jacobian_operator(X, dup["W2"], beta, dup["pi2"], dup["p2"], y, p_update=pu))
    Jn = H.dense(H.wide_jacobian_operator(X, W, beta, pi, p, y, p_update=pu))
    blocks = [H.dense(H.antisymmetric_operator(X, W, beta, nu, pi, p, y, p_update=pu)) for nu in range(2)]
    ew = np.sort_complex(np.linalg.eigvals(Jw))
    ec = np.sort_complex(np.concatenate([np.linalg.eigvals(Jn)] + [np.linalg.eigvals(B) for B in blocks]))
    assert ew.shape == ec.shape
    # central differences with step 1e-6: truncation ~1e-12, rounding ~1e-10 (Sinkhorn and
    # the M-step converge to 1e-13, amplified by 1/step); eigenvalues agree to 1e-7.
    np.testing.assert_allclose(ew.real, ec.real, atol=1e-7)
    np.testing.assert_allclose(ew.imag, ec.imag, atol=1e-7)


def test_arnoldi_on_wide_operator_finds_the_split_mode():
    """Matrix-free: Arnoldi (scipy eigs) on the FD Jacobian of the wide map (N = 30, never a
    dense wide matrix) finds max(narrow spectrum, lambda_split of each memory)."""
    from scipy.sparse.linalg import eigs

    rng = np.random.default_rng(9)
    T = random_teacher(30, 2, 30.0, rng)
    X, _, _ = T.sample(800, rng)
    beta = 40.0
    W0 = np.vstack([T.memories.sum(axis=0)] * 1)
    W0 /= np.linalg.norm(W0, axis=1, keepdims=True)
    W, p = _fixed_point(X, W0, beta, np.ones(1), np.ones((1, 1)), None, learn_p=False)
    lam = H.data_split(X, W, beta, np.ones(1), p)[0]["lambda_split"]
    assert lam > 1.0  # the merged memory is a saddle at this beta
    dup = H.duplication_residual(X, W, beta, np.ones(1), p, learn_p=False)
    op = H.wide_jacobian_operator(X, dup["W2"], beta, dup["pi2"], dup["p2"], learn_p=False)
    v0 = np.random.default_rng(0).standard_normal(op.shape[0])
    ev = eigs(op, k=1, which="LR", v0=v0, tol=1e-9, return_eigenvectors=False)
    narrow = H.wide_jacobian_operator(X, W, beta, np.ones(1), p, learn_p=False)
    ev_n = np.linalg.eigvals(H.dense(narrow))
    # FD JVPs (1e-9) and ARPACK tolerance 1e-9
    np.testing.assert_allclose(ev.real.max(), max(lam, ev_n.real.max()), rtol=1e-6)


@pytest.mark.parametrize("pu", ["sinkhorn", "mstep"])
def test_antisymmetric_block_analytic_equals_finite_differences(supervised_data, pu):
    X, y, beta, pi, fps = supervised_data
    W, p = fps[pu]
    rng = np.random.default_rng(5)
    dup = H.duplication_residual(X, W, beta, pi, p, y, p_update=pu)
    op = H.wide_jacobian_operator(X, dup["W2"], beta, dup["pi2"], dup["p2"], y, p_update=pu)
    modes = H.antisymmetric_basis(4, X.shape[1], 2, [(0, 2), (1, 3)])
    for nu, (embed, extract) in enumerate(modes):
        A = H.antisymmetric_operator(X, W, beta, nu, pi, p, y, p_update=pu)
        for _ in range(3):
            z = _tangent(rng, W[nu], 2)
            out = op.matvec(embed(z[:5], z[5:]))
            d_fd, q_fd = extract(out)
            # FD of the map: error ~1e-9 (see above)
            np.testing.assert_allclose(A.matvec(z), np.r_[d_fd, q_fd], atol=1e-7)
            # the copy moves opposite and the other memory not at all: the mode is antisymmetric
            Wout = out[:20].reshape(4, 5)
            np.testing.assert_allclose(Wout[nu + 2], -d_fd, atol=1e-7)
            np.testing.assert_allclose(Wout[1 - nu], 0.0, atol=1e-7)
        # the W-only part of the block is model.split_operator (one implementation of J_-)
        J = model.split_operator(X, W, beta, nu, pi, p, y)
        d = _tangent(rng, W[nu])
        Jd_block = A.matvec(np.r_[d, 0.0, 0.0])[:5]
        np.testing.assert_allclose(Jd_block, J.matvec(d), atol=1e-13)  # same sums, rounding


def test_class_weight_split_is_neutral_and_couples(supervised_data):
    """q -> q block is the identity; the (d, q) coupling pushes lambda_full above one."""
    X, y, beta, pi, fps = supervised_data
    W, p = fps["sinkhorn"]
    for nu in range(2):
        A = H.dense(H.antisymmetric_operator(X, W, beta, nu, pi, p, y))
        q = np.array([1.0, -1.0]) / math.sqrt(2)
        # exact algebra: rounding only
        np.testing.assert_allclose(A[5:, 5:] @ q, q, atol=1e-12)
        rec = H.data_split(X, W, beta, pi, p, y)[nu]
        coupling = np.linalg.norm(A[:5, 5:] @ q) * np.linalg.norm(A[5:, :5])
        assert coupling > 1e-3
        assert rec["lambda_full"] > max(1.0, rec["lambda_split"])


def test_em_step_growth_on_data_equals_split_operator(unsupervised_data):
    """Displace the copies by +-e d and apply one EM step: the antisymmetric part grows by
    J_- d to O(e^2) (same data for both copies, so the common mode cancels exactly)."""
    X, beta, pi, W, p = unsupervised_data
    rng = np.random.default_rng(3)
    dup = H.duplication_residual(X, W, beta, pi, p, None, learn_p=False)
    W2, pi2 = dup["W2"], dup["pi2"]
    for nu in range(2):
        J = model.split_operator(X, W, beta, nu, pi, p)
        d = _tangent(rng, W[nu])
        e = 1e-5
        Wp = W2.copy()
        Wp[nu] = W[nu] + e * d
        Wp[2 + nu] = W[nu] - e * d
        Wp /= np.linalg.norm(Wp, axis=1, keepdims=True)
        Wn, _ = model.em_map(X, Wp, beta, pi2, dup["p2"], learn_p=False)
        growth = (Wn[nu] - Wn[2 + nu]) / (2 * e)
        growth -= (W[nu] @ growth) * W[nu]
        # odd in e by the swap symmetry: error O(e^2) = 1e-10 relative, rounding 1e-11
        np.testing.assert_allclose(growth, J.matvec(d), atol=1e-8)


# ----------------------------------------------------------------- Hessian identity
def _fd_hessian_form(X, W, beta, pi, p, y, nu, z, learn_p):
    """z^T H z by Richardson-extrapolated second differences of the log-likelihood."""
    N = X.shape[1]
    P = W.shape[0]
    W2, pi2, p2, _ = model.duplicate(W, pi, p)
    l0 = model.log_likelihood(X, W2, beta, pi2, p2, y)
    vals = []
    for e in (1e-2, 5e-3):
        Wp = W2.copy()
        Wp[nu] = W[nu] + e * z[:N]
        Wp[P + nu] = W[nu] - e * z[:N]
        Wp /= np.linalg.norm(Wp, axis=1, keepdims=True)
        pp = p2.copy()
        if learn_p:
            pp[nu] += e * z[N:]
            pp[P + nu] -= e * z[N:]
        # l(e) = l(-e) by the swap symmetry, so (l(e) - l(0)) * 2/e^2 -> z^T H z + O(e^2)
        vals.append(2.0 * (model.log_likelihood(X, Wp, beta, pi2, pp, y) - l0) / e**2)
    return (4.0 * vals[1] - vals[0]) / 3.0  # Richardson: error O(e^4) ~ 1e-9


def test_hessian_identity_unsupervised(unsupervised_data):
    X, beta, pi, W, p = unsupervised_data
    rng = np.random.default_rng(4)
    for nu in range(2):
        Hop = H.antisymmetric_hessian(X, W, beta, nu, pi, p)
        J = model.split_operator(X, W, beta, nu, pi, p)
        G, _, _ = model.statistics(X, W, beta, pi, p)
        gnorm = np.linalg.norm(G[nu])
        for _ in range(3):
            z = _tangent(rng, W[nu])
            fd = _fd_hessian_form(X, W, beta, pi, p, None, nu, z, False)
            # Richardson error ~1e-9, rounding 1e-16/2.5e-5 ~ 4e-12 relative
            assert abs(z @ Hop.matvec(z) - fd) < 1e-7
            # H = beta (beta S - |g| I) = beta |g| (J_- - I) on the tangent space
            np.testing.assert_allclose(Hop.matvec(z), beta * gnorm * (J.matvec(z) - z), atol=1e-12)


def test_hessian_identity_supervised_with_class_weights(supervised_data):
    X, y, beta, pi, fps = supervised_data
    W, p = fps["mstep"]
    rng = np.random.default_rng(6)
    for nu in range(2):
        Hop = H.antisymmetric_hessian(X, W, beta, nu, pi, p, y)
        for _ in range(3):
            z = _tangent(rng, W[nu], 2)
            fd = _fd_hessian_form(X, W, beta, pi, p, y, nu, z, True)
            assert abs(z @ Hop.matvec(z) - fd) < 1e-7
        # H_qq = 0 exactly, and the form is indefinite when the (d, q) coupling is non-zero
        Hd = H.dense(Hop)
        q = np.r_[np.zeros(5), 1.0, -1.0]
        assert abs(q @ Hd @ q) < 1e-14
        assert np.max(np.linalg.eigvalsh(0.5 * (Hd + Hd.T))) > 0


# ----------------------------------------------------------------- population closed forms
@pytest.mark.parametrize("exact", [False, True])
def test_single_cluster_anchor_lambda_is_beta_over_beta_star(exact):
    """P = P* = 1 at finite N: J_- = beta (A/beta*) / A = beta / beta* on w's complement."""
    beta_star = 10.0
    for beta in (3.0, 7.0, 12.0):
        pr = Problem(gram=np.eye(1), P=1, beta=beta, alpha=math.inf, N=20, beta_star=beta_star, exact=exact)
        sol = solve(pr, init="symmetric", tol=1e-12)
        r = H.population_split(sol)[0]
        # cluster form: exact algebra; exact form: t-quadrature (32 Gauss-Legendre nodes)
        # reproduces E[t], E[t^2] to ~1e-8 relative
        np.testing.assert_allclose(r.lambda_split, beta / beta_star, rtol=1e-6)


def test_single_cluster_critical_beta_is_beta_star():
    pr = Problem(gram=np.eye(1), P=1, beta=1.0, alpha=math.inf, N=20, beta_star=10.0, exact=True)
    bc = H.critical_beta(pr, beta_min=2.0, beta_max=40.0, n_grid=6)
    # brentq xtol 1e-8 plus quadrature error 1e-7 relative in lambda
    assert abs(bc - 10.0) < 1e-5


def test_merged_state_critical_beta_closed_form():
    """P = 1 on P* = 3 (overlap c): beta_c = sqrt(1^T G 1)/(m* (1 - c)) at large N."""
    c = 0.2
    G = make_gram("overlap", 3, c=c)
    pr = Problem(gram=G, P=1, beta=2.0, alpha=math.inf, N=math.inf, b_star=1.0)
    m_star = pr.m_star
    closed = math.sqrt(3 * (1 + 2 * c)) / (m_star * (1 - c))
    np.testing.assert_allclose(H.critical_beta_merged(G, m_star), closed, rtol=1e-13)
    sol = solve(pr, init="symmetric", tol=1e-12)
    r = H.population_split(sol)[0]
    np.testing.assert_allclose(r.lambda_split, 2.0 / closed, rtol=1e-10)
    # the split direction is orthogonal to w (sum of overlaps with the teachers ~ 0 here)
    assert abs(np.sum(r.direction_overlaps)) < 1e-10
    bc = H.critical_beta(pr, beta_min=0.5, beta_max=20.0, n_grid=8)
    np.testing.assert_allclose(bc, closed, rtol=1e-7)  # brentq xtol 1e-8


def test_finite_n_cluster_form_equals_exact_population_for_one_memory():
    """With P = 1 the responsibility is one, so the cluster formula with the section-0
    moments is the exact finite-N population: the two computations must agree."""
    G = make_gram("overlap", 3, c=0.2)
    out = []
    for exact in (False, True):
        pr = Problem(gram=G, P=1, beta=3.0, alpha=math.inf, N=30, beta_star=30.0, exact=exact)
        out.append(H.population_split(solve(pr, init="symmetric", tol=1e-12))[0])
    # quadrature error of the exact map ~1e-9
    np.testing.assert_allclose(out[0].lambda_span, out[1].lambda_span, rtol=1e-7)
    np.testing.assert_allclose(out[0].lambda_iso, out[1].lambda_iso, rtol=1e-7)
    A = special.mean_resultant_length(30, 30.0)
    pred = 3.0 / H.critical_beta_merged(G, A, second_moment=1 - 29 * A / 30, var_perp=A / 30)
    np.testing.assert_allclose(out[0].lambda_split, pred, rtol=1e-12)


@pytest.mark.parametrize("supervised", [False, True])
def test_population_block_matches_order_parameter_map(supervised):
    """The span part of J_- (and the full (W, p) block) equals the antisymmetric block of the
    duplicated problem's order-parameter map, differentiated by finite differences."""
    if supervised:
        pr = Problem(gram=np.eye(2), P=1, beta=2.0, alpha=math.inf, N=math.inf, b_star=1.0, p_star=np.eye(2))
    else:
        pr = Problem(gram=make_gram("overlap", 3, c=0.3), P=2, beta=6.0, alpha=math.inf, N=math.inf, b_star=1.0)
    sol = solve(pr, init="specialized", tol=1e-12)
    assert sol.converged
    for nu, r in enumerate(H.population_split(sol)):
        ev = H.order_parameter_split(sol, nu)["eigenvalues"].real
        top = r.lambda_full if supervised else r.lambda_span
        # FD Jacobian (step 1e-6): ~1e-9
        np.testing.assert_allclose(ev.max(), top, atol=1e-7)
    if supervised:
        assert r.lambda_full > 1.0 > r.lambda_split


def test_population_operator_against_em_step_on_vmf_samples():
    """One EM step of a duplicated memory on exact vMF samples grows an antisymmetric
    displacement along d by d^T J_- d; its expectation is the population value."""
    rng = np.random.default_rng(11)
    N, beta_star, beta = 40, 40.0, 6.0
    G = make_gram("overlap", 2, c=0.1)
    T = gram_teacher(G, N, beta_star, rng)
    pr = Problem(gram=G, P=1, beta=beta, alpha=math.inf, N=N, beta_star=beta_star, exact=True)
    sol = solve(pr, init="symmetric", tol=1e-12)
    res = H.population_split(sol)[0]
    op = H.population_split_operator(sol, 0, T.memories)
    vals, vecs = model.split_eigen(op, k=1, rng=0)
    np.testing.assert_allclose(vals[0], res.lambda_split, rtol=1e-12)  # same matrix, Lanczos to 1e-10
    d = vecs[:, 0]
    lam_pop = d @ op.matvec(d)
    X, _, _ = T.sample(40000, rng)
    w = X.mean(axis=0)
    w /= np.linalg.norm(w)  # the P = 1 fixed point on this sample (one EM step is exact)
    d = d - (w @ d) * w
    d /= np.linalg.norm(d)
    e = 1e-5
    W2 = np.vstack([w + e * d, w - e * d])
    W2 /= np.linalg.norm(W2, axis=1, keepdims=True)
    Wn, _ = model.em_map(X, W2, beta, np.array([0.5, 0.5]), learn_p=False)
    growth = (Wn[0] - Wn[1]) @ d / (2 * e)
    # Monte Carlo: growth = beta mean((x.d)^2) / |mean x| (+ O(1/M) ratio bias); SE from the
    # per-sample terms
    terms = beta * (X @ d) ** 2 / np.linalg.norm(X.mean(axis=0))
    se = terms.std(ddof=1) / math.sqrt(X.shape[0])
    print(f"growth {growth:.6f} population {lam_pop:.6f} se {se:.2e} z {(growth - lam_pop) / se:.2f}")
    assert abs(growth - lam_pop) < 4 * se, (growth, lam_pop, se)


def test_supervised_critical_beta_and_profile():
    pr = Problem(gram=make_gram("overlap", 2, c=0.2), P=1, beta=1.0, alpha=math.inf, N=math.inf,
                 b_star=1.0, p_star=np.eye(2))
    prof = H.split_profile(pr, [1.0, 2.0, 4.0])
    assert prof["converged"].all()
    # lambda_split grows linearly with beta (the narrow P = 1 point does not move)
    np.testing.assert_allclose(prof["lambda"][:, 0] / prof["beta"], prof["lambda"][0, 0], rtol=1e-9)
    bc = H.critical_beta(pr, beta_min=0.5, beta_max=20.0, n_grid=8)
    np.testing.assert_allclose(bc * prof["lambda"][0, 0], 1.0, rtol=1e-7)
    # with the class-weight modes the merged supervised state is unstable at every beta
    assert H.critical_beta(pr, beta_min=0.5, beta_max=20.0, n_grid=4, which="full") == 0.5


def test_bad_input_names_the_parameter(unsupervised_data):
    X, beta, pi, W, p = unsupervised_data
    with pytest.raises(ValueError, match="nu"):
        H.antisymmetric_operator(X, W, beta, 5, pi, p)
    with pytest.raises(ValueError, match="which"):
        H.duplication_residual(X, W, beta, pi, p, which=[7])
    with pytest.raises(ValueError, match="step"):
        H.wide_jacobian_operator(X, W, beta, pi, p, step=-1.0)
    pr = Problem(gram=np.eye(2), P=1, beta=1.0, alpha=2.0, N=math.inf, b_star=1.0)
    sol = solve(pr, init="symmetric")
    with pytest.raises(ValueError, match="alpha"):
        H.population_split(sol)
    with pytest.raises(ValueError, match="beta_max"):
        H.critical_beta(pr.replace(alpha=math.inf), beta_min=2.0, beta_max=1.0)


# ----------------------------------------------------------------- command line
def test_cli_hierarchy_json(capsys):
    import json

    from saddlepoint.cli import main

    assert main(["hierarchy", "--p", "1", "--p-star", "3", "--overlap", "0.2", "--beta", "2", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    G = make_gram("overlap", 3, c=0.2)
    m_star = special.large_n_mean_resultant_length(1.0)
    bc = H.critical_beta_merged(G, m_star)
    np.testing.assert_allclose(d["lambda_split"], [2.0 / bc], rtol=1e-10)
    np.testing.assert_allclose(d["critical_beta"], bc, rtol=1e-7)  # brentq xtol 1e-8
    # finite N: exact population, P = P* = 1 anchor
    assert main(["hierarchy", "--p", "1", "--p-star", "1", "--n", "20", "--beta-star", "10",
                 "--beta", "5", "--json", "--beta-max", "30", "--n-grid", "5"]) == 0
    d = json.loads(capsys.readouterr().out)
    np.testing.assert_allclose(d["lambda_split"], [0.5], rtol=1e-6)
    np.testing.assert_allclose(d["critical_beta"], 10.0, rtol=1e-6)


def test_cli_hierarchy_errors(capsys):
    from saddlepoint.cli import main

    assert main(["hierarchy", "--p", "1", "--alpha", "3"]) == 2
    assert "--alpha" in capsys.readouterr().err
    assert main(["hierarchy", "--p", "1", "--n-grid", "1"]) == 2
    assert "--n-grid" in capsys.readouterr().err


def test_data_split_equals_per_memory_operators(supervised_data):
    """data_split (one responsibility pass, batched Lanczos) against the per-memory path."""
    X, y, beta, pi, fps = supervised_data
    W, p = fps["sinkhorn"]
    recs = H.data_split(X, W, beta, pi, p, y, k=2)
    for nu, rec in enumerate(recs):
        ref = model.split_eigen(model.split_operator(X, W, beta, nu, pi, p, y), k=2, rng=0)[0]
        # Both meet a 1e-10 relative residual: eigenvalues agree to 1e-8 relative.
        np.testing.assert_allclose(rec["values"], ref, rtol=1e-8)
        full = np.linalg.eigvals(H.dense(H.antisymmetric_operator(X, W, beta, nu, pi, p, y)))
        # Same moments, same dense eigensolver: rounding only.
        np.testing.assert_allclose(rec["lambda_full"], np.max(full.real), rtol=1e-12)
