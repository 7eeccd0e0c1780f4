"""The one trainer, its distributed helpers, and one module per stage."""
