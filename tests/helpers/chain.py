"""A tiny MSST -> HiARM -> HiPART lifter chain on the synthetic store, trained in seconds."""

from pipelines.core.config_io import load_config

TINY = [
    "msst.enc_dim=16",
    "msst.enc_blocks=1",
    "msst.dec_dim=16",
    "msst.code_dim=16",
    "msst.codebook_size=32",
    "msst.eval_rows=0",
    "train_msst.batch_size=64",
    "train_msst.max_steps=30",
    "hiarm.dim=16",
    "hiarm.heads=2",
    "hiarm.gcsab_blocks=2",
    "hiarm.ph_blocks=1",
    "hiarm.dropout=0.0",
    "train_hiarm.batch_size=64",
    "train_hiarm.max_steps=30",
    "lifter.dim=16",
    "lifter.blocks=1",
    "lifter.heads=2",
    "lifter.dropout=0.0",
    "lifter.eval_rows=0",
    "train_lift.batch_size=64",
    "train_lift.max_steps=20",
]


def train_tiny_chain(store, root):
    """msst/, hiarm/ and lift-hipart/ under ``root`` (noisy 2D input); returns the config."""
    from pipelines.train.hiarm import train_hiarm
    from pipelines.train.lift import train_lift
    from pipelines.train.msst import train_msst

    config = load_config(None, TINY)
    train_msst(store, root / "msst", config)
    train_hiarm(store, root / "msst", root / "hiarm", config, input2d="noisy")
    train_lift(
        store,
        root / "lift-hipart",
        config,
        levels="17,48,96",
        dense_source="hipart",
        hipart=root / "hiarm",
        input2d="noisy",
        device="cpu",
    )
    return config
