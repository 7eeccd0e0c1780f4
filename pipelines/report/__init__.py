"""Markdown reports of the reproduce targets, README splicing, the figure, `hipart info`."""
