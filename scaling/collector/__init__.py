"""The collector: the one place where raw samples become figures."""
