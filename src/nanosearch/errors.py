"""Errors that nanosearch raises on purpose: each message names the problem for a person to fix."""


class NanosearchError(Exception):
    """Base class of every error a user can cause (bad input, missing files, unknown ids)."""


class CorpusError(NanosearchError):
    """A corpus file is missing, unreadable, of an unknown format, or holds no valid document."""


class IndexNotFoundError(NanosearchError):
    """The index directory, or its manifest, does not exist."""


class CorruptIndexError(NanosearchError):
    """The index directory exists but its files are missing, truncated or inconsistent."""


class DocumentNotFoundError(NanosearchError, KeyError):
    """No document of the index has the requested id."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "document not found"


class QueryError(NanosearchError, ValueError):
    """A query is empty or otherwise unusable, or a search parameter is out of range."""
