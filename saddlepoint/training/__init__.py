"""Training on data: the DAM's responsibilities and statistics (model), data sets, the training
objective with its label terms and optimisers, the scikit-learn estimator, growth by splitting
and the accuracy/cost studies (docs/training.md).
"""
