"""What in a photo matters most: CLIP ViT attention (with weights) or the spectral residual (offline)."""
