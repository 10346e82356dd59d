"""The pipeline's default models (light: the CLI reads them while building its parser).

Chosen by ``faceid bench compare`` (README "Choosing the defaults"): Arcface-Paddle's MobileFaceNet separates people
on raw photos by a wider margin than MobileFace V2; BlazeFace short range (tiled) finds every shared face.
"""

DEFAULT_DET = "blazeface_short"
DEFAULT_REC = "mobileface_v1.0_infer"
