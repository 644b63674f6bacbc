"""Applications over the library: image-only reconstruction, photos from the wild, shipping
checkpoints, tables that train their missing variants, plotting helpers for the notebooks."""
