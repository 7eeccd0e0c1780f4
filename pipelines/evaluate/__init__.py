"""Scoring: protocols, result tables, densification errors, occlusion sets, AdvOcc, plots."""
