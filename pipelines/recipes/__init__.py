"""Multi-stage runs: the stage runner with config-hash reuse, the demo, the ablations."""
