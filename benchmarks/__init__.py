"""Waifu Studio benchmarks: ``python benchmarks/run.py`` prints one comparison table."""
