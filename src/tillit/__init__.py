"""tillit: personal data passes through to the partner; nothing readable stays here."""

__version__ = "0.1.0"
