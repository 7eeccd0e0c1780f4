"""hipart: the HiPART model package (torch + numpy only; no file I/O, no printing)."""
__version__ = "0.1.0"
