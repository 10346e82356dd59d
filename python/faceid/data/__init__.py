"""Training and evaluation data: kv ``.bin`` images, MXNet RecordIO, label files, verification sets, converters.

Import the submodules directly (``faceid.data.kvbin``, ``faceid.data.recordio``, ...); this package imports
nothing heavy.
"""
