"""Checks for the notebooks' exercises, one per exercise: `check_<name>(my_<name>) -> str`.

Each check builds its own inputs from a fixed seed and compares the learner's function with an
independent reference (a brute-force loop, `F.scaled_dot_product_attention`, an analytic case)
or a property the answer must have, and with the library where the library is the contract.
A wrong answer raises `ExerciseCheckError` with a message that says *what* is wrong (a shape,
a property, which input) without printing the expected values; a right one returns a line to
print. `tests/test_exercise_checks.py` proves every check fails on wrong but well-shaped
answers (zeros, a transposed result, an off-by-one, a forgotten term).
"""
from __future__ import annotations

import math
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
import trimesh

from ..apps.wild import MEDIAPIPE_TO_INTERHAND, lift_landmarks
from ..data.noise import KeypointNoiseConfig, add_keypoint_noise, root_relative_mpjpe_mm
from ..evaluation.paired import paired_bootstrap
from ..geometry.camera import PinholeCamera
from ..geometry.sampling import farthest_point_sampling, gather_points
from ..hand import HandModel
from ..hand.joints import BONE_HEADS, BONE_TAILS, MIDDLE_MCP, WRIST
from ..models.attention import POSITION_SCALE, QueryAttentionConfig, QueryImageAttention
from ..models.canonical import INDEX_MCP, PINKY_MCP, global_frame
from ..models.halo import HaloConfig, HaloModel
from ..models.keypoint_refiner import KeypointRefiner, KeypointRefinerConfig, ResidualGraphLayer
from ..models.two_hand_refiner import (
    EncodedHand,
    PointCloudDecoder,
    PointCloudEncoder,
    TransitionDown,
    TwoHandRefiner,
    TwoHandRefinerConfig,
    VectorAttention,
)
from ..training.settings import TrainSettings
from ..training.trainer import step_indices


class ExerciseCheckError(AssertionError):
    """A learner's answer is wrong; the message says what is wrong, not what is right."""


def require(condition: bool, message: str) -> None:
    """Raise `ExerciseCheckError(message)` unless `condition` holds."""
    if not bool(condition):
        raise ExerciseCheckError(message)


def require_shape(value, shape: tuple[int, ...], what: str) -> None:
    got = tuple(getattr(value, "shape", ()))
    require(got == tuple(shape), f"{what}: shape {got}, expected {tuple(shape)}")


def require_close(mine, reference, what: str, atol: float = 1e-6, rtol: float = 1e-5) -> None:
    """`mine` equals `reference` elementwise within tolerance (the message gives the largest
    error, never the expected values)."""
    a, b = np.asarray(_numpy(mine), dtype=np.float64), np.asarray(_numpy(reference), dtype=np.float64)
    require(a.shape == b.shape, f"{what}: shape {a.shape}, expected {b.shape}")
    require(np.isfinite(a).all(), f"{what}: contains NaN or infinity")
    error = np.abs(a - b)
    require(bool(np.all(error <= atol + rtol * np.abs(b))), f"{what}: wrong values (largest error {error.max():.2e})")


def _numpy(value):
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().double().numpy()
    return value


def _generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def example_camera(seed: int = 0) -> PinholeCamera:
    """A camera that looks at the origin from about 0.6 m, rotated off every axis."""
    rng = np.random.default_rng(seed)
    axis = rng.normal(size=3)
    axis /= np.linalg.norm(axis)
    angle = 0.4
    k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    R = np.eye(3) + math.sin(angle) * k + (1 - math.cos(angle)) * k @ k  # Rodrigues
    K = np.array([[410.0, 0.0, 63.2], [0.0, 395.0, 66.9], [0.0, 0.0, 1.0]])
    return PinholeCamera(K=K, R=R, t=np.array([0.01, -0.02, 0.6]), width=128, height=128)


# ---- 01: the hand and the camera -----------------------------------------------------------

def check_blend_skinning(my_blend_skinning: Callable) -> str:
    """rest (B, V, 3), weights (V, J) rows summing to 1, affine (B, J, 3, 4) -> (B, V, 3):
    v' = (sum_j w_vj [R_j | t_j]) [v; 1]."""
    g = _generator(12)
    rest = torch.randn(2, 30, 3, generator=g, dtype=torch.float64)
    weights = torch.rand(30, 4, generator=g, dtype=torch.float64) ** 3
    weights = weights / weights.sum(1, keepdim=True)
    rotations = _random_rotations(8, g).reshape(2, 4, 3, 3)
    affine = torch.cat([rotations, torch.randn(2, 4, 3, 1, generator=g, dtype=torch.float64)], dim=-1)
    mine = my_blend_skinning(rest, weights, affine)
    require_shape(mine, (2, 30, 3), "my_blend_skinning")
    expected = torch.zeros(2, 30, 3, dtype=torch.float64)
    for b in range(2):  # brute force: every vertex, every bone
        for v in range(30):
            for j in range(4):
                expected[b, v] += weights[v, j] * (affine[b, j, :, :3] @ rest[b, v] + affine[b, j, :, 3])
    require_close(mine, expected, "30 vertices blended over 4 bones (brute force)", atol=1e-9)
    identity = torch.cat([torch.eye(3, dtype=torch.float64), torch.zeros(3, 1, dtype=torch.float64)], -1)
    require_close(my_blend_skinning(rest, weights, identity.expand(2, 4, 3, 4)), rest,
                  "identity maps must leave the rest pose unchanged", atol=1e-12)
    one_bone = torch.zeros(30, 4, dtype=torch.float64)
    one_bone[:, 2] = 1.0
    require_close(my_blend_skinning(rest, one_bone, affine),
                  rest @ affine[:, 2, :, :3].transpose(1, 2) + affine[:, 2, None, :, 3],
                  "vertices bound to one bone must move rigidly with it", atol=1e-9)
    return "my_blend_skinning: right by brute force, identity and rigid cases"


def check_project(my_project: Callable) -> str:
    """world (N, 3) -> pixels (N, 2) with the OpenCV pinhole model, numpy and torch alike."""
    camera = example_camera()
    points = np.random.default_rng(1).normal(0, 0.08, (50, 3))
    mine = my_project(points, camera.K, camera.R, camera.t)
    require_shape(mine, (50, 2), "my_project")
    # independent reference: one point at a time, written out in scalars
    expected = []
    for p in points:
        x, y, z = camera.R @ p + camera.t
        expected.append((camera.K[0, 0] * x / z + camera.K[0, 2], camera.K[1, 1] * y / z + camera.K[1, 2]))
    require_close(mine, expected, "my_project (numpy)", atol=1e-6)
    on_axis = np.linalg.solve(camera.R, np.array([0.0, 0.0, 0.5]) - camera.t)[None]  # on the optical axis
    require_close(my_project(on_axis, camera.K, camera.R, camera.t), camera.K[:2, 2][None],
                  "a point on the optical axis must land on the principal point", atol=1e-6)
    as_t = lambda a: torch.as_tensor(a, dtype=torch.float64)  # noqa: E731
    mine_t = my_project(as_t(points), as_t(camera.K), as_t(camera.R), as_t(camera.t))
    require(isinstance(mine_t, torch.Tensor), "my_project must return a tensor for tensor inputs")
    require_close(mine_t, expected, "my_project (torch)", atol=1e-6)
    require_close(mine, camera.project(points), "my_project vs PinholeCamera.project", atol=1e-6)
    return "my_project: right on 50 points, numpy and torch, and on the optical axis"


def check_unproject(my_unproject: Callable) -> str:
    """(N, 2) pixels and camera-frame depths (N,) -> (N, 3) world points: the inverse projection."""
    camera = example_camera()
    points = np.random.default_rng(2).normal(0, 0.08, (40, 3))
    pixels = camera.project(points)
    depth = camera.world_to_camera(points)[:, 2]
    mine = my_unproject(pixels, depth, camera.K, camera.R, camera.t)
    require_shape(mine, (40, 3), "my_unproject")
    require_close(mine, points, "projecting then unprojecting must give back the points", atol=1e-8)
    nearer = my_unproject(pixels, 0.5 * depth, camera.K, camera.R, camera.t)
    require_close(camera.world_to_camera(nearer)[:, 2], 0.5 * depth, "the depth must be the camera-frame z",
                  atol=1e-8)
    return "my_unproject inverts the projection at every depth"


# ---- 03: attention --------------------------------------------------------------------------

def check_attention(my_attention: Callable) -> str:
    """Scaled dot-product attention (output, weights) against F.scaled_dot_product_attention."""
    g = _generator(0)
    q, k, v = torch.randn(2, 3, 10, 8, generator=g), torch.randn(2, 3, 64, 8, generator=g), torch.randn(2, 3, 64, 5,
                                                                                                        generator=g)
    out, weights = my_attention(q, k, v)
    require_shape(out, (2, 3, 10, 5), "output")
    require_shape(weights, (2, 3, 10, 64), "weights (one row per query, one column per key)")
    require_close(weights.sum(-1), torch.ones(2, 3, 10), "each query's weights must sum to 1 over the keys")
    require(bool((weights >= 0).all()), "weights must not be negative")
    require_close(out, F.scaled_dot_product_attention(q, k, v), "output vs F.scaled_dot_product_attention",
                  atol=1e-5)
    q1 = torch.zeros(1, 4)  # a query orthogonal to every key attends uniformly
    _, uniform = my_attention(q1, torch.randn(6, 4, generator=g), torch.randn(6, 2, generator=g))
    require_close(uniform, torch.full((1, 6), 1 / 6), "a zero query must attend uniformly", atol=1e-6)
    return "my_attention matches F.scaled_dot_product_attention"


def check_bilinear(my_bilinear: Callable) -> str:
    """Bilinear sampling of a (C, h, w) map at full-image pixel (u, v), pixel centres, border padding."""
    h, w, height, width = 8, 10, 32, 40  # the map is a quarter of the image
    rows, cols = torch.meshgrid(torch.arange(h, dtype=torch.float64), torch.arange(w, dtype=torch.float64),
                                indexing="ij")
    ramp = torch.stack([cols, rows, 2 * cols - 3 * rows + 1])  # (3, h, w): linear in map pixels
    rng = np.random.default_rng(3)
    for u, v in rng.uniform([2.0, 2.0], [width - 3.0, height - 3.0], (20, 2)):
        mine = my_bilinear(ramp, float(u), float(v), (height, width))
        x, y = (u + 0.5) * w / width - 0.5, (v + 0.5) * h / height - 0.5  # the map's own coordinates
        require_close(mine, torch.tensor([x, y, 2 * x - 3 * y + 1]),
                      f"bilinear interpolation of a linear map must be exact (at u={u:.1f}, v={v:.1f})", atol=1e-9)
    corner = my_bilinear(ramp, -3.0, -3.0, (height, width))
    require_close(corner, ramp[:, 0, 0], "outside the image the border pixel repeats", atol=1e-9)
    return "my_bilinear is exact on linear maps and pads with the border"


# ---- 04: graphs -----------------------------------------------------------------------------

def _path_graph(n: int) -> torch.Tensor:
    a = torch.zeros(n, n, dtype=torch.float64)
    idx = torch.arange(n - 1)
    a[idx, idx + 1] = a[idx + 1, idx] = 1.0
    return a


def check_normalized_adjacency(my_normalized_adjacency: Callable) -> str:
    """D^-1/2 (A + I) D^-1/2 with degrees counted with the self-loop."""
    a = _path_graph(4)  # degrees with loops: 2, 3, 3, 2
    mine = my_normalized_adjacency(a)
    require_shape(mine, (4, 4), "my_normalized_adjacency")
    require_close(mine, mine.T, "the result must be symmetric")
    expected = torch.zeros(4, 4, dtype=torch.float64)
    degree = [2, 3, 3, 2]
    for i in range(4):
        for j in range(4):
            if i == j or abs(i - j) == 1:
                expected[i, j] = 1 / math.sqrt(degree[i] * degree[j])
    require_close(mine, expected, "the 4-node path graph (worked by hand)")
    eigen = torch.linalg.eigvalsh(my_normalized_adjacency(_path_graph(9)))
    require(abs(eigen.max().item() - 1) < 1e-6, "the largest eigenvalue must be exactly 1")
    return "my_normalized_adjacency: right on a path graph, largest eigenvalue 1"


def check_cheb_conv(my_cheb_conv: Callable) -> str:
    """h W0^T + b0 + (L~ h) W1^T with L~ = -D^-1/2 A D^-1/2 (first-order Chebyshev)."""
    g = _generator(4)
    a = _path_graph(5).float()
    a[0, 4] = a[4, 0] = 1.0  # a ring: every degree 2
    h = torch.randn(2, 5, 3, generator=g)
    w0, b0, w1 = torch.randn(4, 3, generator=g), torch.randn(4, generator=g), torch.randn(4, 3, generator=g)
    mine = my_cheb_conv(h, a, w0, b0, w1)
    require_shape(mine, (2, 5, 4), "my_cheb_conv")
    expected = torch.empty(2, 5, 4)
    for node in range(5):  # on a ring L~ h_i = -(h_{i-1} + h_{i+1}) / 2
        neighbours = -(h[:, (node - 1) % 5] + h[:, (node + 1) % 5]) / 2
        expected[:, node] = h[:, node] @ w0.T + b0 + neighbours @ w1.T
    require_close(mine, expected, "a 5-node ring (each node and its two neighbours)", atol=1e-5)
    return "my_cheb_conv: right on a ring"


# ---- 05: point clouds -----------------------------------------------------------------------

def check_fps(my_fps: Callable) -> str:
    """Farthest point sampling of one cloud (N, 3), starting at index 0, lowest index on ties."""
    points = torch.rand(300, 3, generator=_generator(5))
    mine = my_fps(points, 40)
    require_shape(mine, (40,), "my_fps")
    mine = [int(i) for i in mine]
    require(mine[0] == 0, "start with index 0")
    require(len(set(mine)) == 40, "an index was chosen twice")
    for n in range(1, 40):  # brute force: each pick is the farthest from all picked before it
        gaps = torch.cdist(points, points[mine[:n]]).min(dim=1).values
        require(math.isclose(gaps[mine[n]].item(), gaps.max().item(), rel_tol=1e-6),
                f"pick {n} is not the point farthest from the points picked before it")
    require(mine == farthest_point_sampling(points[None], 40)[0].tolist(), "differs from farthest_point_sampling")
    return "my_fps: every pick is the farthest point (brute force) and matches the library"


def _point_layer(layer_class, seed: int, batch: int, points: int, width: int):
    """A seeded point layer (k = 4 neighbours, float64, eval), random positions in the unit cube,
    random features, and the generator that drew them."""
    torch.manual_seed(seed)
    layer = layer_class(width=width, k=4).double().eval()
    g = _generator(seed)
    positions = torch.rand(batch, points, 3, generator=g, dtype=torch.float64)
    return layer, positions, torch.randn(batch, points, width, generator=g, dtype=torch.float64), g


def check_vector_attention(my_vector_attention: Callable) -> str:
    """One point-transformer layer (`VectorAttention`) from its weights: my_vector_attention(layer,
    positions (B, N, 3), features (B, N, C)) -> (B, N, C)."""
    layer, positions, features, g = _point_layer(VectorAttention, seed=14, batch=1, points=12, width=6)
    with torch.no_grad():
        mine = my_vector_attention(layer, positions, features)
        require_shape(mine, (1, 12, 6), "my_vector_attention")
        f = layer.norm(features)[0]
        expected = torch.empty(12, 6, dtype=torch.float64)
        for i in range(12):  # brute force: sort the distances, one softmax per channel
            neighbours = torch.argsort((positions[0] - positions[0, i]).norm(dim=-1))[:4]
            delta = layer.theta(positions[0, i] - positions[0, neighbours])  # (4, 6)
            logits = layer.gamma(layer.phi(f[i]) - layer.psi(f[neighbours]) + delta)
            weights = logits.exp() / logits.exp().sum(dim=0, keepdim=True)  # over the 4 neighbours
            expected[i] = features[0, i] + (weights * (layer.alpha(f[neighbours]) + delta)).sum(dim=0)
        require_close(mine[0], expected, "12 points, 4 neighbours each (brute force)", atol=1e-9)
        order = torch.randperm(12, generator=g)
        require_close(my_vector_attention(layer, positions[:, order], features[:, order]), mine[:, order],
                      "reordering the points must reorder the output the same way", atol=1e-9)
    return "my_vector_attention: right by brute force, and equivariant to the points' order"


def check_penetration(my_penetration: Callable) -> str:
    """(S, M) occupancies of both hands at the same points -> sum over points of o_r o_l, mean over samples."""
    o_right = torch.tensor([[1.0, 1.0, 0.0, 0.5], [0.0, 0.0, 0.0, 0.0]])
    o_left = torch.tensor([[1.0, 0.0, 1.0, 0.5], [1.0, 1.0, 1.0, 1.0]])
    mine = my_penetration(o_right, o_left)
    require(torch.is_tensor(mine) and mine.ndim == 0, "return one number (a 0-d tensor)")
    require(math.isclose(float(mine), (1.0 + 0.25 + 0.0) / 2, rel_tol=1e-6),
            "two samples worked by hand: only points both hands claim count, summed per sample, averaged")
    g = _generator(6)
    a, b = torch.rand(3, 100, generator=g), torch.rand(3, 100, generator=g)
    require(math.isclose(float(my_penetration(a, b)), float(my_penetration(b, a)), rel_tol=1e-6),
            "the term must be symmetric in the two hands")
    require(math.isclose(float(my_penetration(torch.cat([a, a], 1), torch.cat([b, b], 1))),
                         2 * float(my_penetration(a, b)), rel_tol=1e-5), "sum over the points, do not average them")
    return "my_penetration: right by hand, symmetric, a sum over points"


# ---- 06: training ---------------------------------------------------------------------------

def check_learning_rate(my_learning_rate: Callable) -> str:
    """StepLR: lr x decay_factor ** (step // decay_every)."""
    settings = TrainSettings(lr=1e-4, decay_every=3, decay_factor=0.2)
    for step, decays in ((0, 0), (1, 0), (2, 0), (3, 1), (5, 1), (6, 2), (10, 3)):
        mine = my_learning_rate(settings, step)
        require(math.isclose(mine, 1e-4 * 0.2 ** decays, rel_tol=1e-9), f"wrong learning rate after {step} steps "
                                                                         f"(decays every {settings.decay_every})")
    return "my_learning_rate: right before, at and after every decay"


def check_step_indices(my_step_indices: Callable) -> str:
    """One step's sample indices, from a generator seeded by (seed, step) only."""
    for n, batch_size, seed, step in ((16, 2, 0, 1), (512, 4, 0, 7), (2048, 8, 3, 12_345)):
        mine = list(my_step_indices(n, batch_size, seed, step))
        require(len(mine) == batch_size, f"{batch_size} indices per step, got {len(mine)}")
        require(all(0 <= i < n for i in mine), f"indices must lie in [0, {n})")
        require(mine == step_indices(n, batch_size, seed, step),
                f"step {step} of seed {seed} draws other indices than the trainer")
    torch.manual_seed(123)
    first = list(my_step_indices(512, 4, 0, 7))
    torch.manual_seed(456)
    require(first == list(my_step_indices(512, 4, 0, 7)), "the global random state must not matter")
    return "my_step_indices matches the trainer, whatever the global random state"


# ---- 07: metrics ----------------------------------------------------------------------------

def check_chamfer_l1(my_chamfer_l1: Callable) -> str:
    """½ (mean nearest distance pred -> gt + mean nearest distance gt -> pred)."""
    pred = torch.tensor([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0]], dtype=torch.float64)
    gt = torch.tensor([[0.0, 0.0, 0.0], [0.0, 0.0, 3.0], [1.0, 0.0, 0.0]], dtype=torch.float64)
    mine = my_chamfer_l1(pred, gt)
    require(torch.is_tensor(mine) and mine.ndim == 0, "return one number (a 0-d tensor)")
    # pred -> gt: 0 and 0; gt -> pred: 0, 3 and 0 (the distance, not squared)
    require(math.isclose(float(mine), 0.5 * (0.0 + 1.0), rel_tol=1e-9),
            "five points worked by hand: both directions, each a mean of (unsquared) distances")
    g = _generator(7)
    a, b = torch.rand(60, 3, generator=g, dtype=torch.float64), torch.rand(90, 3, generator=g, dtype=torch.float64)
    brute = 0.5 * (np.mean([min(np.linalg.norm(p - q) for q in b.numpy()) for p in a.numpy()])
                   + np.mean([min(np.linalg.norm(p - q) for q in a.numpy()) for p in b.numpy()]))
    require(math.isclose(float(my_chamfer_l1(a, b)), brute, rel_tol=1e-9), "two random clouds (brute force)")
    return "my_chamfer_l1: right by hand and by brute force"


def check_align_by_middle_joint(my_align_by_middle_joint: Callable) -> str:
    """Translate predicted vertices so the predicted middle MCP (joint 11) lands on the true one."""
    rng = np.random.default_rng(8)
    vertices, joints = rng.normal(0, 0.05, (200, 3)), rng.normal(0, 0.05, (21, 3))
    shift = np.array([0.012, -0.03, 0.05])
    moved = my_align_by_middle_joint(vertices + shift, joints + shift, joints)
    require_shape(moved, (200, 3), "my_align_by_middle_joint")
    require_close(moved, vertices, "aligning a translated copy must give back the original", atol=1e-12)
    other = joints.copy()
    other[:11] += 0.1  # only the middle MCP may decide the translation
    other[12:] -= 0.2
    require_close(my_align_by_middle_joint(vertices, other, joints), vertices,
                  "only the middle-finger MCP (joint 11) may decide the translation", atol=1e-12)
    return "my_align_by_middle_joint: a translated prediction comes back exactly"


# ---- 02: HALO's frames ----------------------------------------------------------------------

def _random_rotations(n: int, generator: torch.Generator) -> torch.Tensor:
    q, r = torch.linalg.qr(torch.randn(n, 3, 3, generator=generator, dtype=torch.float64))
    q = q * torch.sign(torch.diagonal(r, dim1=-2, dim2=-1))[:, None]
    return q * torch.det(q)[:, None, None]  # proper rotations


def check_to_bones(my_to_bones: Callable) -> str:
    """points (B, N, 3), bone rotations (B, K, 3, 3), bone heads (B, K, 3) -> (B, K, N, 3) = R_k^T (x - head_k)."""
    g = _generator(9)
    rotations, heads = _random_rotations(2 * 16, g).reshape(2, 16, 3, 3), torch.randn(2, 16, 3, generator=g,
                                                                                      dtype=torch.float64)
    points = torch.randn(2, 7, 3, generator=g, dtype=torch.float64)
    mine = my_to_bones(points, rotations, heads)
    require_shape(mine, (2, 16, 7, 3), "my_to_bones")
    for b, k, n in ((0, 0, 0), (1, 5, 3), (1, 15, 6)):  # one point in one frame, written out
        require_close(mine[b, k, n], rotations[b, k].T @ (points[b, n] - heads[b, k]),
                      f"sample {b}, bone {k}, point {n}: expected R_k^T (x - head_k)", atol=1e-9)
    require_close(my_to_bones(heads[:, 3:4], rotations, heads)[:, 3, 0], torch.zeros(2, 3),
                  "a bone's head must sit at the origin of its own frame", atol=1e-9)
    return "my_to_bones: R_k^T (x - head_k) in every frame"


def _right_hand(generator: torch.Generator) -> torch.Tensor:
    """(1, 21, 3) plausible right-hand keypoints: a flat hand, rotated and moved at random."""
    kp = torch.zeros(21, 3, dtype=torch.float64)
    kp[WRIST] = torch.tensor([0.0, 0.0, 0.0])
    kp[INDEX_MCP] = torch.tensor([0.03, -0.09, 0.004])
    kp[MIDDLE_MCP] = torch.tensor([0.008, -0.095, 0.0])
    kp[PINKY_MCP] = torch.tensor([-0.04, -0.08, -0.006])
    rest = [j for j in range(21) if j not in (WRIST, INDEX_MCP, MIDDLE_MCP, PINKY_MCP)]
    kp[rest] = torch.randn(len(rest), 3, generator=generator, dtype=torch.float64) * 0.04
    rotation = _random_rotations(1, generator)[0]
    return (kp @ rotation.T + torch.randn(3, generator=generator, dtype=torch.float64) * 0.1)[None]


def check_global_frame(my_global_frame: Callable) -> str:
    """Right-hand keypoints (B, 21, 3) -> (B, 3, 3) rows x, y, z: y from the middle MCP to the wrist,
    z the palm normal (index MCP x pinky MCP) made orthogonal to y, x = y x z."""
    g = _generator(10)
    kp = torch.cat([_right_hand(g) for _ in range(3)])
    mine = my_global_frame(kp)
    require_shape(mine, (3, 3, 3), "my_global_frame")
    require_close(mine @ mine.transpose(1, 2), torch.eye(3).expand(3, 3, 3), "the rows must be orthonormal",
                  atol=1e-9)
    require_close(torch.det(mine), torch.ones(3), "the frame must be right-handed (det +1)", atol=1e-9)
    down = kp[:, MIDDLE_MCP] - kp[:, WRIST]
    require_close(mine[:, 1], -down / down.norm(dim=-1, keepdim=True), "y must point from the middle MCP to the wrist",
                  atol=1e-9)
    require_close(mine, global_frame(kp)[0], "differs from canonical.global_frame", atol=1e-9)
    return "my_global_frame: orthonormal, right-handed, y along the hand; matches the library"


# ---- 08: MediaPipe --------------------------------------------------------------------------

def check_to_interhand(my_to_interhand: Callable) -> str:
    """(21, D) landmarks in MediaPipe's order -> the kit's (InterHand2.6M) order."""
    rows = np.arange(21)[:, None].repeat(2, axis=1)  # each row holds its own MediaPipe index
    mine = np.asarray(my_to_interhand(rows))
    require_shape(mine, (21, 2), "my_to_interhand")
    require(sorted(mine[:, 0].tolist()) == list(range(21)), "every landmark must appear exactly once")
    require(int(mine[20, 0]) == 0, "the wrist is the kit's last joint")
    wrong = [k for k in range(21) if int(mine[k, 0]) != MEDIAPIPE_TO_INTERHAND[k]]
    require(not wrong, f"{len(wrong)} joints in the wrong place (first: kit joint {wrong[0] if wrong else ''}); "
                       f"the kit lists each finger tip first")
    return "my_to_interhand: every kit joint takes the right MediaPipe landmark"


def check_lift(my_lift: Callable) -> str:
    """Camera-frame joints = world + T, T the least-squares translation that reprojects onto the pixels."""
    camera = example_camera(11)
    rng = np.random.default_rng(11)
    centred = rng.normal(0, 0.04, (21, 3))
    truth = centred + np.array([0.02, -0.01, 0.55])  # the hand 55 cm in front of the camera
    pixels = (truth @ camera.K.T)[:, :2] / truth[:, 2:3]
    mine = my_lift(pixels, centred, camera.K)
    require_shape(mine, (21, 3), "my_lift")
    require_close(mine, truth, "exact pixels must give back the exact hand", atol=1e-9)
    noisy = pixels + rng.normal(0, 2.0, pixels.shape)
    require_close(my_lift(noisy, centred, camera.K), lift_landmarks(noisy, centred, camera.K),
                  "with noisy pixels: not the least-squares translation", atol=1e-9)
    return "my_lift: exact on exact pixels, least squares on noisy ones"


def check_paired_bootstrap(my_paired_bootstrap: Callable) -> str:
    """(mean, low, high) of a - b over paired samples: resample the samples (with replacement,
    `np.random.default_rng(seed).integers(0, n, (n_resamples, n))`), mean per resample,
    percentiles 2.5 and 97.5."""
    rng = np.random.default_rng(13)
    a = rng.normal(0.80, 0.05, 64)
    b = a - rng.normal(0.01, 0.02, 64)  # b tracks a: pairing matters
    mean, low, high = (float(x) for x in my_paired_bootstrap(a, b, 10_000, 0))
    require(math.isclose(mean, float(np.mean(a - b)), rel_tol=1e-9), "the mean must be the mean of a - b")
    require(low < mean < high, "the interval must contain the mean")
    half = 1.96 * np.std(a - b) / math.sqrt(64)  # the normal approximation, independent of any resampling
    require(abs((high - low) / 2 - half) < 0.15 * half, "the interval's width is far from 1.96 sd / sqrt(n) of a - b "
                                                        "(resample the pairs, not a and b apart)")
    shifted = [float(x) for x in my_paired_bootstrap(a + 0.1, b, 10_000, 0)]
    require(np.allclose(shifted, [mean + 0.1, low + 0.1, high + 0.1], atol=1e-9),
            "adding 0.1 to every a must move the mean and both ends by 0.1")
    same = [float(x) for x in my_paired_bootstrap(a, a, 1000, 0)]
    require(np.allclose(same, 0.0, atol=1e-12), "a sample against itself must give exactly [0, 0]")
    library = paired_bootstrap(a, b, 10_000, seed=0)
    require(np.allclose([mean, low, high], [library.mean, library.low, library.high], atol=1e-12),
            "the ends differ from evaluation.paired_bootstrap with the same seed (the resampling draw or the percentiles)")
    return "my_paired_bootstrap: right mean, width as the normal approximation, and matches the library"


# ---- 06: the training loop ------------------------------------------------------------------

def _linear_problem(seed: int):
    """A linear model, batches of a linear regression, and the library's StepLoss shape."""
    g = _generator(seed)
    torch.manual_seed(seed)
    model = torch.nn.Linear(3, 1).double()
    true_w = torch.tensor([[0.5, -1.0, 2.0]], dtype=torch.float64)
    batches = []
    for _ in range(40):
        x = torch.randn(16, 3, generator=g, dtype=torch.float64)
        batches.append({"x": x, "y": x @ true_w.T + 0.3})

    def step_loss(model, batch, generator):
        return ((model(batch["x"]) - batch["y"]) ** 2).mean(), {}
    return model, batches, step_loss


def check_training_step(my_training_step: Callable) -> str:
    """my_training_step(model, step_loss, batch, optimizer, generator) -> the step's loss (float):
    zero the gradients, the loss, backward, one optimiser step."""
    model, batches, step_loss = _linear_problem(15)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    for batch in batches[:2]:  # two steps: gradients from the first must not leak into the second
        x, y = batch["x"], batch["y"]
        w, b = model.weight.detach().clone(), model.bias.detach().clone()
        residual = x @ w.T + b - y  # (16, 1)
        before = float((residual ** 2).mean())
        grad_w, grad_b = 2 * residual.T @ x / len(x), 2 * residual.mean(0)  # the analytic gradient of the MSE
        loss = my_training_step(model, step_loss, batch, optimizer, torch.Generator().manual_seed(0))
        require(isinstance(loss, float), "return the loss as a Python float (loss.item())")
        require(math.isclose(loss, before, rel_tol=1e-9), "return the loss computed before the update")
        require_close(model.weight.detach(), w - 0.1 * grad_w, "the weights after one SGD step (analytic gradient; "
                                                               "were the gradients zeroed?)", atol=1e-12)
        require_close(model.bias.detach(), b - 0.1 * grad_b, "the bias after one SGD step", atol=1e-12)
    return "my_training_step: one SGD step equals the analytic gradient step, twice in a row"


def check_train(my_train: Callable, my_training_step: Callable) -> str:
    """my_train(model, step_loss, batches, optimizer) -> one loss per batch, in order, each step
    with its own generator seeded by the step number."""
    model, batches, step_loss = _linear_problem(16)
    reference, _, _ = _linear_problem(16)
    seen = []

    def recording_loss(model, batch, generator):  # records which generator each step got
        seen.append(int(torch.randint(0, 10**9, (1,), generator=generator)))
        return step_loss(model, batch, generator)
    losses = my_train(model, recording_loss, batches, torch.optim.SGD(model.parameters(), lr=0.05))
    require(len(losses) == len(batches), f"one loss per batch: {len(batches)} batches, {len(losses)} losses")
    optimizer = torch.optim.SGD(reference.parameters(), lr=0.05)
    expected = [my_training_step(reference, step_loss, batch, optimizer, torch.Generator().manual_seed(step))
                for step, batch in enumerate(batches)]
    require(np.allclose(losses, expected, rtol=1e-9), "the losses differ from one my_training_step per batch in order")
    require(seen == [int(torch.randint(0, 10**9, (1,), generator=torch.Generator().manual_seed(s)))
                     for s in range(len(batches))], "step s must get torch.Generator().manual_seed(s)")
    require(np.mean(losses[-5:]) < 0.1 * np.mean(losses[:5]), "the loss must fall on this easy problem")
    return "my_train: one step per batch, a generator per step, and the loss falls"


# ---- 02: HALO's part MLPs -------------------------------------------------------------------

def check_part_forward(my_part_forward: Callable) -> str:
    """my_part_forward(model, frames, q_world, k) -> (part k's logit (B, N), its input (B, N, 28))."""
    torch.manual_seed(17)
    model = HaloModel(HaloConfig()).eval()
    g = _generator(17)
    keypoints = torch.cat([_right_hand(g) for _ in range(2)]).float()
    is_left = torch.tensor([False, True])
    queries = keypoints.mean(1, keepdim=True) + 0.04 * torch.randn(2, 9, 3, generator=g)
    frames = model.frames(keypoints, is_left)
    with torch.no_grad():
        output = model(queries, keypoints, is_left)
        logits = []
        for k in range(16):
            logit, inputs = my_part_forward(model, frames, queries, k)
            require_shape(logit, (2, 9), f"part {k}'s logit")
            require_shape(inputs, (2, 9, 28), f"part {k}'s input")
            require_close(inputs[..., 3], frames.bone_lengths[:, k, None].expand(2, 9),
                          f"part {k}'s input: feature 3 must be bone {k}'s length", atol=1e-6)
            require_close(logit, output.part_logits[:, k], f"part {k}'s logit vs the model's part_logits", atol=1e-4)
            logits.append(logit)
        require_close(torch.sigmoid(torch.stack(logits, 1)).amax(1), output.occupancy,
                      "the max over the parts' sigmoids must be the occupancy", atol=1e-5)
    return "my_part_forward: every part's logit matches the model; their max is the occupancy"


# ---- 03: query-image attention as a module ---------------------------------------------------

def copy_query_attention_weights(mine: torch.nn.Module, library: QueryImageAttention) -> torch.nn.Module:
    """Load a library `QueryImageAttention`'s weights into a learner's module with the parts the
    exercise names: pos_enc = Sequential(Linear, ReLU, Linear, ReLU), query_proj, q, k, v, out."""
    attention = library.attention
    b_q, b_k, b_v = attention.in_proj_bias.detach().chunk(3)
    pairs = [(mine.pos_enc[0], library.pos_enc.net[0].weight, library.pos_enc.net[0].bias),
             (mine.pos_enc[2], library.pos_enc.net[3].weight, library.pos_enc.net[3].bias),
             (mine.query_proj, library.query_proj.weight, library.query_proj.bias),
             (mine.q, attention.q_proj_weight, b_q), (mine.k, attention.k_proj_weight, b_k),
             (mine.v, attention.v_proj_weight, b_v), (mine.out, attention.out_proj.weight, attention.out_proj.bias)]
    with torch.no_grad():
        for layer, weight, bias in pairs:
            require(tuple(layer.weight.shape) == tuple(weight.shape),
                    f"a layer of your module has weight {tuple(layer.weight.shape)}, the library's {tuple(weight.shape)}")
            layer.weight.copy_(weight)
            layer.bias.copy_(bias)
    return mine


def check_query_image_attention(MyQueryImageAttention: type) -> str:
    """A module MyQueryImageAttention(token_dim) whose forward(points_cam (B, N, 3), tokens (B, T, D))
    returns (features (B, N, 16), weights (B, heads, N, T)) like the library's QueryImageAttention."""
    torch.manual_seed(18)
    library = QueryImageAttention(token_dim=24, config=QueryAttentionConfig(dropout=0.0)).eval()
    mine = copy_query_attention_weights(MyQueryImageAttention(24), library).eval()
    g = _generator(18)
    points, tokens = 0.1 * torch.randn(2, 5, 3, generator=g), torch.randn(2, 7, 24, generator=g)
    with torch.no_grad():
        features, weights = mine(points, tokens)
        require_shape(features, (2, 5, 16), "features")
        require_shape(weights, (2, 2, 5, 7), "weights (B, heads, N, T)")
        require_close(weights.sum(-1), torch.ones(2, 2, 5), "each head's weights must sum to 1 over the tokens",
                      atol=1e-5)
        embedded = library.query_proj(library.pos_enc(points * POSITION_SCALE))
        a = library.attention
        b_q, b_k, b_v = a.in_proj_bias.chunk(3)
        for s, n, h in ((0, 0, 0), (1, 4, 1), (1, 2, 0)):  # one query, one head, written out
            rows = slice(8 * h, 8 * h + 8)
            q = embedded[s, n] @ a.q_proj_weight[rows].T + b_q[rows]
            k = tokens[s] @ a.k_proj_weight[rows].T + b_k[rows]
            w = torch.softmax(k @ q / math.sqrt(8), dim=0)
            require_close(weights[s, h, n], w, f"sample {s}, query {n}, head {h}: the attention weights", atol=1e-5)
        reference = library(points, tokens, return_weights=True)
        require_close(features, reference.features, "features vs the library's QueryImageAttention", atol=1e-5)
        require_close(weights, reference.weights, "weights vs the library's QueryImageAttention", atol=1e-5)
    return "my QueryImageAttention: per-head weights written out, and the library's output"


# ---- 01: occupancy labels -------------------------------------------------------------------

def _cubes() -> dict[str, trimesh.Trimesh]:
    """Closed outward unit cubes: "unit" [0, 1]^3, "shifted" by 0.5 along x (half overlap),
    "far" (disjoint), "small" (half the size, inside the unit cube)."""
    cubes = {"unit": trimesh.creation.box(extents=(1.0, 1.0, 1.0)),
             "small": trimesh.creation.box(extents=(0.5, 0.5, 0.5))}
    cubes["shifted"], cubes["far"] = cubes["unit"].copy(), cubes["unit"].copy()
    cubes["shifted"].apply_translation([0.5, 0.0, 0.0])
    cubes["far"].apply_translation([3.0, 0.0, 0.0])
    for mesh in cubes.values():
        mesh.apply_translation([0.5, 0.5, 0.5])
    return cubes


def check_winding_number(my_winding_number: Callable) -> str:
    """Generalised winding number (N,) of points (N, 3) w.r.t. a triangle mesh: the sum of the
    triangles' signed solid angles over 4 pi."""
    unit = _cubes()["unit"]
    vertices, faces = np.asarray(unit.vertices), np.asarray(unit.faces)
    rng = np.random.default_rng(19)
    inside, outside = rng.uniform(0.05, 0.95, (20, 3)), rng.uniform(1.2, 2.0, (20, 3)) * rng.choice([-1, 1], (20, 3))
    mine = np.asarray(my_winding_number(vertices, faces, np.concatenate([inside, outside])))
    require_shape(mine, (40,), "my_winding_number")
    require_close(mine[:20], np.ones(20), "inside the unit cube the winding number is 1", atol=1e-9)
    require_close(mine[20:], np.zeros(20), "outside the unit cube it is 0", atol=1e-9)
    twice = np.concatenate([faces, faces])  # two layers of skin, like a fingertip inside the palm
    require_close(my_winding_number(vertices, twice, inside), 2 * np.ones(20), "two layers count twice", atol=1e-9)
    require_close(my_winding_number(vertices, faces[:, ::-1], inside), -np.ones(20),
                  "inward-facing triangles count negatively", atol=1e-9)
    near = np.array([[0.5, 0.5, 1.001], [0.5, 0.5, 0.999], [1.0005, 0.3, 0.7]])  # 1 mm off a face
    require_close(my_winding_number(vertices, faces, near), [0.0, 1.0, 0.0], "points 1 mm from a face", atol=1e-6)
    return "my_winding_number: 1 inside, 0 outside, 2 for two layers, -1 for inward faces, right by a face"


# ---- 05: PCEnc's down-sampling --------------------------------------------------------------

def check_transition_down(my_transition_down: Callable) -> str:
    """my_transition_down(layer, positions (B, N, 3), features (B, N, C)) -> (centres (B, N/2, 3),
    features (B, N/2, C)): FPS to half the points, then each centre max-pools the MLP of its k
    nearest points' [offset, feature]."""
    layer, positions, features, _ = _point_layer(TransitionDown, seed=20, batch=2, points=16, width=5)
    with torch.no_grad():
        centres, pooled = my_transition_down(layer, positions, features)
        require_shape(centres, (2, 8, 3), "centres")
        require_shape(pooled, (2, 8, 5), "pooled features")
        keep = farthest_point_sampling(positions, 8)
        require_close(centres, gather_points(positions, keep), "the centres must be the FPS half of the points "
                                                              "(farthest_point_sampling, starting at point 0)")
        for b in range(2):  # brute force: one centre at a time
            for i in range(8):
                near = torch.argsort((positions[b] - centres[b, i]).norm(dim=-1))[:4]
                grouped = torch.cat([positions[b, near] - centres[b, i], features[b, near]], dim=-1)  # (4, 3 + C)
                require_close(pooled[b, i], layer.mlp(grouped).max(dim=0).values,
                              f"sample {b}, centre {i}: the max over its 4 neighbours' MLP outputs", atol=1e-9)
    return "my_transition_down: FPS centres, and every centre's max-pool by brute force"


# ---- 04: K's graph layers -------------------------------------------------------------------

def check_residual_graph_layer(my_residual_graph_layer: Callable) -> str:
    """my_residual_graph_layer(layer, x (B, V, C)) -> x + ReLU(sum_i W_i T_i(L~) LayerNorm(x)),
    the Chebyshev terms T_0 = I, T_1 = L~, T_i = 2 L~ T_(i-1) - T_(i-2), for any layer.conv.cheb_k."""
    ring = torch.zeros(6, 6)
    for i in range(6):
        ring[i, (i + 1) % 6] = ring[(i + 1) % 6, i] = 1.0
    g = _generator(21)
    x = torch.randn(2, 6, 4, generator=g, dtype=torch.float64)
    for cheb_k in (2, 3):
        torch.manual_seed(21 + cheb_k)
        layer = ResidualGraphLayer(ring, dim=4, kind="chebyshev", cheb_k=cheb_k, dropout=0.0).double().eval()
        with torch.no_grad():
            mine = my_residual_graph_layer(layer, x)
            require_shape(mine, (2, 6, 4), "my_residual_graph_layer")
            laplacian = -ring.double() / 2  # L~ = -D^-1/2 A D^-1/2 on a ring (every degree 2)
            polynomials = [torch.eye(6, dtype=torch.float64), laplacian, 2 * laplacian @ laplacian - torch.eye(6)]
            h = layer.norm(x)
            out = sum(layer.conv.weights[i](polynomials[i] @ h) for i in range(cheb_k))
            require_close(mine, x + torch.relu(out), f"a 6-node ring, {cheb_k} Chebyshev terms (matrix polynomials)",
                          atol=1e-9)
    return "my_residual_graph_layer: right with 2 and 3 Chebyshev terms"


# ---- 03: ViT patches ------------------------------------------------------------------------

def check_patch_embed(my_patch_embed: Callable) -> str:
    """my_patch_embed(feature_map (B, C, H, W), weight (D, C, P, P), bias (D,)) -> tokens (B, T, D):
    each P x P patch flattened and mapped linearly, patches in row-major order."""
    g = _generator(22)
    x = torch.randn(2, 3, 12, 8, generator=g, dtype=torch.float64)  # a 3 x 2 grid of 4-px patches
    weight, bias = torch.randn(5, 3, 4, 4, generator=g, dtype=torch.float64), torch.randn(5, generator=g,
                                                                                         dtype=torch.float64)
    tokens = my_patch_embed(x, weight, bias)
    require_shape(tokens, (2, 6, 5), "tokens (B, rows x columns of patches, D)")
    for b, row, col in ((0, 0, 0), (0, 0, 1), (1, 2, 1), (1, 1, 0)):  # one patch at a time
        patch = x[b, :, 4 * row:4 * row + 4, 4 * col:4 * col + 4]
        require_close(tokens[b, 2 * row + col], (weight * patch).sum(dim=(1, 2, 3)) + bias,
                      f"sample {b}, patch (row {row}, column {col}): token {2 * row + col} in row-major order",
                      atol=1e-9)
    require_close(tokens, F.conv2d(x, weight, bias, stride=4).flatten(2).transpose(1, 2),
                  "tokens vs a strided convolution", atol=1e-9)
    return "my_patch_embed: every patch by hand, and equal to a strided convolution"


# ---- 05: PCDec ------------------------------------------------------------------------------

def check_decoder(my_decoder: Callable) -> str:
    """my_decoder(decoder, queries (B, M, 3), initial_occupancy (B, M), anchors (B, A, 3),
    anchor_features (B, A, C), latent (B, C)) -> occupancy logits (B, M), like PointCloudDecoder."""
    config = TwoHandRefinerConfig(width=8, decoder_width=6, decoder_neighbours=3, decoder_blocks=2)
    torch.manual_seed(23)
    decoder = PointCloudDecoder(config).double().eval()
    g = _generator(23)
    queries, occupancy = torch.rand(2, 7, 3, generator=g, dtype=torch.float64), torch.rand(2, 7, generator=g,
                                                                                         dtype=torch.float64)
    anchors, features = torch.rand(2, 10, 3, generator=g, dtype=torch.float64), torch.randn(2, 10, 8, generator=g,
                                                                                          dtype=torch.float64)
    latent = torch.randn(2, 8, generator=g, dtype=torch.float64)
    with torch.no_grad():
        mine = my_decoder(decoder, queries, occupancy, anchors, features, latent)
        require_shape(mine, (2, 7), "my_decoder")
        for b, m in ((0, 0), (1, 6), (1, 3)):  # one query written out
            near = torch.argsort((anchors[b] - queries[b, m]).norm(dim=-1))[:3]
            q = decoder.query_embed(torch.cat([queries[b, m], occupancy[b, m, None]]))
            offsets = decoder.offset(anchors[b, near] - queries[b, m])
            keys = decoder.key(features[b, near]) + offsets
            values = decoder.value(features[b, near]) + offsets
            weights = torch.softmax(keys @ q / math.sqrt(6), dim=0)
            h = q + weights @ values + decoder.latent(latent[b])
            for block in decoder.blocks:
                h = h + block(h)
            require_close(mine[b, m], decoder.out(h)[0], f"sample {b}, query {m}: its logit", atol=1e-9)
        library, _ = decoder(queries, occupancy, EncodedHand(anchors, features, latent), latent)
        require_close(mine, library, "logits vs PointCloudDecoder", atol=1e-9)
    return "my_decoder: each query's logit written out, and the library's decoder"


def check_minimal_rotation(my_minimal_rotation: Callable) -> str:
    """my_minimal_rotation(a (..., 3), b (..., 3)) -> (..., 3, 3): the rotation taking unit vectors
    a onto b about the axis a x b (the smallest one)."""
    g = _generator(24)
    a = torch.nn.functional.normalize(torch.randn(50, 3, generator=g, dtype=torch.float64), dim=-1)
    b = torch.nn.functional.normalize(torch.randn(50, 3, generator=g, dtype=torch.float64), dim=-1)
    rotation = my_minimal_rotation(a, b)
    require_shape(rotation, (50, 3, 3), "my_minimal_rotation")
    require_close(rotation @ rotation.transpose(1, 2), torch.eye(3).expand(50, 3, 3), "the result must be orthonormal",
                  atol=1e-9)
    require_close(torch.det(rotation), torch.ones(50), "the result must be a rotation (det +1)", atol=1e-9)
    require_close((rotation @ a[..., None])[..., 0], b, "the rotation must take a onto b", atol=1e-9)
    axis = torch.cross(a, b, dim=-1)
    require_close((rotation @ axis[..., None])[..., 0], axis, "the axis a x b must stay fixed (the smallest rotation)",
                  atol=1e-9)
    require_close(my_minimal_rotation(a, a), torch.eye(3).expand(50, 3, 3), "a onto itself is the identity", atol=1e-9)
    return "my_minimal_rotation: a rotation taking a onto b about a x b, the identity for a = b"


def check_adam_step(my_adam_step: Callable) -> str:
    """my_adam_step(param, grad, state, step, lr, betas, eps, weight_decay) -> the new param, updating
    state["m"], state["v"] in place (Adam with L2 weight decay added to the gradient, as torch.optim.Adam)."""
    g = _generator(25)
    start = torch.randn(6, generator=g, dtype=torch.float64)
    reference = start.clone().requires_grad_(True)
    optimizer = torch.optim.Adam([reference], lr=0.01, betas=(0.9, 0.99), eps=1e-3, weight_decay=1e-2)
    param, state = start.clone(), {"m": torch.zeros(6, dtype=torch.float64), "v": torch.zeros(6, dtype=torch.float64)}
    for step in range(1, 6):
        grad = torch.randn(6, generator=g, dtype=torch.float64)
        reference.grad = grad.clone()
        optimizer.step()
        param = my_adam_step(param, grad, state, step, lr=0.01, betas=(0.9, 0.99), eps=1e-3, weight_decay=1e-2)
        require_shape(param, (6,), "the new parameter")
        require_close(param, reference.detach(), f"after step {step}: the parameter vs torch.optim.Adam", atol=1e-12,
                      rtol=0.0)
    return "my_adam_step: five steps equal torch.optim.Adam's, bias correction and weight decay included"


def _tetrahedron() -> tuple[np.ndarray, np.ndarray]:
    """A tetrahedron with unequal faces, outward."""
    vertices = np.array([[0.0, 0.0, 0.0], [3.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 0.5]])
    return vertices, np.array([[0, 2, 1], [0, 1, 3], [0, 3, 2], [1, 2, 3]])


def check_surface_samples(my_surface_samples: Callable) -> str:
    """my_surface_samples(vertices, faces, n, rng) -> (n, 3) points uniform on the mesh's area."""
    vertices, faces = _tetrahedron()
    points = np.asarray(my_surface_samples(vertices, faces, 30_000, np.random.default_rng(26)))
    require_shape(points, (30_000, 3), "my_surface_samples")
    corners = vertices[faces]  # (4, 3, 3)
    # barycentric coordinates of every point in every face's plane; a point lies on a face when
    # it is in the plane and all three coordinates are in [0, 1]
    normal = np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])
    areas = np.linalg.norm(normal, axis=1) / 2
    on_face = np.zeros((len(points), 4), dtype=bool)
    second_moment = []
    for f in range(4):
        a, b, c = corners[f]
        in_plane = np.abs((points - a) @ normal[f]) < 1e-9 * np.linalg.norm(normal[f])
        v0, v1, v2 = b - a, c - a, points - a
        d00, d01, d11 = v0 @ v0, v0 @ v1, v1 @ v1
        d20, d21 = v2 @ v0, v2 @ v1
        denom = d00 * d11 - d01 * d01
        beta, gamma = (d11 * d20 - d01 * d21) / denom, (d00 * d21 - d01 * d20) / denom
        inside = in_plane & (beta >= -1e-9) & (gamma >= -1e-9) & (beta + gamma <= 1 + 1e-9)
        on_face[:, f] = inside
        second_moment.append(np.mean(beta[inside] ** 2))
    require(on_face.any(axis=1).all(), "every point must lie on a triangle of the mesh (inside it, not beyond an edge)")
    share = on_face.argmax(axis=1)
    fractions = np.bincount(share, minlength=4) / len(points)
    require(np.abs(fractions - areas / areas.sum()).max() < 0.015, "each triangle must get points in proportion to "
                                                                     "its area")
    require(abs(np.mean(second_moment) - 1 / 6) < 0.01, "points must be uniform inside each triangle "
                                                         "(a barycentric coordinate's mean square is 1/6)")
    return "my_surface_samples: on the triangles, in proportion to their areas, uniform inside each"


# ---- 07: volumetric IoU ---------------------------------------------------------------------

def check_volume_iou(my_volume_iou: Callable) -> str:
    """my_volume_iou(pred_mesh, gt_mesh, n_points, rng) -> IoU by Monte Carlo: uniform points in the
    joint bounding box of both meshes, each mesh's inside by winding number > 0.5."""
    cubes = _cubes()
    cube, shifted, far, small = cubes["unit"], cubes["shifted"], cubes["far"], cubes["small"]
    half = float(my_volume_iou(shifted, cube, 20_000, np.random.default_rng(27)))
    require(abs(half - 1 / 3) < 0.02, "two unit cubes overlapping by half: IoU 0.5 / 1.5 = 1/3 (use the box around "
                                      "both meshes)")
    require(abs(float(my_volume_iou(cube, cube, 5_000, np.random.default_rng(27))) - 1.0) < 1e-12,
            "a mesh against itself has IoU 1")
    require(float(my_volume_iou(far, cube, 5_000, np.random.default_rng(27))) == 0.0, "disjoint meshes have IoU 0")
    require(abs(float(my_volume_iou(small, cube, 20_000, np.random.default_rng(27))) - 0.125) < 0.01,
            "a half-size cube inside the unit cube: IoU 1/8")
    return "my_volume_iou: 1/3, 1, 0 and 1/8 on cubes"


# ---- 04 and 08: keypoint error, a photo's camera --------------------------------------------

def check_root_relative_mpjpe(my_root_relative_mpjpe: Callable) -> str:
    """my_root_relative_mpjpe(pred (B, 42, 3), gt (B, 42, 3)) -> (B,) mm: each hand re-centred on its
    own wrist (joint 20 of its 21), then the mean joint distance over both hands."""
    g = _generator(28)
    gt = torch.randn(3, 42, 3, generator=g, dtype=torch.float64) * 0.05
    moved = gt.clone()
    moved[:, :21] += torch.tensor([0.01, 0.02, -0.03], dtype=torch.float64)  # each hand shifted as a whole
    moved[:, 21:] += torch.tensor([-0.05, 0.0, 0.04], dtype=torch.float64)
    mine = my_root_relative_mpjpe(moved, gt)
    require_shape(mine, (3,), "my_root_relative_mpjpe")
    require_close(mine, torch.zeros(3), "moving each hand as a whole must cost nothing", atol=1e-9)
    one = gt.clone()
    one[:, 4] += torch.tensor([0.0, 0.042, 0.0], dtype=torch.float64)  # one fingertip 42 mm off
    require_close(my_root_relative_mpjpe(one, gt), torch.full((3,), 42.0 / 42), "one of 42 joints 42 mm off: "
                                                                               "1 mm (millimetres, mean over joints)",
                  atol=1e-9)
    wrist = gt.clone()
    wrist[:, 20] += torch.tensor([0.0, 0.0, 0.021], dtype=torch.float64)  # the right wrist 21 mm off
    require_close(my_root_relative_mpjpe(wrist, gt), torch.full((3,), 20 * 21.0 / 42),
                  "the right wrist 21 mm off moves the other 20 right-hand joints relative to it", atol=1e-9)
    a, b = torch.randn(2, 4, 42, 3, generator=_generator(30), dtype=torch.float64)
    require_close(my_root_relative_mpjpe(a, b), root_relative_mpjpe_mm(a, b), "random keypoints vs "
                                                                             "data.noise.root_relative_mpjpe_mm", atol=1e-9)
    return "my_root_relative_mpjpe: blind to each hand's translation, in mm, and matches the library"


def check_intrinsics_from_fov(my_intrinsics_from_fov: Callable) -> str:
    """my_intrinsics_from_fov(fov_deg, width, height) -> K (3, 3): square pixels, the principal point
    at the image centre ((W - 1) / 2, (H - 1) / 2), the horizontal field of view edge to edge."""
    for fov, width, height in ((65.0, 640, 480), (40.0, 300, 500)):
        K = np.asarray(my_intrinsics_from_fov(fov, width, height), dtype=np.float64)
        require_shape(K, (3, 3), "K")
        require(K[0, 0] == K[1, 1] and K[0, 1] == 0 and np.allclose(K[2], [0, 0, 1]),
                "square pixels: fx = fy, no skew, last row [0, 0, 1]")
        require_close(K[:2, 2], [(width - 1) / 2, (height - 1) / 2], "the principal point is the image centre "
                                                                     "(pixel centres at integers)", atol=1e-12)
        half = math.radians(fov) / 2  # rays at +-fov/2 from the axis, horizontally, hit the image's outer edges
        for sign, edge in ((-1, -0.5), (1, width - 0.5)):
            u = K[0, 0] * sign * math.tan(half) + K[0, 2]
            require(abs(u - edge) < 1e-9, f"a ray at {sign * fov / 2:+.1f} degrees must hit the image edge "
                                          f"(fov {fov}, width {width})")
    return "my_intrinsics_from_fov: square pixels, centred, the field of view edge to edge"


def check_bone_rotations(my_bone_rotations: Callable, my_minimal_rotation: Callable) -> str:
    """my_bone_rotations(kp_norm (B, 21, 3), canonical_dirs (16, 3)) -> (B, 16, 3, 3): the palm's frame
    is the identity; bone k's is the minimal rotation taking R_parent d_k onto its direction, times
    R_parent (parents before children)."""
    torch.manual_seed(31)
    model = HaloModel(HaloConfig()).eval()
    g = _generator(31)
    angles = torch.rand(3, 15, 3, generator=g) * torch.tensor([1.2, 0.3, 0.1])  # curled, spread, a little twist
    with torch.no_grad():
        keypoints = HandModel()(angles, global_orient=torch.randn(3, 3, generator=g)).joints
    frames = model.frames(keypoints, torch.zeros(3, dtype=torch.bool))
    mine = my_bone_rotations(frames.keypoints, model.canonical_dirs)
    require_shape(mine, (3, 16, 3, 3), "my_bone_rotations")
    require_close(mine[:, 0], torch.eye(3).expand(3, 3, 3), "the palm's frame is the normalised frame (identity)",
                  atol=1e-6)
    direction = frames.keypoints[:, list(BONE_TAILS)] - frames.keypoints[:, list(BONE_HEADS)]
    direction = direction / direction.norm(dim=-1, keepdim=True)
    turned = (mine @ model.canonical_dirs[None, :, :, None])[..., 0]
    require_close(turned[:, 1:], direction[:, 1:], "each bone's frame must turn its canonical direction onto the "
                                                   "bone", atol=1e-5)
    require_close(mine, frames.bone_rotations, "the bone frames vs HaloModel.frames (each chained on its parent's)",
                  atol=1e-5)
    return "my_bone_rotations: every bone's frame chained on its parent's, as HALO's"


def check_crossing_cells(my_crossing_cells: Callable) -> str:
    """my_crossing_cells(values (R+1, R+1, R+1) at grid corners, level) -> (R, R, R) bool: the cells
    whose 8 corners straddle the level, min <= level <= max with min < max (the only cells the
    surface can cross; a corner exactly at the level counts, a flat cell does not)."""
    r = 12
    axis = np.linspace(-1.0, 1.0, r + 1)
    x, y, z = np.meshgrid(axis, axis, axis, indexing="ij")
    values = 0.7 - np.sqrt(x ** 2 + y ** 2 + z ** 2)  # a sphere of radius 0.7: inside where > 0
    mine = np.asarray(my_crossing_cells(values, 0.0))
    require_shape(mine, (r, r, r), "my_crossing_cells")
    require(mine.dtype == bool, "return a boolean array")
    expected = np.zeros((r, r, r), dtype=bool)
    for i in range(r):  # brute force: every cell's 8 corners
        for j in range(r):
            for k in range(r):
                corners = values[i:i + 2, j:j + 2, k:k + 2]
                expected[i, j, k] = corners.min() <= 0.0 <= corners.max() and corners.min() < corners.max()
    require(np.array_equal(mine, expected), f"{int((mine != expected).sum())} cells wrong on a sphere "
                                            f"(a cell counts when its corners lie on both sides of the level)")
    flat = np.zeros((r + 1, r + 1, r + 1))
    flat[:, :, r // 2:] = 1.0  # a plane exactly on grid corners: the cells beside it straddle, flat ones do not
    expected_flat = np.zeros((r, r, r), dtype=bool)
    expected_flat[:, :, r // 2 - 1] = True
    require(np.array_equal(np.asarray(my_crossing_cells(flat, 0.0)), expected_flat),
            "a field that is 0 then 1: only the layer of cells with both values crosses the level 0 "
            "(a corner exactly at the level counts, a cell with all corners at it does not)")
    require(not np.asarray(my_crossing_cells(values, 5.0)).any(), "a level nothing reaches crosses no cell")
    return "my_crossing_cells: exactly the cells the sphere's surface passes through"


def check_penetration_volume(my_penetration_volume: Callable) -> str:
    """my_penetration_volume(mesh_a, mesh_b, n_points, rng) -> the volume inside both meshes by Monte
    Carlo: uniform points in the intersection of the two bounding boxes, times that box's volume."""
    cubes = _cubes()
    cube, shifted, far, small = cubes["unit"], cubes["shifted"], cubes["far"], cubes["small"]
    require(abs(float(my_penetration_volume(shifted, cube, 20_000, np.random.default_rng(32))) - 0.5) < 0.01,
            "two unit cubes overlapping by half share a volume of 0.5")
    require(abs(float(my_penetration_volume(cube, cube, 5_000, np.random.default_rng(32))) - 1.0) < 1e-9,
            "a unit cube with itself: volume 1")
    require(float(my_penetration_volume(far, cube, 5_000, np.random.default_rng(32))) == 0.0,
            "disjoint meshes share no volume (and boxes that do not overlap need no points)")
    require(abs(float(my_penetration_volume(small, cube, 20_000, np.random.default_rng(32))) - 0.125) < 1e-9,
            "a half-size cube inside the unit cube: volume 0.125 (sample the boxes' intersection)")
    return "my_penetration_volume: 0.5, 1, 0 and 0.125 cubic units on cubes"


def check_encode_hand(my_encode_hand: Callable) -> str:
    """my_encode_hand(encoder, points (B, N, 3), inputs (B, N, F)) -> (anchors (B, A, 3), anchor
    features (B, A, C), latent (B, C)) like PointCloudEncoder: embed, a point-transformer layer,
    per stage a transition down and a point-transformer layer, the self-attention blocks, a
    LayerNorm, and the latent as the max over the anchors."""
    config = TwoHandRefinerConfig(n_points=64, width=8, heads=2, k_neighbours=4, decoder_neighbours=3)
    torch.manual_seed(33)
    encoder = PointCloudEncoder(config).double().eval()
    g = _generator(33)
    points = torch.rand(2, 64, 3, generator=g, dtype=torch.float64)
    inputs = torch.randn(2, 64, config.point_input_dim, generator=g, dtype=torch.float64)
    with torch.no_grad():
        anchors, features, latent = my_encode_hand(encoder, points, inputs)
        reference = encoder(points, inputs)
    require_shape(anchors, (2, 16, 3), "anchors (64 points halved twice)")
    require_shape(features, (2, 16, 8), "anchor features")
    require_shape(latent, (2, 8), "latent")
    require_close(anchors, reference.anchors, "anchors vs PointCloudEncoder", atol=1e-12)
    require_close(features, reference.features, "anchor features vs PointCloudEncoder", atol=1e-9)
    require_close(latent, features.max(dim=1).values, "the latent is the max over the anchors", atol=1e-12)
    return "my_encode_hand: PCEnc's anchors, features and latent"


def check_refine(my_refine: Callable) -> str:
    """my_refine(refiner, keypoints (B, 42, 3) world, image, R, t) -> (refined world keypoints
    (B, 42, 3), the intermediate steps): K's forward pass from its parts."""
    torch.manual_seed(34)
    refiner = KeypointRefiner(KeypointRefinerConfig()).eval()
    g = _generator(34)
    with torch.no_grad():  # a fresh K regresses zero offsets (it starts as the identity): shake every weight
        for parameter in refiner.parameters():
            parameter.add_(0.05 * torch.randn(parameter.shape, generator=g))
    angles = torch.rand(2, 15, 3, generator=g) * torch.tensor([1.0, 0.2, 0.0])
    with torch.no_grad():
        right = HandModel()(angles).joints
        keypoints = torch.cat([right, right * torch.tensor([-1.0, 1.0, 1.0]) + torch.tensor([0.12, 0.0, 0.0])], 1)
        R = torch.stack([_random_rotations(1, g)[0].float() for _ in range(2)])
        t = torch.tensor([[0.0, 0.0, 0.6], [0.05, -0.02, 0.5]])
        image = torch.rand(2, 3, 128, 128, generator=g)
        mine, _ = my_refine(refiner, keypoints, image, R, t)
        require_shape(mine, (2, 42, 3), "refined keypoints")
        require_close(mine, refiner(keypoints, image, R, t).keypoints, "refined keypoints vs KeypointRefiner",
                      atol=1e-5)
        shift = torch.tensor([0.3, -0.1, 0.2])
        moved, _ = my_refine(refiner, keypoints + shift, image, R, t - (R @ shift[:, None])[..., 0])
        require_close(moved, mine + shift, "moving the world and the camera together must move the output "
                                           "with them (K works in the camera frame, centred)", atol=1e-5)
    return "my_refine: K's forward from its parts, in the camera frame"


def check_refine_both_hands(my_refine_both_hands: Callable) -> str:
    """my_refine_both_hands(refiner, points, point_features, global_image, queries, initial_occupancy)
    -> logits (S, 2, M): R's forward from its parts (encode both hands, the context latent, decode
    each hand's queries with its own anchors)."""
    config = TwoHandRefinerConfig(n_points=64, width=8, heads=2, k_neighbours=4, decoder_neighbours=3,
                                  decoder_width=6, decoder_blocks=2)
    torch.manual_seed(35)
    refiner = TwoHandRefiner(config).eval()
    g = _generator(35)
    points = torch.rand(2, 2, 64, 3, generator=g)
    point_features = torch.randn(2, 2, 64, config.image_feature_dim, generator=g)
    global_image = torch.randn(2, config.global_image_dim, generator=g)
    queries, occupancy = torch.rand(2, 2, 9, 3, generator=g), torch.rand(2, 2, 9, generator=g)
    with torch.no_grad():
        mine = my_refine_both_hands(refiner, points, point_features, global_image, queries, occupancy)
        reference = refiner(points, point_features, global_image, queries, occupancy)
        require_shape(mine, (2, 2, 9), "logits (S, hand, M)")
        require_close(mine, reference.logits, "logits vs TwoHandRefiner", atol=1e-5)
        swapped = point_features.clone()
        swapped[:, 1] = torch.randn(2, 64, config.image_feature_dim, generator=g)  # change the left hand only
        changed = my_refine_both_hands(refiner, points, swapped, global_image, queries, occupancy)
        require((changed[:, 0] - mine[:, 0]).abs().max() > 1e-6, "the right hand's occupancy must depend on the "
                                                                 "left hand (through the context latent)")
    return "my_refine_both_hands: R's logits, and each hand hears the other through z_c"


def check_verdict(my_verdict: Callable) -> str:
    """my_verdict(low, high, paper_gain) -> "reproduced" when the interval excludes zero on the paper's
    side, "reversed" when it excludes zero on the other, "inconclusive" when it holds zero."""
    cases = [((0.2, 1.5, 2.5), "reproduced"), ((-1.5, -0.2, 2.5), "reversed"), ((-0.3, 0.4, 2.5), "inconclusive"),
             ((-1.5, -0.2, -0.8), "reproduced"), ((0.2, 1.5, -0.8), "reversed"), ((0.0, 0.9, 1.0), "inconclusive"),
             ((-2.0, 0.0, 1.0), "inconclusive"), ((0.1, 0.3, 0.0), "reproduced")]
    for (low, high, paper), expected in cases:
        got = my_verdict(low, high, paper)
        require(got == expected, f"interval [{low:+.1f}, {high:+.1f}], paper gain {paper:+.1f}: not {got!r}")
    return "my_verdict: reproduced, reversed and inconclusive as the intervals say"


def check_keypoint_noise(my_keypoint_noise: Callable) -> str:
    """my_keypoint_noise(keypoints (B, 42, 3) world, R (B, 3, 3), config, generator) -> noisy world
    keypoints: per-joint jitter (config.joint_sigmas_mm(), camera axes) plus one offset per hand
    (hand_offset_mm in the image plane, hand_depth_mm in depth), drawn in that order, in the camera
    frame and turned back to the world (no finger swaps)."""
    config = KeypointNoiseConfig(finger_swap_prob=0.0)
    g = _generator(36)
    keypoints = torch.randn(2000, 42, 3, generator=g, dtype=torch.float64) * 0.05
    R = _random_rotations(2000, g)
    noisy = my_keypoint_noise(keypoints, R, config, torch.Generator().manual_seed(7))
    require_shape(noisy, (2000, 42, 3), "noisy keypoints")
    cam = ((noisy - keypoints) @ R.transpose(1, 2)).unflatten(1, (2, 21))  # the noise in camera axes, mm
    cam = 1000 * cam
    offsets = cam.mean(dim=2)  # a hand's mean displacement: its offset plus the mean of its jitter
    jitter_of_mean = (config.joint_sigmas_mm().double() ** 2).mean(0).sqrt() / math.sqrt(21)
    expected = torch.sqrt(torch.tensor([config.hand_offset_mm, config.hand_offset_mm, config.hand_depth_mm],
                                       dtype=torch.float64) ** 2 + jitter_of_mean ** 2)
    require_close(offsets.std(dim=(0, 1)), expected, "each hand's mean displacement (camera x, y, z) must have "
                                                     "the whole-hand offset's spread", atol=0.0, rtol=0.06)
    residual = cam - cam.mean(dim=2, keepdim=True)
    require(residual.std(dim=(0, 1))[:, 2].mean() > 1.2 * residual.std(dim=(0, 1))[:, 0].mean(),
            "the per-joint jitter must be larger along the camera axis (depth)")
    tip = residual[:, :, 0].std(dim=(0, 1))[0]  # thumb tip against the wrist's spread
    wrist = residual[:, :, 20].std(dim=(0, 1))[0]
    require(tip > 1.5 * wrist, "fingertips must jitter more than the wrist (joint_sigmas_mm grows to the tips)")
    library = add_keypoint_noise(keypoints, R, config, torch.Generator().manual_seed(7))
    require_close(noisy, library, "vs data.noise.add_keypoint_noise with the same generator (draw the jitter, "
                                  "then the offsets)", atol=1e-12)
    return "my_keypoint_noise: the offsets' and jitter's spreads, in camera axes, and the library's draw"


def check_atomic_write(my_atomic_write: Callable) -> str:
    """my_atomic_write(path, write) -> path: call write(handle) on a temporary file in the same folder
    and move it over `path` only once it is complete; on an error, remove the temporary file and
    re-raise, leaving the old file as it was."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "sub" / "state.bin"
        result = my_atomic_write(path, lambda handle: handle.write(b"first"))
        require(Path(result) == path and path.read_bytes() == b"first", "the file must hold what write() wrote "
                                                                         "(create missing folders)")
        my_atomic_write(path, lambda handle: handle.write(b"second"))
        require(path.read_bytes() == b"second", "writing again must replace the file")

        def fails(handle):
            handle.write(b"half")
            raise RuntimeError("killed mid-write")
        try:
            my_atomic_write(path, fails)
            raised = False
        except RuntimeError:
            raised = True
        require(raised, "an error inside write() must reach the caller")
        require(path.read_bytes() == b"second", "a failed write must leave the old file untouched")
        require(sorted(p.name for p in path.parent.iterdir()) == ["state.bin"], "no temporary file may be left behind")
        seen = []

        def watches(handle):  # while writing, the temporary file must sit beside the target
            seen.append(sorted(p.name for p in path.parent.iterdir() if p.name != "state.bin") != [])
            handle.write(b"third")
        my_atomic_write(path, watches)
        require(seen == [True], "write() must get a temporary file in the target's folder (a rename across "
                                "folders is not atomic)")
    return "my_atomic_write: the old file or the new one, never half of one"


def check_pixel_aligned(my_pixel_aligned: Callable) -> str:
    """my_pixel_aligned(feature_map (B, C, h, w), points (B, N, 3) world, K, R, t (batched), image_size)
    -> (B, N, C): project every point and sample the map bilinearly there (F.grid_sample), the map's
    pixels rescaled with the pixel-centre convention, the border repeated."""
    camera = example_camera(37)
    g = _generator(37)
    K, R, t = (torch.as_tensor(a, dtype=torch.float64)[None].expand(2, *a.shape) for a in (camera.K, camera.R, camera.t))
    points = 0.05 * torch.randn(2, 30, 3, generator=g, dtype=torch.float64)
    rows, cols = torch.meshgrid(torch.arange(32, dtype=torch.float64), torch.arange(32, dtype=torch.float64),
                                indexing="ij")
    ramp = torch.stack([cols, rows, cols - 2 * rows])[None].expand(2, 3, 32, 32)  # linear in map pixels
    mine = my_pixel_aligned(ramp, points, K, R, t, (128, 128))
    require_shape(mine, (2, 30, 3), "features (B, N, C)")
    pixels = torch.as_tensor(camera.project(points[0].numpy()))  # (N, 2) image pixels
    x, y = (pixels[:, 0] + 0.5) * 32 / 128 - 0.5, (pixels[:, 1] + 0.5) * 32 / 128 - 0.5
    inside = (x >= 0) & (x <= 31) & (y >= 0) & (y <= 31)
    require(inside.sum() > 20, "internal: the test points should project inside the image")
    require_close(mine[0][inside], torch.stack([x, y, x - 2 * y], -1)[inside],
                  "a linear map sampled at each point's projection (pixel centres, quarter-size map)", atol=1e-9)
    along = points[:, :1] + (points[:, :1] - torch.as_tensor(camera.camera_center())[None, None]) * 0.5
    require_close(my_pixel_aligned(ramp, along, K, R, t, (128, 128))[:, 0], mine[:, 0],
                  "two points on one camera ray must get the same feature", atol=1e-9)
    return "my_pixel_aligned: exact on a linear map, the same feature along a ray"


def check_ordering(my_ordering: Callable) -> str:
    """my_ordering(reference_iou (n,), variant_iou (n,), paper_gain) -> ((mean, low, high) of the
    reference's IoU gain in points, paired over the samples scored in both, and its verdict)."""
    rng = np.random.default_rng(38)
    reference = rng.uniform(0.7, 0.9, 40)
    variant = reference - rng.normal(0.004, 0.002, 40)
    variant[5] = np.nan  # a sample the variant was not scored on: left out of both
    (mean, low, high), verdict = my_ordering(reference, variant, 2.5)
    expected = paired_bootstrap(100 * reference, 100 * variant)
    require(np.allclose([mean, low, high], [expected.mean, expected.low, expected.high], atol=1e-9),
            "the gain and its interval, in IoU points, over the samples both variants were scored on")
    require(verdict == expected.verdict(+1) == "reproduced", "this gain reproduces the paper's")
    require(my_ordering(reference, variant, -1.0)[1] == "reversed", "against a negative paper gain it is reversed")
    return "my_ordering: the paired gain in points and its verdict, NaN samples left out"
