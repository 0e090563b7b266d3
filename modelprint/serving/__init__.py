"""Serve a model over HTTP and verify remote suspects (wire schema: :mod:`modelprint.serving.protocol`)."""

from modelprint.serving.loading import is_url, load_remote
from modelprint.serving.protocol import AccessSpec, ProtocolError
from modelprint.serving.remote import AnswerJournal, RemoteClassifier, RemoteError
from modelprint.serving.server import ModelServer, Threat, serve

__all__ = [
    "AccessSpec",
    "AnswerJournal",
    "ModelServer",
    "ProtocolError",
    "RemoteClassifier",
    "RemoteError",
    "Threat",
    "is_url",
    "load_remote",
    "serve",
]
