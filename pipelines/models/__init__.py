"""Trained stages loaded for use: densifier, level sources, lifting, keypoint formats, prediction."""
