"""ZestOfLIME's signature (Jia, Chen, Guan, Shamsabadi, Papernot, ICLR'22; docs/zest.md)."""

from __future__ import annotations

from typing import ClassVar

import torch

from modelprint.models.access import to_probs
from modelprint.models.base import Classifier
from modelprint.ops.lime import fit_local_linear
from modelprint.queries.common import QueryStructure
from modelprint.representations.base import Representation
from modelprint.representations.kinds import RepKind
from modelprint.types import Queries


class LimeWeights(Representation):
    """Per seed, the local linear model W_i = pinv(AᵢᵀAᵢ)AᵢᵀYᵢ (no intercept) fitted on the stored masks Aᵢ
    and the model's probabilities Yᵢ on the masked queries; stacked to (n_seeds, S, K). Needs the
    ``lime_masks``/``lime_group`` extras written by :class:`~modelprint.queries.lime.LimeQueries`."""

    needs = "probs"
    kind: ClassVar[RepKind] = "matrix"
    accepts: ClassVar[frozenset[QueryStructure]] = frozenset({"lime"})

    def represent(self, model: Classifier, queries: Queries) -> torch.Tensor:
        if "lime_masks" not in queries.extras or "lime_group" not in queries.extras:
            raise ValueError("LimeWeights needs LIME queries (extras 'lime_masks' and 'lime_group')")
        probs = to_probs(model(queries.inputs), model.output)
        masks, groups = queries.extras["lime_masks"], queries.extras["lime_group"].long()
        weights = [fit_local_linear(masks[groups == g], probs[groups == g]) for g in torch.unique(groups)]
        return torch.stack(weights)
