"""Data sources of `hipart coarsen`: each yields ``Sequence``s of pose parameters seen by cameras."""
