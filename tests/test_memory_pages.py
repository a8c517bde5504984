"""Tests of saddlepoint.figures.memory_pages: the order of memories on the pages, the pages
written, and the errors on mismatched inputs."""

import numpy as np
import pytest
from numpy.testing import assert_array_equal

from saddlepoint.figures.memory_pages import memory_pages, sort_by_table


def _memories(rng, P, N=16, K=4):
    W = rng.standard_normal((P, N))
    W /= np.linalg.norm(W, axis=1, keepdims=True)
    return W, rng.dirichlet(np.full(K, 0.3), size=P)


def test_sort_by_table_groups_then_decreasing_weight(rng):
    _, T = _memories(rng, 40)
    order = sort_by_table(T)
    assert_array_equal(np.sort(order), np.arange(40))
    top = T.argmax(axis=1)[order]
    weight = T.max(axis=1)[order]
    # Reference by a plain loop: groups ascending, and within a group weights non-increasing.
    for a, b in zip(range(39), range(1, 40)):
        assert top[a] < top[b] or (top[a] == top[b] and weight[a] >= weight[b])


def test_memory_pages_writes_one_png_per_page(rng, tmp_path):
    W, T = _memories(rng, 30)
    paths = memory_pages(W, T, (4, 4), ["a", "b", "c", "none"], per_page=12, out_prefix=tmp_path / "pg",
                         title="test")
    assert [p.name for p in paths] == ["pg_1.png", "pg_2.png", "pg_3.png"]
    assert all(p.stat().st_size > 1000 and p.read_bytes()[:4] == b"\x89PNG" for p in paths)
    # A subset in a given order: ceil(5 / 25) = 1 page.
    assert len(memory_pages(W, T, (4, 4), list("abcd"), order=np.arange(5), out_prefix=tmp_path / "one")) == 1


@pytest.mark.parametrize("kwargs,match", [
    (dict(image_shape=(3, 5)), "does not match N = 16"),
    (dict(row_labels=["a", "b"]), "row_labels must have 4 entries"),
    (dict(order=np.array([0, 99])), "outside 0..29"),
    (dict(order=np.array([], dtype=int)), "non-empty"),
    (dict(per_page=0), "per_page must be >= 1"),
    (dict(table=np.ones((29, 4))), "table must have shape"),
])
def test_memory_pages_errors(rng, tmp_path, kwargs, match):
    W, T = _memories(rng, 30)
    args = dict(W=W, table=T, image_shape=(4, 4), row_labels=list("abcd"), out_prefix=tmp_path / "x")
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        memory_pages(**args)
