"""OpenCLIP zero-shot classifier ``f̃`` (Deng et al. §3.2, Eq. 10; CLIP, Radford et al. 2021).

Class embeddings: for each class name, every prompt template is encoded, L2-normalised and
averaged, and the mean is re-normalised (CLIP's prompt ensemble). Image logits are
``cos(e_img, e_class) / τ``; the temperature ``τ`` matters (paper Fig. 4c; CLIP's own is 0.01).
Inputs arrive normalised with the *dataset's* statistics at the dataset's resolution; they are
un-normalised, resized to the model's resolution (the paper upsamples 32x32 CIFAR with
``interpolate``) and re-normalised with the model's statistics.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
import torch.nn.functional as F

from bayes_dps.errors import ConfigError, DataError, DatasetNotFoundError
from bayes_dps.input_files import check_input_file, read_tensor_file
from bayes_dps.selection.predictors.base import Predictor, check_finite_logits

#: CLIP's prompt ensemble for CIFAR (Radford et al. 2021, prompt-engineering notebook)
CIFAR_TEMPLATES = (
    "a photo of a {}.",
    "a blurry photo of a {}.",
    "a black and white photo of a {}.",
    "a low contrast photo of a {}.",
    "a high contrast photo of a {}.",
    "a bad photo of a {}.",
    "a good photo of a {}.",
    "a photo of a small {}.",
    "a photo of a big {}.",
    "a photo of the {}.",
    "a blurry photo of the {}.",
    "a black and white photo of the {}.",
    "a low contrast photo of the {}.",
    "a high contrast photo of the {}.",
    "a bad photo of the {}.",
    "a good photo of the {}.",
    "a photo of the small {}.",
    "a photo of the big {}.",
)


class OpenCLIPZeroShot(Predictor):
    """Zero-shot logits from an ``open_clip`` model.

    Args:
        model: an open_clip ``CLIP`` model (``encode_image`` / ``encode_text``).
        tokenizer: its tokenizer.
        classnames: one readable name per class, in label order.
        templates: prompt templates with one ``{}``.
        temperature: ``τ`` of ``softmax(cos / τ)``.
        input_mean, input_std: the normalisation the dataset applied to its inputs.
        clip_mean, clip_std: the model's own input normalisation.
        image_size: the model's input resolution.
    """

    name = "openclip"

    def __init__(
        self,
        model: torch.nn.Module,
        tokenizer,
        classnames: Sequence[str],
        *,
        templates: Sequence[str] = CIFAR_TEMPLATES,
        temperature: float = 0.01,
        input_mean: Sequence[float] = (0.0, 0.0, 0.0),
        input_std: Sequence[float] = (1.0, 1.0, 1.0),
        clip_mean: Sequence[float] = (0.48145466, 0.4578275, 0.40821073),
        clip_std: Sequence[float] = (0.26862954, 0.26130258, 0.27577711),
        image_size: int = 224,
    ) -> None:
        if temperature <= 0:
            raise ConfigError(f"zero_shot.temperature must be > 0, got {temperature}")
        self.model = model.eval()
        self.temperature = float(temperature)
        self.image_size = int(image_size)
        self.num_classes = len(classnames)
        device = next(model.parameters()).device
        as_col = lambda v: torch.tensor(v, device=device).view(1, -1, 1, 1)  # noqa: E731
        self.input_mean, self.input_std = as_col(input_mean), as_col(input_std)
        self.clip_mean, self.clip_std = as_col(clip_mean), as_col(clip_std)
        self.class_embeddings = self._class_embeddings(tokenizer, classnames, templates, device)

    @torch.no_grad()
    def _class_embeddings(self, tokenizer, classnames, templates, device) -> torch.Tensor:
        rows = []
        for name in classnames:
            tokens = tokenizer([t.format(name.replace("_", " ")) for t in templates]).to(device)
            emb = F.normalize(self.model.encode_text(tokens).float(), dim=-1).mean(0)
            rows.append(F.normalize(emb, dim=0))
        return torch.stack(rows)  # (k, e)

    def preprocess(self, x: torch.Tensor) -> torch.Tensor:
        """Dataset-normalised images → the model's resolution and normalisation."""
        x = x * self.input_std + self.input_mean
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        if x.shape[-1] != self.image_size or x.shape[-2] != self.image_size:
            down = x.shape[-1] > self.image_size
            x = F.interpolate(
                x, size=(self.image_size, self.image_size), mode="bilinear", antialias=down
            )
        return (x - self.clip_mean) / self.clip_std

    @torch.no_grad()
    def logits(self, x: torch.Tensor, idx: torch.Tensor | None = None) -> torch.Tensor:
        emb = F.normalize(self.model.encode_image(self.preprocess(x)).float(), dim=-1)
        return check_finite_logits(emb @ self.class_embeddings.T / self.temperature, self.name)

    @classmethod
    def create(
        cls,
        classnames: Sequence[str],
        *,
        arch: str = "RN50",
        pretrained: str | None = "openai",
        checkpoint: str | None = None,
        device: torch.device | str = "cpu",
        **kwargs,
    ) -> OpenCLIPZeroShot:
        """Build from ``open_clip``: weights from a local ``checkpoint`` file, else the
        ``pretrained`` tag (downloads; needs network), else random (``pretrained=None``)."""
        try:
            import open_clip
        except ImportError as err:
            raise ConfigError(
                "the openclip zero-shot predictor needs open_clip: pip install 'bayes-dps[clip]' "
                "(or set zero_shot.name=holdout)"
            ) from err
        if arch not in open_clip.list_models():
            raise ConfigError(
                f"zero_shot.arch {arch!r} is not an open_clip architecture (e.g. RN50, ViT-B-32)"
            )
        source = pretrained
        if checkpoint:
            fix = (
                "set zero_shot.checkpoint to a local open_clip weights file, or "
                "zero_shot.pretrained to a tag (network)"
            )
            path = Path(checkpoint).expanduser()
            if path.suffix not in (".npz", ".npy"):  # open_clip reads those itself, as numpy
                read_tensor_file(path, "CLIP checkpoint", fix)  # refused here, unread by open_clip
            else:
                check_input_file(path, "CLIP checkpoint", fix)
            source = str(path)
        try:
            model, _, preprocess = open_clip.create_model_and_transforms(
                arch, pretrained=source, device=device
            )
        except (RuntimeError, OSError, ValueError, KeyError, TypeError, EOFError) as err:
            if checkpoint:
                reason = next(
                    (ln for ln in str(err).splitlines() if ln.strip() and "weights_only" not in ln),
                    type(err).__name__,
                )
                raise DataError(
                    f"CLIP checkpoint {source} does not fit open_clip's {arch} "
                    f"({type(err).__name__}: {reason.strip()[:120]}); {fix}"
                ) from None
            raise DatasetNotFoundError(
                f"could not get CLIP weights {arch}/{pretrained} ({type(err).__name__}: "
                f"{str(err).splitlines()[0][:120]}); without network, download them elsewhere "
                "and set zero_shot.checkpoint to the file"
            ) from err
        normalize = next(t for t in preprocess.transforms if hasattr(t, "mean"))
        size = model.visual.image_size
        size = size[0] if isinstance(size, tuple | list) else size
        return cls(
            model,
            open_clip.get_tokenizer(arch),
            classnames,
            clip_mean=tuple(normalize.mean),
            clip_std=tuple(normalize.std),
            image_size=int(size),
            **kwargs,
        )
