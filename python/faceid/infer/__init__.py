"""Running exported models: Paddle Inference from Python, and the native (C++) loop when it is usable."""

from faceid.infer.paddle_predictor import PaddlePredictor, find_program

__all__ = ["PaddlePredictor", "find_program"]
