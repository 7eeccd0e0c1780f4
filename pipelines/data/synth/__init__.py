"""`hipart synth`: the licence-free Human3.6M-like sample corpus made with the Anny body model.

rig.py (bake Anny bodies into hipart-rig v1), regressor.py (17-joint sparse regressor), limits.py
(anatomical limits on Anny's local-ref axes), actions.py + motions.py (keyframed motions),
cameras.py, noise.py (detector noise), textures.py (DTD-layout textures), preview.py, lbs.py (numpy
LBS used by the generator and the tests), generate.py (the pipeline). Only rig.load_anny imports anny.
"""
