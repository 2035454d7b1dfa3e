"""The bottom layer: the vocabulary every other package shares and that imports nothing above it.

``errors`` (the one user-error type), ``checks`` (the validation kernel for values read from YAML), ``yaml_io``
(reading and writing YAML with key paths in its errors) and ``words`` (mode and "better", trial statuses and
which of them count as diverged, config flattening). Nothing here imports torch, Lightning, Ray or Optuna.
"""
