"""How modelprint talks to classifiers: white-box wrappers, access levels, architectures, safe I/O."""

from modelprint.models.access import AccessError, BudgetExhausted, QueryBudget, Suspect
from modelprint.models.base import Classifier, TorchClassifier

__all__ = ["AccessError", "BudgetExhausted", "Classifier", "QueryBudget", "Suspect", "TorchClassifier"]
