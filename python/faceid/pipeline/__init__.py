"""Inference building blocks: the Recognizer (and, later, detection, alignment and galleries)."""

from faceid.pipeline.recognizer import Recognizer

__all__ = ["Recognizer"]
