"""Data in: pose store, body models, cameras, coarsening, dataset readers, corpus synthesis, textures."""
