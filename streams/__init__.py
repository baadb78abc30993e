"""Wirewatch: threat alerts from news wire streams."""

__version__ = "0.1.0"
