"""Workloads: module-level functions that run inside a rank and return raw samples."""
