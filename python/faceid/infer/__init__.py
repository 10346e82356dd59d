"""Running exported models: Paddle Inference from Python, and the native (C++) loop when it is usable."""

from faceid.infer.native import NativeEmbedder, load_native_predictor, native_status
from faceid.infer.paddle_predictor import PaddlePredictor, find_program

__all__ = ["NativeEmbedder", "PaddlePredictor", "find_program", "load_native_predictor", "native_status"]
