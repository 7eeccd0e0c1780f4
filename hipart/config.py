"""Frozen configuration dataclasses. Defaults are the paper's (configs/paper.toml mirrors them).

One section per concern; TOML files and ``--set section.key=value`` override fields by name
(pipelines/core/config_io.py), and the resolved config is saved with every run and checkpoint.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class CoarsenConfig:
    mode: str = "exact"  # "exact" (deterministic HEM to 96/48 connected clusters) | "pose2mesh"
    n_fine: int = 96  # fine level size (joints)
    n_dense: int = 48  # dense level size (joints)
    fast_regression: bool = True  # per-(joint, bone) moments instead of skinning the full mesh
    batch_frames: int = 4096  # frames regressed and appended to the store per block
    compression: str = "gzip"  # HDF5 filter for the pose store: "gzip" | "lzf" | "none"


@dataclass(frozen=True)
class MSSTConfig:
    n_fine: int = 96  # input joints (fine level)
    n_dense: int = 48  # dense tokens (3 per bone)
    n_bones: int = 16  # sparse tokens (one per bone of the 17-joint skeleton)
    enc_dim: int = 128  # encoder width (E1, E2)
    enc_blocks: int = 4  # MLP-Mixer blocks per encoder
    dec_dim: int = 96  # decoder width
    dec_blocks: int = 1  # MLP-Mixer blocks per decoder
    token_mlp_ratio: float = 0.5  # Mixer token-mixing hidden size / number of tokens
    channel_mlp_ratio: float = 2.0  # Mixer channel-mixing hidden size / width
    code_dim: int = 128  # codebook vector width
    codebook_size: int = 2048  # entries per codebook
    shared_codebook: bool = False  # ablation: one codebook for sparse and dense tokens
    ema_decay: float = 0.9  # EMA codebook update rate (PCT)
    commitment: float = 0.25  # beta of the commitment loss
    la_weight: float = 1.0  # Local Alignment (part-wise InfoNCE) weight; 0 disables
    la_tau: float = 0.07  # InfoNCE temperature
    ga_weight: float = 0.3  # Global Alignment (action classification) weight; 0 disables
    n_actions: int = 15  # action classes (set from the store at training time)
    mask_prob: float = 0.2  # random joint masking during training
    dead_code_threshold: float = 1.0  # EMA cluster size below which a code is re-seeded
    kmeans_init: bool = True  # initialise codebooks by k-means on the first batch
    dropout: float = 0.0  # dropout inside Mixer blocks
    recon_loss: str = "l1"  # pose reconstruction loss in the pose frame: "l1" | "l2"
    eval_rows: int = 4096  # test rows scored at each evaluation during training (0: none); the final one uses all


@dataclass(frozen=True)
class HiARMConfig:
    dim: int = 128  # transformer width
    heads: int = 8  # attention heads
    lsab_blocks: int = 1  # Local Step Attention Blocks (bidirectional, within a step)
    gcsab_blocks: int = 12  # Global Causal Step Attention Blocks (causal over steps)
    ph_blocks: int = 4  # prediction-head blocks
    mlp_ratio: float = 4.0  # transformer MLP hidden size / width
    dropout: float = 0.25  # dropout in all blocks
    dense_weight: float = 1.5  # weight of the dense-token cross-entropy
    order: str = "both"  # "next-token" | "center-to-periphery" | "sparse-to-dense" | "both"
    framework: str = "arm"  # "arm" (autoregressive) | "classification" (PCT-style, one shot)
    score_input: bool = False  # SOS also embeds the 17 detector scores (paper: positions only)


@dataclass(frozen=True)
class LifterConfig:
    levels: tuple[int, ...] = (17, 48, 96)  # input joint levels (17 always first)
    # "vanilla": a token per joint of every level (paper) | "efficient": 17 tokens, each also embedding its
    # bone's 48/96 points | "temporal": the efficient tokens of every frame of a window, spatial and temporal
    # attention in turn (MixSTE)
    arch: str = "vanilla"
    # window length T of the temporal lifter (paper's video rows: 27, 81, 243); the other lifters see one frame
    frames: int = 1
    dim: int = 96  # token width
    blocks: int = 12  # transformer blocks
    heads: int = 6  # attention heads
    mlp_ratio: float = 2.0  # MLP hidden / width (0.9 M params for the 17-joint lifter)
    dropout: float = 0.1  # dropout on the blocks' residual branches and MLP
    # dropout on attention probabilities (PoseFormer, MixSTE: 0); > 0 leaves the fused kernel, ~6x slower
    # attention on CPU
    attn_dropout: float = 0.0
    dense_source: str = "hipart"  # where 48/96 inputs come from: "gt" | "hipart" | "none"
    flip_augment: bool = True  # train on left/right mirrored copies too (half of each batch)
    score_input: bool = False  # the 17 sparse tokens also embed the detector's score (x, y, confidence; paper: x, y)
    # input 2D: "image" (screen-normalised by the image size, VideoPose3D) | "canonical" (each pose centred and
    # scaled to one size first, camera-independent; hipart.normalize)
    framing: str = "image"
    eval_rows: int = 4096  # test rows scored after each epoch during training (0: none)


@dataclass(frozen=True)
class RegressConfig:
    dim: int = 512  # hidden width of the residual MLP
    blocks: int = 2  # residual blocks (two linear layers each)
    dropout: float = 0.1  # dropout inside the blocks
    score_input: bool = False  # also read the 17 detector scores


@dataclass(frozen=True)
class DetectorInputConfig:
    copies: int = 0  # detector-like corrupted copies of every training row (0: the paper, clean input only)
    sizes: tuple[int, ...] = (40, 80)  # occluder sizes (reference-crop px) drawn per copy, in turn
    hide_prob: float = 0.05  # chance that any joint is also hidden outside the occluder (self-occlusion)
    seed: int = 0  # seed of the occluder positions and detector outcomes
    stages: tuple[str, ...] = ("hiarm", "regress", "knn", "lift")  # training stages that add the copies


@dataclass(frozen=True)
class ViewpointConfig:
    copies: int = 0  # copies of every training row filmed by a random virtual camera (0: the corpus's cameras only)
    elevation: tuple[float, float] = (-20.0, 45.0)  # change of the camera's elevation, degrees (+: from above)
    roll: float = 10.0  # camera roll, up to +- degrees
    distance: tuple[float, float] = (2.0, 8.0)  # camera to pelvis, metres (more where the person would not fit)
    fov: tuple[float, float] = (35.0, 90.0)  # horizontal field of view of the frame, degrees
    portrait: float = 0.3  # share of portrait (9:16) frames; the rest are 16:9
    offset: float = 0.3  # the pelvis anywhere within +- this share of the frame around its centre
    seed: int = 0  # seed of the virtual cameras
    stages: tuple[str, ...] = ("lift",)  # training stages that add the copies


@dataclass(frozen=True)
class TrainConfig:
    optimizer: str = "adamw"  # "adamw" | "adam"
    lr: float = 1e-3  # peak learning rate
    weight_decay: float = 0.15  # decoupled weight decay (AdamW)
    batch_size: int = 128  # global batch size (split across DDP ranks)
    epochs: int = 20  # passes over the training split
    max_steps: int = 0  # stop after this many steps (0: epochs decide)
    warmup_steps: int = 500  # linear warm-up
    schedule: str = "cosine"  # "cosine" | "step" (x lr_decay every lr_decay_every epochs) | "constant"
    lr_decay: float = 0.96  # step schedule factor
    lr_decay_every: int = 4  # step schedule period in epochs
    grad_clip: float = 1.0  # max gradient norm (0: off)
    seed: int = 0  # RNG seed of the run
    eval_every: int = 0  # evaluate every N steps (0: at the end of each epoch)
    checkpoint_every: int = 0  # checkpoint every N steps (0: at the end of each epoch)
    amp: str = "auto"  # "auto" (bf16 on CUDA, fp32 on CPU) | "bf16" | "fp32"
    log_every: int = 50  # steps between metrics.jsonl lines / progress-bar updates


@dataclass(frozen=True)
class OcclusionConfig:
    crop: int = 224  # reference person-crop side (px) the patch sizes refer to
    stride: int = 10  # patch stride in reference pixels
    margin: float = 0.1  # crop margin around the GT 2D bounding box (fraction of its side): 1.2x, as 3DNBF
    model: str = "detector"  # occluded-joint model: "detector" (calibrated) | "uniform" | "gaussian" | "drop"
    detector_fit: str = ""  # calibration JSON of the "detector" model ("": configs/advocc_detector.json)
    seed: int = 0  # seed of textures, crops and re-detections
    split: str = "test"  # store split the AdvOcc protocols evaluate
    input2d: str = "gt"  # clean 2D the patches perturb: "gt" or a store detection (det2d/<name>)
    max_samples: int = 0  # evenly spaced rows of the split (0: every row)
    batch_size: int = 16384  # (sample, position) pairs per model call
    heatmap_samples: int = 4  # samples drawn in the error-over-positions heatmap
    textures: str = ""  # DTD folder ("": sample_data/textures/dtd)
    image_pattern: str = "{subject}/{action}_{subaction}.{camera}/{frame:06d}.jpg"  # store row -> image file
    image_samples: int = 0  # image level (rendered + BlazePose): evenly spaced rows (0: max_samples)
    image_cache: str = ""  # image level: detection cache folder ("": advocc_image_cache/ beside the store)


@dataclass(frozen=True)
class EvalConfig:
    flip: bool = True  # also report flip test-time augmentation
    # poses per batch when evaluating and predicting; 0: the fastest on this machine, measured once per model and
    # remembered (pipelines/core/autotune.py)
    batch_size: int = 0
    n_plot_samples: int = 4  # samples drawn by --plot

    @property
    def fixed_batch(self) -> int:
        """The batch of work that is not timed (training monitors, level caches): batch_size, 1024 when auto."""
        return self.batch_size if self.batch_size > 0 else 1024


@dataclass(frozen=True)
class DemoConfig:
    train_every: int = 4  # keep every Nth training camera-frame of the sample corpus
    test_every: int = 4  # keep every Nth test camera-frame
    input2d: str = "blazepose"  # 2D the lifters see at test time: a store detection set or "gt"
    advocc_size: int = 80  # AdvOcc patch size evaluated by the demo (40 | 80)


@dataclass(frozen=True)
class Config:
    coarsen: CoarsenConfig = field(default_factory=CoarsenConfig)
    msst: MSSTConfig = field(default_factory=MSSTConfig)
    hiarm: HiARMConfig = field(default_factory=HiARMConfig)
    lifter: LifterConfig = field(default_factory=LifterConfig)
    regress: RegressConfig = field(default_factory=RegressConfig)
    detector_input: DetectorInputConfig = field(default_factory=DetectorInputConfig)
    viewpoints: ViewpointConfig = field(default_factory=ViewpointConfig)
    train_msst: TrainConfig = field(default_factory=TrainConfig)
    train_hiarm: TrainConfig = field(
        default_factory=lambda: TrainConfig(lr=5e-4, weight_decay=0.03, batch_size=64, epochs=50)
    )
    train_lift: TrainConfig = field(
        default_factory=lambda: TrainConfig(
            optimizer="adam",
            lr=1e-3,
            weight_decay=0.0,
            batch_size=256,
            epochs=25,
            warmup_steps=0,
            schedule="step",
            lr_decay=0.96,
            lr_decay_every=4,
        )
    )
    train_regress: TrainConfig = field(
        default_factory=lambda: TrainConfig(lr=1e-3, weight_decay=0.01, batch_size=256, epochs=20, warmup_steps=100)
    )
    occlusion: OcclusionConfig = field(default_factory=OcclusionConfig)
    evaluate: EvalConfig = field(default_factory=EvalConfig)
    demo: DemoConfig = field(default_factory=DemoConfig)
