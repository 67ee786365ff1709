"""The two papers' methods, one folder each: their training loops, baselines, experiment
runners and method registries (``online``: Deng et al. 2023; ``bads``: Xu et al. 2024), and
``confident_learning``, the practitioner baseline both commands offer (``cleanlab``)."""
