"""Networks of Im2Hands: HALO (I without image), ..."""
