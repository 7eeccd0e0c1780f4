"""Errors, atomic files, config and checkpoint io, progress, safe pickle, device and autocast, small shared helpers."""
