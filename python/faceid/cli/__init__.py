"""The ``faceid`` command line: thin wrappers over library functions."""
