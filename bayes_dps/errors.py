"""Exceptions that name the offending value and the fix.

Every error the package raises on bad input derives from :class:`BayesDPSError`, so scripts can
catch one type; each subclass also derives from the matching built-in (``ValueError``,
``FileNotFoundError``) so generic handlers keep working.
"""

from __future__ import annotations


class BayesDPSError(Exception):
    """Base class of the package's input errors."""


class ConfigError(BayesDPSError, ValueError):
    """A configuration key or value is invalid (unknown key, wrong type, out of range)."""


class DataError(BayesDPSError, ValueError):
    """Data are malformed: labels out of range, mismatched lengths, empty splits."""


class DatasetNotFoundError(BayesDPSError, FileNotFoundError):
    """Data files are missing; the message says where they should be and how to get them."""


class NumericalError(BayesDPSError, FloatingPointError):
    """A loss, logit or log density became NaN or infinite."""
