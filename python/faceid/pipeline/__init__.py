"""Inference building blocks: detection, alignment, recognition, the FaceAnalysis API, drawing, prediction."""

from faceid.pipeline.analysis import Face, FaceAnalysis
from faceid.pipeline.detector import Detection, FaceDetector
from faceid.pipeline.recognizer import Recognizer

__all__ = ["Detection", "Face", "FaceAnalysis", "FaceDetector", "Recognizer"]
