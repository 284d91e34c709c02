"""Reports: markdown/html and plots from the collector's tables. Never imports torch or ray."""
