"""Equivariant building blocks of Equiformer on e3nn irreps."""

from equipot.nn.attention import GraphAttention, envelope_softmax
from equipot.nn.block import TransformerBlock
from equipot.nn.embedding import AtomEmbedding, EdgeDegreeEmbedding
from equipot.nn.feedforward import FeedForward
from equipot.nn.gate import Gate
from equipot.nn.norm import EquivariantLayerNorm
from equipot.nn.radial import BesselBasis, GaussianBasis, PolynomialEnvelope, RadialMLP
from equipot.nn.tensor_product import DepthwiseTensorProduct

__all__ = [
    "AtomEmbedding",
    "BesselBasis",
    "DepthwiseTensorProduct",
    "EdgeDegreeEmbedding",
    "EquivariantLayerNorm",
    "FeedForward",
    "GaussianBasis",
    "Gate",
    "GraphAttention",
    "PolynomialEnvelope",
    "RadialMLP",
    "TransformerBlock",
    "envelope_softmax",
]
