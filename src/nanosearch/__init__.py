"""nanosearch: train and evaluate small search agents the Jan-nano way."""

__version__ = "0.1.0"
