"""Everything that touches files: sources, coarsening, stores, training, evaluation, occlusion."""
