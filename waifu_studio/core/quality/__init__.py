"""How good a model is: reconstruction error, FID and KID (``metrics``)."""
