"""Building blocks: our fused layers equal e3nn's reference ones; norm and gate are equivariant."""

import pytest
import torch
from e3nn import o3

from equipot.nn import DepthwiseTensorProduct, EquivariantLayerNorm, Gate
from equipot.nn.linear import EquivariantLinear
from equipot.nn.scale import ChannelScale
from equipot.nn.tensor_product import depthwise_paths


@pytest.fixture(autouse=True)
def _float64():
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(old)


def test_linear_equals_e3nn():
    irreps_in, irreps_out = "16x0e+8x1o+4x2e", "8x0e+4x1o+2x2e+3x1e"
    ref = o3.Linear(irreps_in, irreps_out, biases=True)
    ours = EquivariantLinear(irreps_in, irreps_out, biases=True)
    with torch.no_grad():
        ref.bias.normal_()
        offset = 0
        for k, (m_in, m_out) in enumerate([(16, 8), (8, 4), (4, 2)]):
            ours.weights[k].copy_(ref.weight[offset : offset + m_in * m_out].view(m_in, m_out))
            offset += m_in * m_out
        ours.bias.copy_(ref.bias)
    x = torch.randn(7, o3.Irreps(irreps_in).dim)
    torch.testing.assert_close(ours(x), ref(x), atol=1e-13, rtol=0)
    assert ours(x)[:, -9:].abs().max() == 0  # 1e has no input: zero, as in e3nn


@pytest.mark.parametrize("irreps_in,lmax", [("16x0e+8x1o+4x2e", 2), ("8x0e+4x1o", 1), ("4x0e+2x1o+2x2e+2x3o", 3)])
def test_depthwise_tensor_product_equals_e3nn(irreps_in, lmax):
    sh = o3.Irreps.spherical_harmonics(lmax)
    allowed = o3.Irreps([(1, (ell, (-1) ** ell)) for ell in range(lmax + 1)])
    ours = DepthwiseTensorProduct(irreps_in, sh, allowed)
    paths = depthwise_paths(o3.Irreps(irreps_in), sh, allowed)
    instructions = [(i, s, k, "uvu", True) for k, (i, s, _) in enumerate(paths)]
    ref = o3.TensorProduct(irreps_in, sh, ours.irreps_out, instructions, shared_weights=False, internal_weights=False)
    assert ours.weight_numel == ref.weight_numel
    n = 11
    x = torch.randn(n, o3.Irreps(irreps_in).dim)
    y = o3.spherical_harmonics(sh, torch.randn(n, 3), True, normalization="component")
    w = torch.randn(n, ref.weight_numel)
    torch.testing.assert_close(ours(x, y, w), ref(x, y, w), atol=1e-12, rtol=0)


@pytest.mark.parametrize("module", ["equipot.nn.linear", "equipot.nn.tensor_product"])
def test_docstring_examples_against_e3nn_run(module):
    """The examples in the docstrings of the layers that claim equality with e3nn's hold."""
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(module), raise_on_error=False)
    assert result.attempted > 0 and result.failed == 0, result


def test_linear_of_tensor_product_blocks_equals_linear_of_its_output():
    """The fused path of the attention layer (tensor-product blocks, some kept as rank-1
    ``OuterBlock``s, mixed by ``EquivariantLinear.forward_blocks``) equals the linear layer on
    the tensor product's concatenated output, values and gradients."""
    from equipot.nn.layout import OuterBlock, channels_last

    sh_irreps = o3.Irreps.spherical_harmonics(2)
    tp = DepthwiseTensorProduct("8x0e+4x1o+2x2e", sh_irreps, "0e+1o+2e")
    linear = EquivariantLinear(tp.irreps_out, "6x0e+3x1o+2x2e+1x1e", biases=True)
    with torch.no_grad():
        linear.bias.normal_()
    n = 9
    inputs = [
        torch.randn(n, tp.irreps_in.dim, requires_grad=True),
        o3.spherical_harmonics(sh_irreps, torch.randn(n, 3), True, normalization="component"),
        torch.randn(n, tp.weight_numel, requires_grad=True),
    ]
    x, sh, w = inputs
    blocks = tp.forward_blocks(channels_last(x, tp.in_layout), sh, w.split(tp.weight_sizes, dim=-1))
    assert sum(isinstance(b, OuterBlock) for b in blocks) == 3  # the three paths of 8x0e
    fused = linear.forward_blocks(blocks)
    plain = linear(tp(*inputs))
    torch.testing.assert_close(fused, plain, atol=1e-12, rtol=0)
    probe = torch.randn_like(plain)
    g_fused = torch.autograd.grad((fused * probe).sum(), [inputs[0], inputs[2]])
    g_plain = torch.autograd.grad((plain * probe).sum(), [inputs[0], inputs[2]])
    for a, b in zip(g_fused, g_plain):
        torch.testing.assert_close(a, b, atol=1e-12, rtol=0)


def test_tensor_product_constants_follow_dtype():
    tp = DepthwiseTensorProduct("4x0e+2x1o", o3.Irreps.spherical_harmonics(1), "0e+1o")
    x32 = torch.randn(3, tp.irreps_in.dim, dtype=torch.float32)
    y32 = torch.randn(3, 4, dtype=torch.float32)
    w32 = torch.randn(3, tp.weight_numel, dtype=torch.float32)
    assert tp.float()(x32, y32, w32).dtype == torch.float32
    # float32 -> float64 must give the exact coefficients, not float32 ones widened
    tp = tp.float().double()
    assert tp(x32.double(), y32.double(), w32.double()).dtype == torch.float64
    for k, master in enumerate(tp._cg64):
        assert torch.equal(getattr(tp, f"cg{k}"), master)
    assert not any(k.startswith("cg") for k in tp.state_dict())


def test_gate_is_equivariant_and_gates_each_channel():
    """Gate works on channels-last blocks per irrep type: [(n, 1, scalars + gates), (n, 3, 4),
    (n, 5, 2)]; SiLU on the scalars, each L>0 channel times the sigmoid of its own gate."""
    gate = Gate("8x0e+4x1o+2x2e")
    n = 5
    x = [torch.randn(n, 1, 8 + 6), torch.randn(n, 3, 4), torch.randn(n, 5, 2)]
    out = gate(x)
    torch.testing.assert_close(out[0], torch.nn.functional.silu(x[0][..., :8]), atol=1e-12, rtol=0)
    torch.testing.assert_close(out[1], x[1] * torch.sigmoid(x[0][..., 8:12]), atol=1e-12, rtol=0)
    torch.testing.assert_close(out[2], x[2] * torch.sigmoid(x[0][..., 12:14]), atol=1e-12, rtol=0)
    rot = -o3.rand_matrix()  # rotation times inversion
    d = [o3.Irrep(ir).D_from_matrix(rot) for ir in ("0e", "1o", "2e")]
    rotated = gate([dk @ xk for dk, xk in zip(d, x)])
    for dk, a, b in zip(d, rotated, out):
        torch.testing.assert_close(a, dk @ b, atol=1e-12, rtol=0)


@pytest.mark.parametrize(
    "module",
    [
        EquivariantLayerNorm("8x0e+4x1o+2x2e"),
        EquivariantLayerNorm("8x0e+4x1o+2x2e", high_l=False),
        ChannelScale("8x0e+4x1o+2x2e", 0.1),
    ],
)
def test_norm_is_equivariant(module):
    irreps_in = o3.Irreps(getattr(module, "irreps_in", None) or module.irreps)
    irreps_out = o3.Irreps(getattr(module, "irreps_out", None) or module.irreps)
    with torch.no_grad():
        for p in module.parameters():
            p.add_(0.3 * torch.randn_like(p))
    x = torch.randn(5, irreps_in.dim)
    rot = -o3.rand_matrix()  # rotation times inversion
    d_in, d_out = irreps_in.D_from_matrix(rot), irreps_out.D_from_matrix(rot)
    torch.testing.assert_close(module(x @ d_in.T), module(x) @ d_out.T, atol=1e-12, rtol=0)


def test_layer_norm_normalises():
    norm = EquivariantLayerNorm("8x0e+4x1o")
    x = 10 + 5 * torch.randn(3, 8 + 12)
    y = norm(x)
    scalars, vectors = y[:, :8], y[:, 8:].reshape(3, 4, 3)
    torch.testing.assert_close(scalars.mean(1), torch.zeros(3), atol=1e-12, rtol=0)
    torch.testing.assert_close(scalars.pow(2).mean(1), torch.ones(3), atol=1e-4, rtol=0)
    torch.testing.assert_close(vectors.pow(2).mean((1, 2)), torch.ones(3), atol=1e-4, rtol=0)


def test_layer_norm_of_scalars_only_passes_higher_l_through():
    norm = EquivariantLayerNorm("8x0e+4x1o", high_l=False)
    assert sum(p.numel() for p in norm.weights) == 8
    x = 10 + 5 * torch.randn(3, 8 + 12)
    y = norm(x)
    torch.testing.assert_close(y[:, :8], EquivariantLayerNorm("8x0e+4x1o")(x)[:, :8])
    assert torch.equal(y[:, 8:], x[:, 8:])


def test_channel_scale_multiplies_each_channel():
    scale = ChannelScale("2x0e+2x1o+1x2e", 0.1)
    with torch.no_grad():
        scale.gain.copy_(torch.tensor([1.0, 2.0, 3.0, 4.0, 5.0]))
    x = torch.randn(4, 2 + 6 + 5)
    expected = torch.cat([x[:, :2] * torch.tensor([1.0, 2.0]), x[:, 2:5] * 3, x[:, 5:8] * 4, x[:, 8:] * 5], dim=1)
    torch.testing.assert_close(scale(x), expected)
    assert torch.equal(ChannelScale("2x0e", 0.1).gain, torch.full((2,), 0.1))


def test_scalars_only_paths_equal_the_full_products():
    """``scalars_only`` (the model's last layer) gives the full tensor product's paths to 0e and
    the linear layer's 0e output, and None for the rest, without needing their weights."""
    from equipot.nn.layout import channels_last, dense

    sh_irreps = o3.Irreps.spherical_harmonics(2)
    tp = DepthwiseTensorProduct("8x0e+4x1o+2x2e", sh_irreps, "0e+1o+2e")
    linear = EquivariantLinear(tp.irreps_out, "6x0e+3x1o+2x2e", biases=True)
    n = 9
    x = channels_last(torch.randn(n, tp.irreps_in.dim), tp.in_layout)
    sh = o3.spherical_harmonics(sh_irreps, torch.randn(n, 3), True, normalization="component")
    w = list(torch.randn(n, tp.weight_numel).split(tp.weight_sizes, dim=-1))
    full = tp.forward_blocks(x, sh, w)
    assert [tp.irreps_out[p].ir for p in tp.scalar_paths] == [o3.Irrep("0e")] * 3
    w_scalar = [w_p if p in tp.scalar_paths else None for p, w_p in enumerate(w)]
    pruned = tp.forward_blocks(x, sh, w_scalar, scalars_only=True)
    for p, (a, b) in enumerate(zip(pruned, full)):
        if p in tp.scalar_paths:
            torch.testing.assert_close(dense(a), dense(b), atol=1e-13, rtol=0)
        else:
            assert a is None
    typed_full = linear.forward_typed(full)
    typed = linear.forward_typed(pruned, scalars_only=True)
    torch.testing.assert_close(typed[0], typed_full[0], atol=1e-12, rtol=0)
    assert typed[1:] == [None, None]
    flat = linear.flatten(typed)
    torch.testing.assert_close(flat[:, :6], linear.flatten(typed_full)[:, :6], atol=1e-12, rtol=0)
    assert flat[:, 6:].abs().max() == 0
