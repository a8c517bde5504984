"""Teachers (THEORY section 3): exact Gram realisation, ensembles, sampling, I/O.

Tolerances: Gram identities hold to rounding (1e-12 for P <= 50: a product of O(1)
entries summed over N terms, plus an eigendecomposition accurate to ~P eps). Statistical
checks use |estimate - exact| < 5 SE (P(|Z| > 5) = 5.7e-7 per check for a correct
sampler, see tests/test_vmf.py); the seeds are fixed so outcomes are deterministic.
"""

import math

import numpy as np
import pytest

from saddlepoint import io as sio
from saddlepoint import teacher as T
from saddlepoint.special import mean_resultant_length, mean_resultant_length_prime

Z = 5.0  # standard errors allowed (see module docstring)
EXACT = 1e-12  # rounding-level tolerance for Gram identities (see module docstring)


def _random_gram(P, r, rng):
    """A valid Gram matrix of rank r: normalised rows of a (P, r) Gaussian."""
    V = rng.standard_normal((P, r))
    V /= np.linalg.norm(V, axis=1, keepdims=True)
    return V @ V.T


# ------------------------------------------------------------------ Gram realisation
@pytest.mark.parametrize("P, r, N", [(8, 5, 5), (8, 5, 40), (12, 12, 12), (30, 30, 200), (1, 1, 2)])
def test_gram_realised_exactly(P, r, N, rng):
    G = _random_gram(P, r, rng)
    t = T.gram_teacher(G, N, 3.0, rng)
    assert t.memories.shape == (P, N)
    np.testing.assert_allclose(t.gram, G, rtol=0, atol=EXACT)
    np.testing.assert_allclose(np.linalg.norm(t.memories, axis=1), 1.0, rtol=0, atol=EXACT)


def test_gram_needs_N_at_least_rank(rng):
    G = _random_gram(8, 6, rng)
    T.gram_teacher(G, 6, 1.0, rng)  # N = rank is enough
    with pytest.raises(ValueError, match="N must be >= rank"):
        T.gram_teacher(G, 5, 1.0, rng)


def test_gram_realisation_is_rotation_invariant():
    """Haar-random embedding: over many seeds each coordinate of a memory has mean 0 and
    variance 1/N (a QR without the sign correction fails this)."""
    N, reps = 4, 4000
    G = T.uniform_overlap_gram(2, 0.3)
    first = np.array([T.gram_teacher(G, N, 1.0, seed).memories[0] for seed in range(reps)])
    for j in range(N):
        x = first[:, j]
        assert abs(x.mean()) < Z * math.sqrt(1.0 / N / reps)
        x2 = x**2
        assert abs(x2.mean() - 1.0 / N) < Z * x2.std() / math.sqrt(reps)


@pytest.mark.parametrize("P, c", [(10, 0.3), (10, -1.0 / 9), (6, 1.0), (5, 0.0), (1, 0.5)])
def test_overlap_teacher_exact(P, c, rng):
    G = T.uniform_overlap_gram(P, c)
    # eigenvalues 1 - c (x P-1) and 1 + (P-1) c: the validity range of c
    lam = np.sort(np.linalg.eigvalsh(G))
    want = np.sort(np.r_[np.full(P - 1, 1 - c), 1 + (P - 1) * c])
    np.testing.assert_allclose(lam, want, rtol=0, atol=EXACT)
    rank = int(np.sum(want > 1e-12))
    t = T.overlap_teacher(max(rank, 2), P, c, 2.0, rng)
    np.testing.assert_allclose(t.gram, G, rtol=0, atol=EXACT)


@pytest.mark.parametrize("K1, K2, c0, c1", [(3, 4, 0.2, 0.6), (2, 5, 0.0, 0.9), (4, 3, 0.5, 0.5), (3, 2, 0.1, 1.0)])
def test_hierarchical_overlaps_exact(K1, K2, c0, c1, rng):
    N = 60
    t = T.hierarchical_teacher(N, K1, K2, c0, c1, 5.0, rng)
    G = t.gram
    for a in range(K1 * K2):
        for b in range(K1 * K2):
            want = 1.0 if a == b else (c1 if a // K2 == b // K2 else c0)
            assert abs(G[a, b] - want) < EXACT
    # the explicit construction of THEORY 3 with orthonormal u's has the same Gram matrix
    U, _ = np.linalg.qr(rng.standard_normal((N, 1 + K1 + K1 * K2)))
    U = U.T
    xi = np.array([
        math.sqrt(c0) * U[0] + math.sqrt(c1 - c0) * U[1 + g] + math.sqrt(1 - c1) * U[1 + K1 + g * K2 + k]
        for g in range(K1) for k in range(K2)
    ])
    np.testing.assert_allclose(xi @ xi.T, T.hierarchical_gram(K1, K2, c0, c1), rtol=0, atol=EXACT)
    assert t.info["ensemble"] == "hierarchical" and t.info["K1"] == K1


@pytest.mark.parametrize("K1, K2, c0, c1", [(3, 4, 0.2, 0.6), (2, 5, 0.0, 1.0), (4, 1, 0.3, 0.3)])
def test_hierarchical_gram_spectrum(K1, K2, c0, c1):
    """Eigenvalues (docs/sampling_and_teachers.md): 1 - c1 (x K1 (K2 - 1)),
    1 - c1 + K2 (c1 - c0) (x K1 - 1), 1 - c1 + K2 (c1 - c0) + K1 K2 c0 (x 1)."""
    lam = np.linalg.eigvalsh(T.hierarchical_gram(K1, K2, c0, c1))
    group = 1 - c1 + K2 * (c1 - c0)
    want = np.r_[np.full(K1 * (K2 - 1), 1 - c1), np.full(K1 - 1, group), group + K1 * K2 * c0]
    np.testing.assert_allclose(lam, np.sort(want), rtol=0, atol=EXACT)


# --------------------------------------------------------------------------- sampling
def test_sample_cluster_statistics(rng):
    """Examples of cluster mu: E[xi^mu . x] = m* = A_N(beta*) with variance A_N'(beta*);
    memories drawn uniformly (frequency 1/P* within SE)."""
    N, P, beta_star, M = 30, 4, 20.0, 20_000
    t = T.random_teacher(N, P, beta_star, rng)
    m_star = float(mean_resultant_length(N, beta_star))
    assert t.m_star == pytest.approx(m_star, rel=1e-15)  # the property is exactly A_N
    X, y, mu = t.sample(M, rng)
    assert X.shape == (M, N) and y.shape == (M,) and mu.shape == (M,)
    np.testing.assert_allclose(np.linalg.norm(X, axis=1), 1.0, rtol=0, atol=1e-13)  # rounding
    assert np.all(y == 0)  # unsupervised: C = 1
    own = np.sum(X * t.memories[mu], axis=1)
    se = math.sqrt(float(mean_resultant_length_prime(N, beta_star)) / M)
    assert abs(own.mean() - m_star) < Z * se
    freq = np.bincount(mu, minlength=P) / M
    assert np.all(np.abs(freq - 1 / P) < Z * math.sqrt((1 / P) * (1 - 1 / P) / M))


def test_sample_zero_temperature_limit_and_beta_star_zero(rng):
    t = T.random_teacher(5, 3, 0.0, rng)
    assert t.m_star == 0.0
    X, _, mu = t.sample(20_000, rng)
    own = np.sum(X * t.memories[mu], axis=1)
    assert abs(own.mean()) < Z * math.sqrt(1 / 5 / 20_000)  # uniform: Var(t) = 1/N


def test_class_frequencies_soft(rng):
    P, C, M = 3, 4, 40_000
    t = T.random_teacher(10, P, 5.0, rng, classes=C, soft=1.0)
    assert t.C == C
    _, y, mu = t.sample(M, rng)
    for m in range(P):
        sel = y[mu == m]
        freq = np.bincount(sel, minlength=C) / sel.size
        p = t.class_table[m]
        assert np.all(np.abs(freq - p) < Z * np.sqrt(p * (1 - p) / sel.size) + 1e-15)


def test_class_tables(rng):
    one_hot = T.one_hot_class_table(7, 3)
    np.testing.assert_array_equal(np.argmax(one_hot, axis=1), np.arange(7) % 3)
    np.testing.assert_array_equal(T.one_hot_class_table(4, 1), np.ones((4, 1)))
    noisy = T.noisy_class_table(5, 2, 0.2)
    np.testing.assert_allclose(noisy.sum(axis=1), 1.0, rtol=0, atol=1e-15)
    assert noisy[0, 0] == pytest.approx(0.9) and noisy[0, 1] == pytest.approx(0.1)
    soft = T.soft_class_table(6, 3, rng, concentration=0.5)
    np.testing.assert_allclose(soft.sum(axis=1), 1.0, rtol=0, atol=1e-14)
    t = T.hierarchical_teacher(20, 2, 3, 0.1, 0.5, 10.0, rng, classes=2)
    _, y, mu = t.sample(500, rng)
    np.testing.assert_array_equal(y, mu % 2)  # one-hot labels are deterministic
    table = np.array([[0.0, 1.0], [1.0, 0.0]])
    t2 = T.random_teacher(8, 2, 1.0, rng, class_table=table)
    _, y2, mu2 = t2.sample(300, rng)
    np.testing.assert_array_equal(y2, 1 - mu2)


def test_seed_reproducibility():
    a = T.random_teacher(12, 5, 4.0, 11, classes=2, soft=2.0)
    b = T.random_teacher(12, 5, 4.0, 11, classes=2, soft=2.0)
    np.testing.assert_array_equal(a.memories, b.memories)
    np.testing.assert_array_equal(a.class_table, b.class_table)
    for x, z in zip(a.sample(100, 3), b.sample(100, 3)):
        np.testing.assert_array_equal(x, z)
    c = T.hierarchical_teacher(12, 2, 2, 0.1, 0.4, 1.0, 5)
    d = T.hierarchical_teacher(12, 2, 2, 0.1, 0.4, 1.0, 5)
    np.testing.assert_array_equal(c.memories, d.memories)
    assert not np.array_equal(T.random_teacher(12, 5, 4.0, 12).memories, a.memories)


# ------------------------------------------------------------------------ round trips
def test_save_load_round_trip(tmp_out, rng):
    t = T.hierarchical_teacher(16, 2, 3, 0.2, 0.7, 12.5, rng, classes=3, soft=1.0)
    path = T.save_teacher(tmp_out / "teacher.npz", t)
    u = T.load_teacher(path)
    np.testing.assert_array_equal(u.memories, t.memories)
    np.testing.assert_array_equal(u.class_table, t.class_table)
    assert u.beta_star == t.beta_star and u.info == t.info
    # and through a plain JSON document
    sio.save_json(tmp_out / "teacher.json", t.to_dict())
    v = T.Teacher.from_dict(sio.load_json(tmp_out / "teacher.json"))
    np.testing.assert_array_equal(v.memories, t.memories)
    np.testing.assert_array_equal(v.class_table, t.class_table)
    assert v.beta_star == t.beta_star and v.info == t.info
    with pytest.raises(FileNotFoundError):
        T.load_teacher(tmp_out / "missing.npz")


@pytest.mark.parametrize("suffix", [".npy", ".npz", ".csv", ".txt"])
def test_load_gram_formats(suffix, tmp_out):
    G = T.hierarchical_gram(2, 2, 0.25, 0.5)
    path = tmp_out / f"gram{suffix}"
    if suffix == ".npy":
        np.save(path, G)
    elif suffix == ".npz":
        np.savez(path, gram=G)
    elif suffix == ".csv":
        np.savetxt(path, G, delimiter=",")
    else:
        np.savetxt(path, G)
    np.testing.assert_allclose(T.load_gram(path), G, rtol=0, atol=1e-15)  # text keeps 18 digits


def test_load_gram_errors(tmp_out):
    with pytest.raises(FileNotFoundError, match="nope.npy"):
        T.load_gram(tmp_out / "nope.npy")
    bad = tmp_out / "gram.json"
    bad.write_text("[]")
    with pytest.raises(ValueError, match="format"):
        T.load_gram(bad)
    np.savez(tmp_out / "other.npz", G=np.eye(2))
    with pytest.raises(ValueError, match="gram"):
        T.load_gram(tmp_out / "other.npz")


def test_teacher_is_frozen_and_copies_input(rng):
    mem = T.random_teacher(6, 3, 1.0, rng).memories.copy()
    t = T.Teacher(mem, 2.0, np.ones((3, 1)))
    assert mem.flags.writeable  # the caller's array is not frozen
    with pytest.raises(ValueError):
        t.memories[0, 0] = 1.0
    with pytest.raises(Exception):
        t.beta_star = 3.0
    assert (t.N, t.P_star, t.C) == (6, 3, 1)


# ------------------------------------------------------------------------ validation
@pytest.mark.parametrize(
    "call, exc, name",
    [
        (lambda: T.check_gram([[1.0, 0.2], [0.3, 1.0]]), ValueError, "gram must be symmetric"),
        (lambda: T.check_gram([[1.0, 0.2], [0.2, 0.9]]), ValueError, "gram must have a unit diagonal"),
        (lambda: T.check_gram([[1.0, 0.9, -0.9], [0.9, 1.0, 0.9], [-0.9, 0.9, 1.0]]), ValueError,
         "gram must be positive semidefinite"),
        (lambda: T.check_gram(np.ones((2, 3))), ValueError, "gram"),
        (lambda: T.check_gram([[1.0, np.nan], [np.nan, 1.0]]), ValueError, "gram"),
        (lambda: T.uniform_overlap_gram(5, -0.3), ValueError, "c must be >="),
        (lambda: T.uniform_overlap_gram(5, 1.2), ValueError, "c must be <="),
        (lambda: T.hierarchical_gram(2, 2, 0.6, 0.3), ValueError, "c0 must be <= c1"),
        (lambda: T.hierarchical_gram(2, 2, -0.1, 0.3), ValueError, "c0"),
        (lambda: T.hierarchical_gram(0, 2, 0.1, 0.3), ValueError, "K1"),
        (lambda: T.random_teacher(1, 3, 1.0, 0), ValueError, "N"),
        (lambda: T.random_teacher(5, 0, 1.0, 0), ValueError, "P_star"),
        (lambda: T.random_teacher(5, 3, -1.0, 0), ValueError, "beta_star"),
        (lambda: T.random_teacher(5, 3, np.nan, 0), ValueError, "beta_star"),
        (lambda: T.random_teacher(5, 3, 1.0, 0, classes=0), ValueError, "classes"),
        (lambda: T.random_teacher(5, 3, 1.0, 0, classes=2, soft=-1.0), ValueError, "concentration"),
        (lambda: T.random_teacher(5, 3, 1.0, None), TypeError, "rng"),
        (lambda: T.random_teacher(5, 3, 1.0, 0, class_table=np.ones((2, 1))), ValueError, "class_table"),
        (lambda: T.random_teacher(5, 3, 1.0, 0, class_table=[[0.5], [0.5], [1.0]]), ValueError, "class_table"),
        (lambda: T.Teacher(np.ones((2, 3)), 1.0, np.ones((2, 1))), ValueError, "memories"),
        (lambda: T.Teacher(np.eye(3)[:2], 1.0, np.ones((2, 1))).sample(-1, 0), ValueError, "M"),
        (lambda: T.gram_teacher(np.eye(3), 2, 1.0, 0), ValueError, "N must be >= rank"),
        (lambda: T.noisy_class_table(3, 2, 1.5), ValueError, "noise"),
        (lambda: T.Teacher.from_dict({"beta_star": 1.0}), ValueError, "memories"),
    ],
)
def test_validation_names_parameter(call, exc, name):
    with pytest.raises(exc, match=name):
        call()


# ------------------------------------------------------------------------------- CLI
def test_cli_sample_writes_reloadable_data(tmp_out, capsys):
    from saddlepoint.cli import main

    out = tmp_out / "hier.npz"
    args = ["sample", "--hierarchy", "2,3,0.1,0.5", "--n", "30", "--b-star", "1.5",
            "--m-samples", "200", "--classes", "2", "--seed", "4"]
    status = main(args + ["--out", str(out), "--json"])
    assert status == 0
    arrays, meta = sio.load_npz(out)
    assert arrays["X"].shape == (200, 30) and arrays["y"].shape == (200,)
    assert meta["parameters"]["seed"] == 4 and "saddlepoint_version" in meta
    t = T.load_teacher(out)  # the data file also holds the teacher
    np.testing.assert_allclose(t.gram, T.hierarchical_gram(2, 3, 0.1, 0.5), rtol=0, atol=EXACT)
    np.testing.assert_array_equal(arrays["y"], arrays["mu"] % 2)
    # same seed -> same data
    out2 = tmp_out / "again.npz"
    assert t.beta_star == 45.0  # b* N
    main(args + ["--out", str(out2)])
    np.testing.assert_array_equal(sio.load_npz(out2)[0]["X"], arrays["X"])


def test_cli_sample_gram_and_errors(tmp_out, capsys):
    from saddlepoint.cli import main

    np.save(tmp_out / "G.npy", T.uniform_overlap_gram(4, 0.2))
    common = ["--n", "8", "--beta-star", "3", "--m-samples", "10", "--seed", "0"]
    assert main(["sample", "--gram", str(tmp_out / "G.npy"), *common, "--out", str(tmp_out / "g.npz")]) == 0
    np.testing.assert_allclose(T.load_teacher(tmp_out / "g.npz").gram, T.uniform_overlap_gram(4, 0.2),
                               rtol=0, atol=EXACT)
    assert main(["sample", "--overlap", "0", "--p-star", "3", *common, "--out", str(tmp_out / "o.npz")]) == 0
    np.testing.assert_allclose(T.load_teacher(tmp_out / "o.npz").gram, np.eye(3), rtol=0, atol=EXACT)
    capsys.readouterr()
    assert main(["sample", "--gram", str(tmp_out / "G.npy"), "--p-star", "3", *common,
                 "--out", str(tmp_out / "x.npz")]) == 2
    assert "--p-star" in capsys.readouterr().err
    assert main(["sample", "--p-star", "2", "--n", "8", "--beta-star", "-3", "--m-samples", "10",
                 "--seed", "0", "--out", str(tmp_out / "x.npz")]) == 2
    assert "--beta-star" in capsys.readouterr().err
    assert main(["sample", "--gram", str(tmp_out / "none.npy"), *common, "--out", str(tmp_out / "x.npz")]) == 2
    assert "none.npy" in capsys.readouterr().err
