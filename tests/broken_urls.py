"""A URLconf that fails on import, for the worker's start-up tests."""

raise RuntimeError("this URLconf fails on purpose")
