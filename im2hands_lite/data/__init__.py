"""Synthetic two-hand data: interaction sampler, scene rendering, labels, shards, Dataset."""
from .dataset import (
    SPLIT_OFFSETS,
    TwoHandDataset,
    default_cache_root,
    generate_split,
    kit_samples_dir,
)
from .interactions import INTERACTIONS, sample_interaction
from .scene import GeneratorConfig, TwoHandSample, generate_sample
from .shards import ShardError, read_shard, write_shard

__all__ = [
    "SPLIT_OFFSETS", "TwoHandDataset", "default_cache_root", "generate_split", "kit_samples_dir",
    "INTERACTIONS", "sample_interaction", "GeneratorConfig", "TwoHandSample", "generate_sample",
    "ShardError", "read_shard", "write_shard",
]
