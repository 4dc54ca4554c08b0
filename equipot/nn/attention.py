"""Equivariant graph attention with MLP attention and non-linear messages (Equiformer, Sec. 3.3)."""

from __future__ import annotations

import torch
from e3nn import o3
from torch import nn
from torch.utils.checkpoint import checkpoint

from equipot.errors import EquipotError
from equipot.nn.edges import Edges
from equipot.nn.gate import Gate
from equipot.nn.layout import SCALAR, channels_last
from equipot.nn.linear import EquivariantLinear
from equipot.nn.radial import RadialMLP
from equipot.nn.tensor_product import DepthwiseTensorProduct


def split_heads(irreps: o3.Irreps, num_heads: int) -> o3.Irreps:
    """Irreps of one attention head: every multiplicity divided by ``num_heads``."""
    for mul, ir in irreps:
        if mul % num_heads:
            raise EquipotError(f"irreps {irreps}: multiplicity {mul} of {ir} is not divisible by num_heads={num_heads}")
    return o3.Irreps([(mul // num_heads, ir) for mul, ir in irreps])


class SmoothLeakyReLU(nn.Module):
    """x * ((1+a)/2 + (1-a)/2 * tanh(x/2)): LeakyReLU with slope a for x << 0, 1 for x >> 0.

    Smooth, unlike LeakyReLU, whose kink would make forces non-differentiable (the Hessian
    would jump), which costs accuracy in MD integrators and vibrational analysis.
    """

    def __init__(self, negative_slope: float = 0.2) -> None:
        super().__init__()
        self.negative_slope = negative_slope

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.negative_slope
        # 2 * sigmoid(x) - 1 == tanh(x / 2)
        return x * (0.5 * (1 + a) + 0.5 * (1 - a) * torch.tanh(0.5 * x))


def envelope_softmax(
    logits: torch.Tensor,
    envelope: torch.Tensor,
    dst: torch.Tensor,
    num_nodes: int,
    null_logit: torch.Tensor | None = None,
) -> torch.Tensor:
    """Softmax over the incoming edges of each node, with the cutoff envelope inside it.

    alpha_ij = u(r_ij) exp(a_ij) / (exp(b) + sum_k u(r_ik) exp(a_ik))

    The envelope u sits inside the normalisation, so a neighbour entering the cutoff sphere
    (u = 0) changes no other weight. exp(b) in the denominator is a null neighbour with logit
    b (0, or ``null_logit`` per head): without it a node whose only neighbour enters the sphere
    would jump from no message to weight 1, and the energy would jump with it. The maximum
    logit is subtracted for overflow safety; the result does not depend on it, so it is detached.

    Shapes: logits (E, H), envelope (E,), dst (E,), null_logit (H,) or None -> (E, H)
    """
    heads = logits.shape[1]
    live = (envelope > 0).unsqueeze(-1)
    masked = torch.where(live, logits, torch.full_like(logits, float("-inf"))).detach()
    index = dst.unsqueeze(-1).expand(-1, heads)
    null = logits.new_zeros(num_nodes, heads)
    if null_logit is not None:
        null = null + null_logit
    # starting from the null logit keeps the shift >= b, so exp(b - shift) <= 1 never overflows
    shift = null.detach().scatter_reduce(0, index, masked, "amax")
    weights = envelope.unsqueeze(-1) * torch.exp(logits - shift.index_select(0, dst))
    denom = torch.exp(null - shift).index_add(0, dst, weights)
    return weights / denom.index_select(0, dst)


class GraphAttention(nn.Module):
    """Equivariant graph attention of Equiformer with MLP attention and non-linear messages.

    For each edge j -> i: x_ij = Linear_dst(x_i) + Linear_src(x_j); a depth-wise tensor
    product with Y(r_ij) gives f_ij. Attention logits come from the scalars of f_ij through
    a smooth LeakyReLU and a per-head dot product (MLP attention). Values are the gate of f_ij passed
    through a second depth-wise tensor product (non-linear message passing). Heads are
    summed with the envelope softmax weights, concatenated and projected back.

    Shapes: x (N, irreps_node.dim), edges (E edges, see ``Edges``) -> (N, irreps_node.dim)
    """

    def __init__(
        self,
        irreps_node: str | o3.Irreps,
        irreps_sh: str | o3.Irreps,
        num_heads: int,
        num_basis: int,
        radial_hidden: int = 64,
        scalars_only: bool = False,
        learned_null: bool = False,
    ) -> None:
        super().__init__()
        self.irreps_node = o3.Irreps(irreps_node)
        self.irreps_sh = o3.Irreps(irreps_sh)
        if len({ir for _, ir in self.irreps_node}) != len(self.irreps_node):
            raise EquipotError(f"irreps_node {self.irreps_node}: list each irrep once (e.g. 64x0e+16x1o+8x2e)")
        self.num_heads = num_heads
        self.irreps_head = split_heads(self.irreps_node, num_heads)
        self.alpha_channels = sum(mul for mul, ir in self.irreps_head if ir == SCALAR)
        if self.alpha_channels == 0:
            raise EquipotError("attention needs scalar (0e) channels in every head")

        self.linear_src = EquivariantLinear(self.irreps_node, self.irreps_node, biases=True)
        self.linear_dst = EquivariantLinear(self.irreps_node, self.irreps_node)
        self.tp_alpha = DepthwiseTensorProduct(self.irreps_node, irreps_sh, self.irreps_node)
        self.radial_alpha = RadialMLP(num_basis, radial_hidden, self.tp_alpha.weight_sizes)

        alpha_irreps = o3.Irreps(f"{num_heads * self.alpha_channels}x0e")
        self.linear_alpha = EquivariantLinear(self.tp_alpha.irreps_out, alpha_irreps)
        self.alpha_act = SmoothLeakyReLU(0.2)
        self.alpha_dot = nn.Parameter(torch.randn(num_heads, self.alpha_channels) / self.alpha_channels**0.5)

        self.value_gate = Gate(self.irreps_node)
        self.linear_value_in = EquivariantLinear(self.tp_alpha.irreps_out, self.value_gate.irreps_in)
        self.tp_value = DepthwiseTensorProduct(self.value_gate.irreps_out, irreps_sh, self.irreps_node)
        self.radial_value = RadialMLP(num_basis, radial_hidden, self.tp_value.weight_sizes)
        # Values are handled per irrep type, channels last: (E, 2l+1, H * mul_head), the heads
        # one after another, so they reshape to (E, 2l+1, H, mul_head).
        self.irreps_values = self.irreps_head * num_heads
        self.linear_value = EquivariantLinear(self.tp_value.irreps_out, self.irreps_values)
        self.head_muls = [mul for mul, _ in self.irreps_head]
        if len(self.linear_value.irs) != len(self.irreps_head):
            raise EquipotError(f"irreps_sh {irreps_sh} cannot carry every irrep of {self.irreps_node} to the values")
        # The same rows of W as on irreps_values (each type's head channels one after another),
        # with one input entry per type, the form the aggregated values come in.
        self.linear_out = EquivariantLinear(
            o3.Irreps([(num_heads * mul, ir) for mul, ir in self.irreps_head]), self.irreps_node
        )
        # A model's last layer: nothing reads its non-scalar outputs (the energy head takes
        # scalars, and layer norm, gate and linear layers never feed L>0 into scalars), so its
        # values are only the tensor-product paths to 0e. Same energy and forces.
        self.scalars_only = bool(scalars_only)
        # the null neighbour's logit per head: 0 (the paper's softmax with a fixed null) or learned
        self.null_logit = nn.Parameter(torch.zeros(num_heads)) if learned_null else None

    def extra_repr(self) -> str:
        last = ", scalars_only" if self.scalars_only else ""
        null = ", learned null logit" if self.null_logit is not None else ""
        return f"{self.irreps_node} x {self.irreps_sh} -> {self.irreps_node}, heads={self.num_heads}{last}{null}"

    def forward(self, x: torch.Tensor, edges: Edges, edge_chunk_size: int | None = None) -> torch.Tensor:
        """``edge_chunk_size``: attend over runs of about this many edges, each recomputed in the
        backward pass (a memory trade for large systems; same result). None: all at once."""
        # channels last, one (N, 2l+1, mul) block per irrep: each edge gathers contiguous
        # blocks, and nothing edge-sized is split (a split's backward concatenates)
        blocks = channels_last(x, self.linear_src.in_layout)
        src_feat, dst_feat = self.linear_src.forward_typed(blocks), self.linear_dst.forward_typed(blocks)
        if edge_chunk_size is None or edges.num_edges <= edge_chunk_size:
            out = self.aggregate(src_feat, dst_feat, edges)
        else:
            out = self.aggregate_in_chunks(src_feat, dst_feat, edges, edge_chunk_size)
        return self.linear_out.flatten(self.linear_out.forward_typed(out, self.scalars_only))

    def aggregate(
        self, src_feat: list[torch.Tensor], dst_feat: list[torch.Tensor], edges: Edges
    ) -> list[torch.Tensor | None]:
        """Attention-weighted sum of the values of each node's incoming edges.

        Shapes: src_feat, dst_feat [(N_src or N_dst, 2l+1, mul) per irrep of irreps_node],
                edges.src indexes src_feat, edges.dst indexes dst_feat
                -> [(N_dst, 2l+1, num_heads * mul_head) per irrep type; None for L>0
                    with ``scalars_only``]
        """
        num_nodes = dst_feat[0].shape[0]
        # index_select, not x[idx]: its backward is an index_add, much cheaper than index_put on CPU
        message = [s.index_select(0, edges.src) + d.index_select(0, edges.dst) for s, d in zip(src_feat, dst_feat)]
        # Both tensor products are linear in the harmonics, so the envelope scales them,
        # (E, 9), rather than the wide inputs or radial weights.
        sh = edges.sh * edges.envelope.unsqueeze(-1)
        feat = self.tp_alpha.forward_blocks(message, sh, self.radial_alpha(edges.basis))

        (alpha,) = self.linear_alpha.forward_typed(feat)
        alpha = self.alpha_act(alpha).view(-1, self.num_heads, self.alpha_channels)
        logits = (alpha * self.alpha_dot).sum(-1)
        weights = envelope_softmax(logits, edges.envelope, edges.dst, num_nodes, self.null_logit)

        value = self.value_gate(self.linear_value_in.forward_typed(feat))
        only = self.scalars_only
        weights_value = self.radial_value(edges.basis, self.tp_value.scalar_paths if only else None)
        value = self.tp_value.forward_blocks(value, sh, weights_value, scalars_only=only)
        out: list[torch.Tensor | None] = []
        for v, mul in zip(self.linear_value.forward_typed(value, scalars_only=only), self.head_muls):
            if v is None:
                out.append(None)
                continue
            e, d, channels = v.shape
            v = (v.view(e, d, self.num_heads, mul) * weights.view(e, 1, self.num_heads, 1)).view(e, d, channels)
            out.append(v.new_zeros(num_nodes, d, channels).index_add(0, edges.dst, v))
        return out

    def aggregate_in_chunks(
        self, src_feat: list[torch.Tensor], dst_feat: list[torch.Tensor], edges: Edges, chunk: int
    ) -> list[torch.Tensor | None]:
        """``aggregate`` over runs of whole destination nodes with about ``chunk`` edges each.

        The per-edge features (tens of thousands of floats per edge) dominate the memory of
        large systems; a run keeps only its inputs for the backward pass and recomputes the
        rest, so the peak is one run's edges. Every edge of a node is in its node's run, so
        each run's softmax is the full one and the result equals ``aggregate``'s.

        Shapes: as ``aggregate``.
        """
        num_nodes = dst_feat[0].shape[0]
        edges = edges.select(torch.argsort(edges.dst, stable=True))
        # first[n]: position of node n's first edge in the sorted list; first[N] = E
        first = torch.zeros(num_nodes + 1, dtype=torch.long, device=edges.dst.device)
        first[1:] = torch.bincount(edges.dst, minlength=num_nodes).cumsum(0)
        targets = torch.arange(chunk, edges.num_edges, chunk, device=edges.dst.device)
        cuts = torch.searchsorted(first, targets).clamp(max=num_nodes).tolist()
        bounds = sorted({0, num_nodes, *cuts})
        first = first.tolist()
        recompute = torch.is_grad_enabled()
        parts = []
        for n0, n1 in zip(bounds[:-1], bounds[1:]):
            args = (src_feat, [d[n0:n1] for d in dst_feat], edges.slice(first[n0], first[n1], n0))
            if recompute:
                parts.append(checkpoint(self.aggregate, *args, use_reentrant=False))
            else:
                parts.append(self.aggregate(*args))
        return [None if per_type[0] is None else torch.cat(per_type) for per_type in zip(*parts)]
