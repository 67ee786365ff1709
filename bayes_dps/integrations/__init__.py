"""The package inside the trainers researchers use: Hugging Face's ``Trainer`` (and TRL's
``SFTTrainer``), PyTorch Lightning, and any hand-written loop.

* ``integrations.loaders`` — big batches in the package's seeded order for any loader;
* ``integrations.steps`` — the methods' steps without the optimiser, and three-line loops;
* ``integrations.hf_trainer`` / ``hf_models`` — ``OnlineSelectionTrainer``, ``BADSTrainer``,
  their mix-ins, and ``HFClassifier`` (a sequence classifier with features and head);
* ``integrations.lightning`` — ``OnlineSelectionModule``, ``BADSModule``;
* ``integrations.state`` — the method's state in a checkpoint, readable with
  ``torch.load(weights_only=True)``.

The Hugging Face and Lightning modules import their frameworks (``pip install
'bayes-dps[hf]'`` / ``'bayes-dps[lightning]'``); this package imports neither.
"""

from bayes_dps.integrations.loaders import BigBatchLoader, BigBatchSampler, IndexCollator, Indexed
from bayes_dps.integrations.steps import BADSBatches, SelectedBatches, online_loss

__all__ = [
    "BADSBatches",
    "BigBatchLoader",
    "BigBatchSampler",
    "IndexCollator",
    "Indexed",
    "SelectedBatches",
    "online_loss",
]
