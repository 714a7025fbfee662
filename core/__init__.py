"""Foundations every other package may import, and that import none of them: errors, atomic files, numerics,
tensor conventions and the CPU runtime settings."""
