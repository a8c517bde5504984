"""The theory: the replica saddle-point equations of a student DAM learning from a vMF teacher,
their solvers, stability, continuation, phase diagrams, the saddle hierarchy, the within-cluster
problem, the learned inverse temperature and the finite-N correction (docs/theory.md).
"""
