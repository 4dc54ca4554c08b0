"""What the held-out benchmarks of a trained model share: their model options, and the model
loaded with the metadata of the checkpoints it descends from (``lineage_metadata``)."""

from __future__ import annotations

import argparse


def add_model_options(parser: argparse.ArgumentParser, batch_size: int = 16) -> None:
    parser.add_argument("model", help="shipped model name or checkpoint")
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--batch-size", type=int, default=batch_size)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--json", default=None, help="write the pooled metrics here")


def load_with_lineage(args: argparse.Namespace):
    """(model, lineage): the model of ``args`` and the metadata of it and its ancestors."""
    import torch

    from equipot.checkpoint import lineage_metadata, load_model

    if args.threads:
        torch.set_num_threads(args.threads)
    model = load_model(args.model, dtype=args.dtype)
    return model, lineage_metadata(model)
