"""A worker that reuses its work-horse process, and a supervisor for several."""

from .worker import FastWorker

__all__ = ["FastWorker"]
