"""MD.ai's entry point: the adapter in ../model.py (MD.ai puts every folder of the zip on sys.path)."""

from model import MDAIModel  # noqa: F401
