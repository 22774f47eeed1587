"""The MiniLM classifier network: encoder layers, mean pooling, one logit per label."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from models.toxicity.tokens import base_model_path


def additive_mask(mask: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """Attention mask as a (batch, 1, 1, seq) bias: 0 for tokens, a large negative for padding."""
    return (1.0 - mask[:, None, None, :].to(dtype)) * torch.finfo(dtype).min


class MiniLMClassifier(nn.Module):
    """BERT-style embeddings and layers, masked mean pooling and a linear head."""

    def __init__(self, encoder: Any, n_labels: int) -> None:
        super().__init__()
        self.config: Any = encoder.config
        self.embeddings: nn.Module = encoder.embeddings
        self.layers: nn.ModuleList = encoder.encoder.layer
        self.dropout = nn.Dropout(0.1)
        self.head = nn.Linear(encoder.config.hidden_size, n_labels)

    def lower(self, ids: torch.Tensor, mask: torch.Tensor, upto: int) -> torch.Tensor:
        """Hidden states after the first `upto` layers."""
        hidden = self.embeddings(input_ids=ids)
        extended = additive_mask(mask, hidden.dtype)
        for layer in self.layers[:upto]:
            hidden = layer(hidden, extended)
        return hidden

    def upper(self, hidden: torch.Tensor, mask: torch.Tensor, start: int) -> torch.Tensor:
        """Logits from the hidden states entering layer `start`."""
        extended = additive_mask(mask, hidden.dtype)
        for layer in self.layers[start:]:
            hidden = layer(hidden, extended)
        weights = mask.unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * weights).sum(1) / weights.sum(1).clamp(min=1.0)
        logits: torch.Tensor = self.head(self.dropout(pooled))
        return logits

    def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Logits per text and label."""
        return self.upper(self.lower(ids, mask, 0), mask, 0)


class ProbabilityModel(nn.Module):
    """The classifier with a sigmoid: what is exported and served."""

    def __init__(self, classifier: MiniLMClassifier) -> None:
        super().__init__()
        self.classifier = classifier

    def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Probability per text and label."""
        return torch.sigmoid(self.classifier(ids, mask))


def pretrained_classifier(n_labels: int, path: Path | None = None) -> MiniLMClassifier:
    """The pretrained encoder from its installed folder with a fresh head (seeded)."""
    from transformers import AutoModel

    encoder = AutoModel.from_pretrained(str(path or base_model_path()))
    torch.manual_seed(0)
    return MiniLMClassifier(encoder, n_labels)


def classifier_from_config(config: dict[str, object], n_labels: int) -> MiniLMClassifier:
    """The same architecture from a saved BertConfig, weights to be loaded after."""
    from transformers import BertConfig, BertModel

    return MiniLMClassifier(BertModel(BertConfig.from_dict(config)), n_labels)
