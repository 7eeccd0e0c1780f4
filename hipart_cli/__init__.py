"""The `hipart` command line: thin Typer commands over `pipelines`."""
