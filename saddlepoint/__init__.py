"""saddlepoint: the statistical mechanics of dense associative memories, made computable.

Scope: exact von Mises-Fisher special functions and sampling, the replica saddle-point
equations of a student DAM learning from a vMF teacher, the saddle hierarchy of
duplicated fixed points, a numba finite-N simulator that checks the theory, and DAM
training and growth on real data (Theriault & Tantari, arXiv 2508.19151).
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
