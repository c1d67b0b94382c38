"""warnd: disaster early-warning broadcast daemon."""

__version__ = "0.1.0"
