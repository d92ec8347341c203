"""Files in and out: checkpoints (``checkpoint``), images (``export``), atomic writes, hashes and caches (``files``)."""
