"""A key's life in one place: :class:`KeyMaker` makes the keys of one victim and seed (each owner-side
pool built once and each distinct sampler run once), :class:`KeyStore` caches them on disk by (fingerprint
config, victim, seed) and is what the benchmark, the stealthiness benchmark, ``fingerprint generate`` and
the report read and write."""

from modelprint.keys.maker import KeyMaker
from modelprint.keys.store import KeyStore, StoredKey

__all__ = ["KeyMaker", "KeyStore", "StoredKey"]
