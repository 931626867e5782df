"""Plugins in worker processes of their own: the worker's side and the host's supervisor."""
