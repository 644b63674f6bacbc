"""Image networks: ResNet encoder, deconvolution decoder, encoder-decoder and patch ViT."""

import pytest
import torch

from im2hands_lite.models.image import (
    BasicBlock,
    Bottleneck,
    DeconvDecoder,
    DeconvDecoderConfig,
    ImageEncoderDecoder,
    PatchViT,
    ResNetConfig,
    ResNetEncoder,
    ViTConfig,
    fast_image_config,
    paper_image_config,
)

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def n_params(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


@pytest.mark.parametrize("depth, expected", [(18, 11_176_512), (50, 23_508_032)])
def test_resnet_parameter_counts_match_torchvision_without_fc(depth, expected):
    assert n_params(ResNetEncoder(ResNetConfig(depth=depth, width=64))) == expected


def test_resnet_zero_inits_the_last_bn_of_every_residual_block():
    encoder = ResNetEncoder(ResNetConfig(depth=18, width=16))
    blocks = [m for m in encoder.modules() if isinstance(m, (BasicBlock, Bottleneck))]
    assert len(blocks) == 8
    assert all(torch.all(b.last_bn().weight == 0) for b in blocks)
    assert torch.all(blocks[0].bn1.weight == 1)


@pytest.mark.parametrize("depth", [10, 18, 50])
def test_resnet_stage_shapes_at_fast_size(depth):
    encoder = ResNetEncoder(ResNetConfig(depth=depth, width=16))
    features = encoder(torch.rand(2, 3, 128, 128))
    assert len(features) == 4
    for f, c, stride in zip(features, encoder.out_channels, encoder.strides):
        assert f.shape == (2, c, 128 // stride, 128 // stride)
    expansion = 4 if depth == 50 else 1
    assert encoder.out_channels == tuple(16 * 2**i * expansion for i in range(4))


def test_fast_preset_encoder_decoder_shapes():
    resnet, decoder, _ = fast_image_config()
    model = ImageEncoderDecoder(resnet, decoder)
    out = model(torch.rand(2, 3, 128, 128))
    assert out.feature_map.shape == (2, decoder.out_channels, 64, 64)
    assert out.global_feature.shape == (2, model.encoder.out_channels[-1])
    assert model.output_stride == 2 and model.global_channels == model.encoder.out_channels[-1]


def test_paper_preset_shapes_forward_only():
    resnet, decoder, vit = paper_image_config()
    model, patch_vit = ImageEncoderDecoder(resnet, decoder).eval(), PatchViT(vit).eval()
    image = torch.rand(1, 3, 256, 256)
    with torch.no_grad():
        stages = model.encoder(image)
        out = model(image)
        tokens = patch_vit(image)
    assert [tuple(f.shape) for f in stages] == [
        (1, 256, 64, 64), (1, 512, 32, 32), (1, 1024, 16, 16), (1, 2048, 8, 8)]
    assert out.feature_map.shape == (1, 32, 128, 128)
    assert out.global_feature.shape == (1, 2048)
    assert tokens.shape == (1, 64, 128)


@pytest.mark.parametrize("n_layers, size", [(4, 64), (3, 32), (5, 128)])
def test_decoder_doubles_per_layer(n_layers, size):
    decoder = DeconvDecoder(24, DeconvDecoderConfig(out_channels=8, hidden=16, n_layers=n_layers))
    out = decoder(torch.rand(2, 24, 4, 4))
    assert out.shape == (2, 8, 4 * 2**n_layers, 4 * 2**n_layers)
    assert decoder.config.output_stride == 128 // size


def test_gradients_reach_the_first_conv_from_the_decoder_output():
    resnet, decoder, _ = fast_image_config()
    model = ImageEncoderDecoder(resnet, decoder)
    image = torch.rand(2, 3, 64, 64, requires_grad=True)
    model(image).feature_map.square().mean().backward()
    grad = model.encoder.stem[0].weight.grad
    assert grad is not None and torch.isfinite(grad).all() and grad.abs().sum() > 0
    assert image.grad.abs().sum() > 0


def test_vit_token_shape_and_locality():
    config = fast_image_config()[2]
    vit = PatchViT(config).eval()
    image = torch.rand(2, 3, 128, 128)
    with torch.no_grad():
        tokens = vit(image)
        assert tokens.shape == (2, config.grid**2, config.dim)
        r, c, p = 2, 5, config.patch_size
        changed = image.clone()
        changed[:, :, r * p:(r + 1) * p, c * p:(c + 1) * p] = torch.rand(2, 3, p, p)
        delta = (vit(changed) - tokens).norm(dim=-1)  # (B, tokens)
    assert (delta.argmax(dim=1) == r * config.grid + c).all()
    top2 = delta.topk(2, dim=1).values
    assert (top2[:, 0] > 2 * top2[:, 1]).all()  # the changed patch dominates
    assert (delta > 0).all()  # attention mixes: every token sees the change a little


def test_vit_other_square_sizes_interpolate_position_embeddings():
    vit = PatchViT(ViTConfig(image_size=64, grid=4, dim=32, depth=1, heads=2)).eval()
    assert torch.equal(vit.position_embedding(4), vit.pos_embed)
    with torch.no_grad():
        assert vit(torch.rand(1, 3, 96, 96)).shape == (1, 36, 32)  # patch 16 -> a 6x6 grid
    with pytest.raises(ValueError, match="multiples of 16"):
        vit(torch.rand(1, 3, 100, 100))
    with pytest.raises(ValueError, match="square"):
        vit(torch.rand(1, 3, 64, 96))


def test_official_layout_vit_on_the_decoder_feature_map():
    """The official code patchifies ImgEnc's 1/4-resolution 32-channel map on a 4x4 grid."""
    model = ImageEncoderDecoder(ResNetConfig(depth=10, width=8),
                                DeconvDecoderConfig(out_channels=32, hidden=16, n_layers=3))
    vit = PatchViT(ViTConfig(image_size=64, grid=4, dim=32, depth=1, heads=2,
                             in_channels=32, normalize=False))
    features = model(torch.rand(2, 3, 256, 256)).feature_map
    assert features.shape == (2, 32, 64, 64) and model.output_stride == 4
    assert vit(features).shape == (2, 16, 32)
    with pytest.raises(ValueError, match="32 channels"):
        vit(torch.rand(2, 3, 64, 64))


def test_models_built_after_the_same_seed_are_equal():
    resnet, decoder, vit = fast_image_config()
    states = []
    for _ in range(2):
        torch.manual_seed(0)
        states.append({**ImageEncoderDecoder(resnet, decoder).state_dict(),
                       **{f"vit.{k}": v for k, v in PatchViT(vit).state_dict().items()}})
    assert states[0].keys() == states[1].keys()
    assert all(torch.equal(states[0][k], states[1][k]) for k in states[0])


@pytest.mark.parametrize("image, match", [
    (torch.rand(3, 64, 64), "4D"),
    (torch.rand(1, 1, 64, 64), "3 channels"),
    (torch.rand(1, 4, 64, 64), "3 channels"),
    (torch.randint(0, 255, (1, 3, 64, 64), dtype=torch.uint8), "float"),
    (torch.full((1, 3, 64, 64), float("nan")), "NaN"),
    (torch.rand(1, 3, 80, 64), "multiples of 32"),
])
def test_encoder_decoder_rejects_bad_images(image, match):
    model = ImageEncoderDecoder(ResNetConfig(depth=10, width=8), DeconvDecoderConfig(8, 8))
    with pytest.raises(ValueError, match=match):
        model(image)


def test_vit_rejects_bad_images():
    vit = PatchViT(ViTConfig(image_size=64, grid=4, dim=16, depth=1, heads=2))
    for image, match in [(torch.rand(1, 3, 64), "4D"), (torch.rand(1, 1, 64, 64), "3 channels"),
                         (torch.rand(1, 3, 64, 128), "square")]:
        with pytest.raises(ValueError, match=match):
            vit(image)
    image = torch.rand(1, 3, 64, 64)
    image[0, 0, 3, 3] = float("inf")
    with pytest.raises(ValueError, match="NaN or infinite"):
        vit(image)


def test_bad_configs_raise():
    with pytest.raises(ValueError, match="depth"):
        ResNetConfig(depth=20)
    with pytest.raises(ValueError, match="divisible by grid"):
        ViTConfig(image_size=100, grid=8)
    with pytest.raises(ValueError, match="divisible by heads"):
        ViTConfig(dim=30, heads=4)
    with pytest.raises(ValueError, match="n_layers"):
        DeconvDecoderConfig(n_layers=6)
    with pytest.raises(ValueError, match="decoder input"):
        DeconvDecoder(16)(torch.rand(1, 8, 2, 2))
