"""Every exercise's check (`im2hands_lite.teaching.checks`) passes the solution notebook's answer
and fails on wrong but well-shaped answers: zeros, a transposed result, an off-by-one, a
forgotten term. Each solution is read from its notebook (the lines the student version stubs),
so the checks are proven against the very answer a learner is compared with."""
from __future__ import annotations

import dataclasses
import json
import math
import os
import re
import tempfile
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import im2hands_lite.hand.joints as joints
from im2hands_lite.geometry import winding_number
from im2hands_lite.geometry.sampling import farthest_point_sampling, gather_points, knn
from im2hands_lite.models.canonical import INDEX_MCP, PINKY_MCP
from im2hands_lite.teaching import checks
from im2hands_lite.teaching.checks import ExerciseCheckError

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted(REPO.glob("notebooks/[0-9]*.ipynb"))
DEF = re.compile(r"^(?:def (my_\w+)\(|class (My\w+)\b)", re.MULTILINE)


def _exercise_cells() -> dict[str, tuple[str, str]]:
    """{exercise name: (notebook name, source of the cell that defines it)} for every cell with
    an EXERCISE block."""
    found = {}
    for path in NOTEBOOKS:
        for cell in json.loads(path.read_text())["cells"]:
            source = "".join(cell["source"])
            if cell["cell_type"] == "code" and "# EXERCISE START" in source:
                for function, cls in DEF.findall(source):
                    found[function or cls] = (path.name, source)
    return found


EXERCISES = _exercise_cells()


def solution(name: str):
    """The solution notebook's `my_<name>`, defined as the notebook defines it."""
    source = EXERCISES[name][1]
    earlier = {other: solution(other) for other in EXERCISES if other != name and f"def {other}(" not in source
               and re.search(rf"\b{other}\(", source)}  # e.g. MyQueryImageAttention calls my_attention
    namespace = {"math": math, "np": np, "torch": torch, "F": F, "knn": knn, "gather_points": gather_points,
                 "farthest_point_sampling": farthest_point_sampling,
                 "winding_number": winding_number,
                 "os": os, "tempfile": tempfile, "Path": Path, **earlier,
                 "INDEX_MCP": INDEX_MCP, "PINKY_MCP": PINKY_MCP, **{k: v for k, v in vars(joints).items() if k.isupper()}}
    exec(compile(source, f"<{EXERCISES[name][0]}: {name}>", "exec"), namespace)
    return namespace[name]


def _no_scale_attention(q, k, v):
    weights = (q @ k.transpose(-2, -1)).softmax(dim=-1)  # forgot 1 / sqrt(d)
    return weights @ v, weights


def _keys_softmax_attention(q, k, v):
    weights = (q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])).softmax(dim=-2)  # softmax over the queries
    return weights @ v, weights


def _corner_bilinear(feature_map, u, v, image_size):
    h, w = feature_map.shape[-2:]
    x, y = u * w / image_size[1], v * h / image_size[0]  # corner convention instead of pixel centres
    x0, y0 = math.floor(x), math.floor(y)
    ax, ay = x - x0, y - y0

    def at(row, col):
        return feature_map[:, min(max(row, 0), h - 1), min(max(col, 0), w - 1)]
    return ((1 - ax) * (1 - ay) * at(y0, x0) + ax * (1 - ay) * at(y0, x0 + 1)
            + (1 - ax) * ay * at(y0 + 1, x0) + ax * ay * at(y0 + 1, x0 + 1))


def _nearest_bilinear(feature_map, u, v, image_size):
    h, w = feature_map.shape[-2:]
    col = min(max(round((u + 0.5) * w / image_size[1] - 0.5), 0), w - 1)
    row = min(max(round((v + 0.5) * h / image_size[0] - 0.5), 0), h - 1)
    return feature_map[:, row, col]


def _fps_from(start):
    def fps(points, n):
        chosen = [start % len(points)]
        distance = torch.full((len(points),), float("inf"))
        for _ in range(n - 1):
            distance = torch.minimum(distance, (points - points[chosen[-1]]).pow(2).sum(-1))
            chosen.append(int(distance.argmax()))
        return torch.tensor(chosen)
    return fps


def _fps_nearest(points, n):  # picks the *nearest* remaining point
    chosen = [0]
    distance = torch.full((len(points),), float("inf"))
    for _ in range(n - 1):
        distance = torch.minimum(distance, (points - points[chosen[-1]]).pow(2).sum(-1))
        masked = distance.clone()
        masked[chosen] = float("inf")
        chosen.append(int(masked.argmin()))
    return torch.tensor(chosen)


def _to_interhand_base_first(landmarks):
    return landmarks[[4 * finger + k for finger in range(5) for k in (1, 2, 3, 4)] + [0]]


def _global_frame_no_gram_schmidt(kp):
    wrist = kp[:, joints.WRIST]
    y = -(kp[:, joints.MIDDLE_MCP] - wrist)
    y = y / y.norm(dim=-1, keepdim=True)
    z = torch.cross(kp[:, INDEX_MCP] - wrist, kp[:, PINKY_MCP] - wrist, dim=-1)
    z = z / z.norm(dim=-1, keepdim=True)  # not made orthogonal to y
    return torch.stack([torch.cross(y, z, dim=-1), y, z], dim=1)


def _lift_one_focal(pixels, world, K):
    K = K.copy()
    K[1, 1] = K[0, 0]  # fy taken as fx
    return solution("my_lift")(pixels, world, K)


def _vector_attention_softmax_channels(layer, positions, features):  # softmax over the channels
    neighbours = knn(positions, positions, min(layer.k, positions.shape[1]))
    f = layer.norm(features)
    f_j = gather_points(f, neighbours)
    delta = layer.theta(positions[:, :, None] - gather_points(positions, neighbours))
    weights = layer.gamma(layer.phi(f)[:, :, None] - layer.psi(f_j) + delta).softmax(dim=-1)
    return features + (weights * (layer.alpha(f_j) + delta)).sum(dim=2)


def _vector_attention_no_position(layer, positions, features):  # forgot delta in the values
    neighbours = knn(positions, positions, min(layer.k, positions.shape[1]))
    f = layer.norm(features)
    f_j = gather_points(f, neighbours)
    delta = layer.theta(positions[:, :, None] - gather_points(positions, neighbours))
    weights = layer.gamma(layer.phi(f)[:, :, None] - layer.psi(f_j) + delta).softmax(dim=2)
    return features + (weights * layer.alpha(f_j)).sum(dim=2)


def _step_without_zero_grad(model, step_loss, batch, optimizer, generator):
    loss, _ = step_loss(model, batch, generator)
    loss.backward()  # gradients pile up from step to step
    optimizer.step()
    return loss.item()


def _step_loss_after(model, step_loss, batch, optimizer, generator):
    solution("my_training_step")(model, step_loss, batch, optimizer, generator)
    return step_loss(model, batch, generator)[0].item()  # the loss after the update


def _train_one_generator(model, step_loss, batches, optimizer):
    step = solution("my_training_step")
    return [step(model, step_loss, batch, optimizer, torch.Generator().manual_seed(0)) for batch in batches]


def _train_skips_last(model, step_loss, batches, optimizer):
    return solution("my_train")(model, step_loss, batches[:-1], optimizer)


def _unpaired_bootstrap(a, b, n_resamples, seed):
    rng = np.random.default_rng(seed)
    n = len(a)
    means = (a[rng.integers(0, n, (n_resamples, n))].mean(1) - b[rng.integers(0, n, (n_resamples, n))].mean(1))
    low, high = np.percentile(means, [2.5, 97.5])
    return float(np.mean(a - b)), float(low), float(high)


def _bootstrap_90(a, b, n_resamples, seed):
    d = a - b
    means = d[np.random.default_rng(seed).integers(0, len(d), (n_resamples, len(d)))].mean(1)
    low, high = np.percentile(means, [5, 95])
    return float(d.mean()), float(low), float(high)


def _part_forward_variant(change):
    """The solution's part forward with one thing changed (`change(model) -> a context`)."""
    def forward(model, frames, q_world, k):
        with change(model):
            return solution("my_part_forward")(model, frames, q_world, k)
    return forward


class _Patched:
    def __init__(self, obj, name, value):
        self.obj, self.name, self.value = obj, name, value

    def __enter__(self):
        self.old = getattr(self.obj, self.name)
        object.__setattr__(self.obj, self.name, self.value)

    def __exit__(self, *exc):
        object.__setattr__(self.obj, self.name, self.old)


def _attention_module(change: str):
    """The solution's MyQueryImageAttention with one mistake in its forward."""
    base = solution("MyQueryImageAttention")

    class Wrong(base):
        def forward(self, points_cam, tokens):
            if change == "no position scale":
                query = self.query_proj(self.pos_enc(points_cam))
            else:
                query = self.query_proj(self.pos_enc(points_cam * self.position_scale))
            heads = 1 if change == "one head" else self.heads
            split = lambda x: x.unflatten(-1, (heads, -1)).transpose(1, 2)  # noqa: E731
            out, weights = solution("my_attention")(split(self.q(query)), split(self.k(tokens)), split(self.v(tokens)))
            features = out.transpose(1, 2).flatten(2)
            if change == "one head":
                weights = weights.expand(-1, self.heads, -1, -1)
            return (features if change == "no output projection" else self.out(features)), weights
    return Wrong


def _winding_unsigned(vertices, faces, points):  # abs of each solid angle: orientation lost
    corners = vertices[faces][None] - points[:, None, None]
    a, b, c = corners[:, :, 0], corners[:, :, 1], corners[:, :, 2]
    la, lb, lc = (np.linalg.norm(x, axis=-1) for x in (a, b, c))
    dot = lambda x, y: np.einsum("nfi,nfi->nf", x, y)  # noqa: E731
    angle = 2 * np.arctan2(dot(a, np.cross(b, c)), la * lb * lc + dot(a, b) * lc + dot(b, c) * la + dot(c, a) * lb)
    return np.abs(angle).sum(axis=1) / (4 * np.pi)


def _transition_down_variant(mistake: str):
    def down(layer, positions, features):
        keep = farthest_point_sampling(positions, positions.shape[1] // 2)
        if mistake == "first half":
            keep = torch.arange(positions.shape[1] // 2).expand(positions.shape[0], -1)
        centres = gather_points(positions, keep)
        neighbours = knn(centres, positions, min(layer.k, positions.shape[1]))
        offsets = gather_points(positions, neighbours) - (0 if mistake == "absolute positions" else centres[:, :, None])
        pooled = layer.mlp(torch.cat([offsets, gather_points(features, neighbours)], dim=-1))
        return centres, (pooled.mean(dim=2) if mistake == "mean pooling" else pooled.max(dim=2).values)
    return down


def _graph_layer_variant(mistake: str):
    def layer_forward(layer, x):
        h = x if mistake == "no LayerNorm" else layer.norm(x)
        terms = [h, layer.conv.operator @ h]
        while len(terms) < layer.conv.cheb_k:
            terms.append(layer.conv.operator @ terms[-1] if mistake == "powers, not Chebyshev"
                         else 2 * layer.conv.operator @ terms[-1] - terms[-2])
        out = torch.relu(sum(w(t) for w, t in zip(layer.conv.weights, terms)))
        return out if mistake == "no residual" else x + out
    return layer_forward


def _patch_embed_variant(mistake: str):
    def embed(feature_map, weight, bias):
        P = weight.shape[-1]
        b, c = feature_map.shape[:2]
        patches = feature_map.unfold(2, P, P).unfold(3, P, P)  # (B, C, rows, cols, P, P)
        order = {"column-major": (0, 3, 2, 1, 4, 5), "channels last": (0, 2, 3, 4, 5, 1)}.get(mistake, (0, 2, 3, 1, 4, 5))
        patches = patches.permute(*order).reshape(b, -1, c * P * P)
        return patches @ weight.reshape(weight.shape[0], -1).T + (0 if mistake == "no bias" else bias)
    return embed


def _decoder_variant(mistake: str):
    def decode(decoder, queries, occupancy, anchors, anchor_features, latent):
        q = decoder.query_embed(torch.cat([queries, occupancy[..., None]], dim=-1))
        nearest = knn(queries, anchors, decoder.k)
        offsets = decoder.offset(gather_points(anchors, nearest) - queries[:, :, None])
        features = gather_points(anchor_features, nearest)
        keys = decoder.key(features) + offsets
        values = decoder.value(features) + (0 if mistake == "no offsets in the values" else offsets)
        scale = 1.0 if mistake == "no 1/sqrt(d)" else keys.shape[-1] ** 0.5
        weights = ((q[:, :, None] * keys).sum(-1) / scale).softmax(dim=-1)
        h = q + (weights[..., None] * values).sum(dim=2)
        if mistake != "no latent":
            h = h + decoder.latent(latent)[:, None]
        for block in decoder.blocks:
            h = h + block(h)
        return decoder.out(h).squeeze(-1)
    return decode


def _vx_squared_over(a, b):
    v = torch.cross(a, b, dim=-1)
    zero = torch.zeros_like(v[..., 0])
    vx = torch.stack([zero, -v[..., 2], v[..., 1], v[..., 2], zero, -v[..., 0], -v[..., 1], v[..., 0], zero],
                     dim=-1).reshape(*v.shape[:-1], 3, 3)
    return vx @ vx / (1 + (a * b).sum(-1))[..., None, None]


def _adam_variant(mistake: str):
    def step(param, grad, state, t, lr, betas, eps, weight_decay):
        beta1, beta2 = betas
        if mistake != "no weight decay":
            grad = grad + weight_decay * param
        state["m"].mul_(beta1).add_((1 - beta1) * grad)
        state["v"].mul_(beta2).add_((1 - beta2) * grad * grad)
        if mistake == "no bias correction":
            m_hat, v_hat = state["m"], state["v"]
        else:
            m_hat, v_hat = state["m"] / (1 - beta1 ** t), state["v"] / (1 - beta2 ** t)
        denominator = (v_hat + eps).sqrt() if mistake == "eps inside the root" else v_hat.sqrt() + eps
        return param - lr * m_hat / denominator
    return step


def _surface_samples_variant(mistake: str):
    def sample(vertices, faces, n, rng):
        tri = vertices[faces]
        areas = np.linalg.norm(np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]), axis=1) / 2
        p = None if mistake == "faces equally likely" else areas / areas.sum()
        tri = tri[rng.choice(len(faces), size=n, p=p)]
        r1, r2 = rng.random((2, n))
        if mistake == "normalised weights":
            w = np.stack([r1, r2, rng.random(n)])
            w = w / w.sum(0)
            r1, r2 = w[1], w[2]
        elif mistake != "no reflection":
            flip = r1 + r2 > 1
            r1[flip], r2[flip] = 1 - r1[flip], 1 - r2[flip]
        return tri[:, 0] + r1[:, None] * (tri[:, 1] - tri[:, 0]) + r2[:, None] * (tri[:, 2] - tri[:, 0])
    return sample


def _insides(pred_mesh, gt_mesh, n_points, rng):
    low, high = np.minimum(pred_mesh.bounds[0], gt_mesh.bounds[0]), np.maximum(pred_mesh.bounds[1], gt_mesh.bounds[1])
    points = rng.uniform(low, high, size=(n_points, 3))
    return pred_mesh.contains(points), gt_mesh.contains(points)


def _iou_truth_box(pred_mesh, gt_mesh, n_points, rng):  # the box around the truth only
    points = rng.uniform(gt_mesh.bounds[0], gt_mesh.bounds[1], size=(n_points, 3))
    inside_pred, inside_gt = pred_mesh.contains(points), gt_mesh.contains(points)
    return np.count_nonzero(inside_pred & inside_gt) / np.count_nonzero(inside_pred | inside_gt)


def _mpjpe_variant(mistake: str):
    def mpjpe(pred, gt):
        p, g = pred.unflatten(1, (2, 21)), gt.unflatten(1, (2, 21))
        if mistake == "one root for both hands":
            p, g = p - p[:, :1, joints.WRIST:joints.WRIST + 1], g - g[:, :1, joints.WRIST:joints.WRIST + 1]
        elif mistake != "absolute":
            p, g = p - p[:, :, joints.WRIST:joints.WRIST + 1], g - g[:, :, joints.WRIST:joints.WRIST + 1]
        error = (p - g).norm(dim=-1).mean(dim=(1, 2))
        return error if mistake == "metres" else 1000.0 * error
    return mpjpe


def _fov_variant(mistake: str):
    def intrinsics(fov_deg, width, height):
        side = height if mistake == "vertical" else width
        focal = (side if mistake == "no half" else 0.5 * side) / np.tan(np.radians(fov_deg) / 2)
        centre = (width / 2, height / 2) if mistake == "centre at W/2" else ((width - 1) / 2, (height - 1) / 2)
        return np.array([[focal, 0.0, centre[0]], [0.0, focal, centre[1]], [0.0, 0.0, 1.0]])
    return intrinsics


def _bone_rotations_variant(mistake: str):
    def rotations_of(kp_norm, canonical_dirs):
        minimal = solution("my_minimal_rotation")
        heads, tails = kp_norm[:, list(joints.BONE_HEADS)], kp_norm[:, list(joints.BONE_TAILS)]
        directions = (tails - heads) / (tails - heads).norm(dim=-1, keepdim=True)
        rotations = [torch.eye(3, dtype=kp_norm.dtype).expand(kp_norm.shape[0], 3, 3)]
        for bone in range(1, joints.N_BONES):
            parent = rotations[joints.BONE_PARENTS[bone]] if mistake != "no chain" else rotations[0]
            expected = canonical_dirs[bone].expand_as(directions[:, bone]) if mistake == "canonical, not chained" else (
                parent @ canonical_dirs[bone][:, None])[..., 0]
            turn = minimal(expected, directions[:, bone])
            rotations.append(parent @ turn if mistake == "wrong order" else turn @ parent)
        return torch.stack(rotations, dim=1)
    return rotations_of


def _crossing_variant(mistake: str):
    def cells(values, level):
        n = values.shape[0] - 1
        offsets = [(0, 0, 0), (1, 1, 1)] if mistake == "two corners" else [(a, b, c) for a in (0, 1) for b in (0, 1)
                                                                            for c in (0, 1)]
        corners = np.stack([values[a:a + n, b:b + n, c:c + n] for a, b, c in offsets])
        low, high = corners.min(axis=0), corners.max(axis=0)
        if mistake == "strict":
            return (low < level) & (level < high)
        return (low <= level) & (level <= high) & (low < high)
    return cells


def _volume_variant(mistake: str):
    def volume(mesh_a, mesh_b, n_points, rng):
        if mistake == "union box":
            low, high = np.minimum(mesh_a.bounds[0], mesh_b.bounds[0]), np.maximum(mesh_a.bounds[1], mesh_b.bounds[1])
        else:
            low, high = np.maximum(mesh_a.bounds[0], mesh_b.bounds[0]), np.minimum(mesh_a.bounds[1], mesh_b.bounds[1])
        if not np.all(high > low):
            return 0.0
        points = rng.uniform(low, high, size=(n_points, 3))
        both = np.count_nonzero(mesh_a.contains(points) & mesh_b.contains(points)) / n_points
        return both if mistake == "fraction only" else float(np.prod(high - low) * both)
    return volume


def _encode_without(part: str):
    def encode(encoder, points, inputs):
        x = encoder.first(points, encoder.embed(inputs))
        positions = points
        for down, local in zip(encoder.down, encoder.local):
            positions, x = down(positions, x)
            if part != "local layers":
                x = local(positions, x)
        if part != "self-attention":
            for block in encoder.blocks:
                x = block(x)
        x = encoder.norm(x)
        return positions, x, (x.mean(dim=1) if part == "max" else x.max(dim=1).values)
    return encode


def _refine_variant(mistake: str):
    def refine(refiner, keypoints, image, R, t):
        scale = refiner.config.position_scale
        cam = keypoints @ R.transpose(1, 2) + t[:, None]
        x = cam * scale if mistake == "not centred" else (cam - cam.mean(dim=1, keepdim=True)) * scale
        h = refiner.node_features(x)
        for layer in refiner.graph_layers:
            h = layer(h)
        if mistake != "no image":
            h = refiner.image_attention(torch.cat([h, refiner.image_tokens(image)], dim=1))[:, :42]
        offsets = refiner.regressor(h) / (1.0 if mistake == "offsets not scaled back" else scale)
        back = R.transpose(1, 2) if mistake == "back with R^T" else R
        return (cam + offsets - t[:, None]) @ back, {}
    return refine


def _both_hands_variant(mistake: str):
    def refine(refiner, points, point_features, global_image, queries, occupancy):
        encoded = refiner.encode_hands(points, point_features)
        context = refiner.context_latent(encoded, global_image)
        logits = []
        for hand in (0, 1):
            anchors = encoded[0] if mistake == "right anchors for both" else encoded[hand]
            latent = anchors.latent if mistake == "own latent" else context
            logits.append(refiner.decoder(queries[:, hand], occupancy[:, hand], anchors, latent)[0])
        return torch.stack(logits, dim=1)
    return refine


def _noise_variant(mistake: str):
    def noise(keypoints, R, config, generator):
        batch, dtype = keypoints.shape[0], keypoints.dtype
        sigmas = config.joint_sigmas_mm().to(dtype) / 1000.0
        jitter = torch.randn(batch, 2, 21, 3, generator=generator).to(dtype) * sigmas
        offset_sigma = torch.tensor([config.hand_offset_mm, config.hand_offset_mm, config.hand_depth_mm], dtype=dtype)
        shape = (batch, 2, 21, 3) if mistake == "offset per joint" else (batch, 2, 1, 3)
        offsets = torch.randn(*shape, generator=generator).to(dtype) * offset_sigma / 1000.0
        noise_cam = (jitter + offsets).reshape(batch, 42, 3)
        return keypoints + (noise_cam if mistake == "world axes" else noise_cam @ R)
    return noise


def _write_in_place(path, write):  # not atomic: a failure leaves half a file
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as handle:
        write(handle)
    return path


def _write_leaves_temporary(path, write):  # atomic, but a failed write leaves its temporary file
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as handle:
        write(handle)
    os.replace(tmp, path)
    return path


def _pixel_aligned_variant(mistake: str):
    def sample(feature_map, points, K, R, t, image_size):
        uvw = (points @ R.transpose(1, 2) + t[:, None]) @ K.transpose(1, 2)
        pixels = uvw[..., :2] / uvw[..., 2:3]
        height, width = image_size
        h, w = feature_map.shape[-2:]
        small = pixels * pixels.new_tensor([w / width, h / height]) if mistake == "corner convention" else (
            (pixels + 0.5) * pixels.new_tensor([w / width, h / height]) - 0.5)
        grid = (2 * small + 1) / pixels.new_tensor([w, h]) - 1
        if mistake == "x and y swapped":
            grid = grid.flip(-1)
        return F.grid_sample(feature_map, grid[:, :, None], mode="bilinear", padding_mode="border",
                             align_corners=False)[..., 0].transpose(1, 2)
    return sample


def _ordering_in_fractions(reference_iou, variant_iou, paper_gain):  # forgot the points
    (mean, low, high), verdict = solution("my_ordering")(reference_iou, variant_iou, paper_gain)
    return (mean / 100, low / 100, high / 100), verdict


def _ordering_swapped(reference_iou, variant_iou, paper_gain):  # the variant's gain over the reference
    return solution("my_ordering")(variant_iou, reference_iou, paper_gain)


WRONG = {  # exercise: {what is wrong: a wrong but well-shaped answer}
    "my_ordering": {"fractions, not points": _ordering_in_fractions, "reference and variant swapped": _ordering_swapped},
    "my_pixel_aligned": {m: _pixel_aligned_variant(m) for m in ("corner convention", "x and y swapped")},
    "my_atomic_write": {"in place": _write_in_place, "temporary left behind": _write_leaves_temporary},
    "my_keypoint_noise": {m: _noise_variant(m) for m in ("offset per joint", "world axes")},
    "my_refine_both_hands": {m: _both_hands_variant(m) for m in ("right anchors for both", "own latent")},
    "my_verdict": {
        "ends count": lambda low, high, paper: "inconclusive" if low < 0 < high else (
            "reproduced" if (low >= 0) == (paper >= 0) else "reversed"),
        "ignores the paper's sign": lambda low, high, paper: "inconclusive" if low <= 0 <= high else (
            "reproduced" if low > 0 else "reversed"),
    },
    "my_refine": {m: _refine_variant(m) for m in ("not centred", "no image", "offsets not scaled back", "back with R^T")},
    "my_penetration_volume": {m: _volume_variant(m) for m in ("union box", "fraction only")},
    "my_encode_hand": {f"no {p}": _encode_without(p) for p in ("local layers", "self-attention", "max")},
    "my_bone_rotations": {m: _bone_rotations_variant(m) for m in ("no chain", "wrong order")},
    "my_crossing_cells": {m: _crossing_variant(m) for m in ("two corners", "strict")},
    "my_root_relative_mpjpe": {m: _mpjpe_variant(m) for m in ("absolute", "one root for both hands", "metres")},
    "my_intrinsics_from_fov": {m: _fov_variant(m) for m in ("vertical", "no half", "centre at W/2")},
    "my_volume_iou": {
        "box around the truth": _iou_truth_box,
        "intersection over the truth": lambda p, g, n, rng: (lambda a, b: np.count_nonzero(a & b) / np.count_nonzero(b))(
            *_insides(p, g, n, rng)),
        "Dice instead of IoU": lambda p, g, n, rng: (lambda a, b: 2 * np.count_nonzero(a & b) / (a.sum() + b.sum()))(
            *_insides(p, g, n, rng)),
    },
    "my_surface_samples": {m: _surface_samples_variant(m) for m in ("faces equally likely", "no reflection",
                                                                    "normalised weights")},
    "my_minimal_rotation": {
        "transposed": lambda a, b: solution("my_minimal_rotation")(a, b).transpose(-1, -2),
        "b onto a": lambda a, b: solution("my_minimal_rotation")(b, a),
        "no second-order term": lambda a, b: solution("my_minimal_rotation")(a, b) - _vx_squared_over(a, b),
    },
    "my_adam_step": {m: _adam_variant(m) for m in ("no weight decay", "no bias correction", "eps inside the root")},
    "my_decoder": {m: _decoder_variant(m) for m in ("no offsets in the values", "no 1/sqrt(d)", "no latent")},
    "my_patch_embed": {m: _patch_embed_variant(m) for m in ("column-major", "channels last", "no bias")},
    "my_residual_graph_layer": {m: _graph_layer_variant(m) for m in ("no LayerNorm", "powers, not Chebyshev", "no residual")},
    "my_transition_down": {m: _transition_down_variant(m) for m in ("first half", "absolute positions", "mean pooling")},
    "my_winding_number": {
        "over 2 pi": lambda v, f, p: 2 * solution("my_winding_number")(v, f, p),
        "unsigned angles": _winding_unsigned,
        "ray parity": lambda v, f, p: (solution("my_winding_number")(v, f, p) > 0.5).astype(float) % 2,
    },
    "MyQueryImageAttention": {change: _attention_module(change)
                              for change in ("no position scale", "one head", "no output projection")},
    "my_part_forward": {
        "next part's weights": lambda model, frames, q, k: solution("my_part_forward")(model, frames, q, (k + 1) % 16),
        "no local_scale": _part_forward_variant(lambda m: _Patched(m, "config", dataclasses.replace(m.config, local_scale=1.0))),
        "no hidden layers": _part_forward_variant(lambda m: _Patched(m, "hidden_layers", torch.nn.ModuleList())),
    },
    "my_training_step": {"no zero_grad": _step_without_zero_grad, "loss after the update": _step_loss_after},
    "my_train": {"one generator for all steps": _train_one_generator, "last batch skipped": _train_skips_last},
    "my_vector_attention": {"softmax over the channels": _vector_attention_softmax_channels,
                            "no position in the values": _vector_attention_no_position,
                            "no residual": lambda layer, p, f: solution("my_vector_attention")(layer, p, f) - f},
    "my_paired_bootstrap": {"unpaired": _unpaired_bootstrap, "90 % interval": _bootstrap_90,
                            "sd instead of the mean's": lambda a, b, n, seed: (float(np.mean(a - b)),
                                                                               float(np.mean(a - b) - 1.96 * np.std(a - b)),
                                                                               float(np.mean(a - b) + 1.96 * np.std(a - b)))},
    "my_blend_skinning": {
        "no translation": lambda rest, w, a: solution("my_blend_skinning")(rest, w, torch.cat([a[..., :3], 0 * a[..., 3:]], -1)),
        "transposed rotations": lambda rest, w, a: solution("my_blend_skinning")(
            rest, w, torch.cat([a[..., :3].transpose(-1, -2), a[..., 3:]], -1)),
        "bones averaged": lambda rest, w, a: solution("my_blend_skinning")(rest, torch.full_like(w, 1 / w.shape[1]), a),
    },
    "my_project": {
        "no translation": lambda p, K, R, t: solution("my_project")(p, K, R, 0 * t),
        "transposed rotation": lambda p, K, R, t: solution("my_project")(p, K, R.T, t),
        "zeros": lambda p, K, R, t: 0 * solution("my_project")(p, K, R, t),
    },
    "my_unproject": {
        "transposed rotation": lambda px, d, K, R, t: solution("my_unproject")(px, d, K, R.T, t),
        "depth ignored": lambda px, d, K, R, t: solution("my_unproject")(px, np.ones_like(d), K, R, t),
    },
    "my_attention": {"no 1/sqrt(d)": _no_scale_attention, "softmax over the queries": _keys_softmax_attention},
    "my_bilinear": {"corner convention": _corner_bilinear, "nearest pixel": _nearest_bilinear},
    "my_normalized_adjacency": {
        "no self-loops": lambda A: torch.diag(A.sum(1).clamp_min(1).rsqrt()) @ A @ torch.diag(A.sum(1).clamp_min(1).rsqrt()),
        "row-normalised": lambda A: (A + torch.eye(len(A), dtype=A.dtype)) / (A + torch.eye(len(A), dtype=A.dtype)).sum(1,
                                                                                                               keepdim=True),
    },
    "my_cheb_conv": {
        "Laplacian sign": lambda h, A, W0, b0, W1: 2 * (h @ W0.T + b0) - solution("my_cheb_conv")(h, A, W0, b0, W1),
        "no bias": lambda h, A, W0, b0, W1: solution("my_cheb_conv")(h, A, W0, 0 * b0, W1),
    },
    "my_fps": {"starts at 1": _fps_from(1), "nearest instead of farthest": _fps_nearest},
    "my_penetration": {
        "mean over points": lambda right, left: (right * left).mean(),
        "sum over samples too": lambda right, left: (right * left).sum(),
        "min instead of product": lambda right, left: torch.minimum(right, left).sum(-1).mean(),
    },
    "my_learning_rate": {
        "off by one": lambda s, step: s.lr * s.decay_factor ** ((step + 1) // s.decay_every),
        "no floor": lambda s, step: s.lr * s.decay_factor ** (step / s.decay_every),
    },
    "my_step_indices": {
        "seed + step": lambda n, b, seed, step: torch.randint(0, n, (b,), generator=torch.Generator().manual_seed(
            seed + step)).tolist(),
        "global generator": lambda n, b, seed, step: torch.randint(0, n, (b,)).tolist(),
    },
    "my_chamfer_l1": {
        "squared distances": lambda a, b: 0.5 * (torch.cdist(a, b).min(1).values.pow(2).mean()
                                                 + torch.cdist(a, b).min(0).values.pow(2).mean()),
        "one direction": lambda a, b: torch.cdist(a, b).min(1).values.mean(),
    },
    "my_align_by_middle_joint": {
        "joint 10": lambda v, p, g: v + (g[10] - p[10]),
        "mean of the joints": lambda v, p, g: v + (g.mean(0) - p.mean(0)),
    },
    "my_to_bones": {
        "not transposed": lambda x, R, h: torch.einsum("bkij,bknj->bkni", R, x[:, None] - h[:, :, None]),
        "no rotation": lambda x, R, h: x[:, None] - h[:, :, None],
    },
    "my_global_frame": {"no Gram-Schmidt": _global_frame_no_gram_schmidt,
                        "y flipped": lambda kp: solution("my_global_frame")(kp) * torch.tensor([-1.0, -1.0, 1.0],
                                                                                              dtype=kp.dtype)[:, None]},
    "my_to_interhand": {"identity": lambda landmarks: landmarks, "base first": _to_interhand_base_first},
    "my_lift": {"fy taken as fx": _lift_one_focal, "no translation": lambda px, world, K: world},
}


DEPENDS = {"my_train": ("my_training_step",), "my_bone_rotations": ("my_minimal_rotation",)}  # checks that also take the solutions of earlier exercises


def check_name(name: str) -> str:
    """my_chamfer_l1 -> check_chamfer_l1; MyQueryImageAttention -> check_query_image_attention."""
    if name.startswith("My"):
        return "check_" + re.sub(r"(?<!^)(?=[A-Z])", "_", name[2:]).lower()
    return "check_" + name.removeprefix("my_")


def _check_of(name: str):
    check = getattr(checks, check_name(name))
    return lambda answer: check(answer, *(solution(dep) for dep in DEPENDS.get(name, ())))


def test_every_exercise_has_a_check_and_wrong_answers():
    assert EXERCISES, "no exercises found in the notebooks"
    missing = [name for name in EXERCISES if not hasattr(checks, check_name(name))]
    assert not missing, f"exercises without a check in teaching.checks: {missing}"
    assert set(WRONG) == set(EXERCISES), sorted(set(WRONG) ^ set(EXERCISES))


def test_every_notebook_runs_the_library_check():
    for name, (notebook, _) in EXERCISES.items():
        text = (REPO / "notebooks" / notebook).read_text()
        call = f"{check_name(name)}({', '.join((name, *DEPENDS.get(name, ())))})"
        assert call in text, f"{notebook} should call {call}"


@pytest.mark.parametrize("name", sorted(EXERCISES))
def test_check_passes_the_solution(name):
    message = _check_of(name)(solution(name))
    assert isinstance(message, str) and name.removeprefix("My") in message


@pytest.mark.parametrize("name, wrong", [(n, w) for n in sorted(WRONG) for w in WRONG[n]])
def test_check_fails_a_wrong_answer(name, wrong):
    with pytest.raises(ExerciseCheckError):
        _check_of(name)(WRONG[name][wrong])


def test_messages_do_not_give_the_answer():
    # the closeness check names the largest error, never the values it expected
    with pytest.raises(ExerciseCheckError) as failure:
        checks.require_close(np.array([1.0, 2.0]), np.array([1.2345678, 2.0]), "x")
    assert "1.2345678" not in str(failure.value) and "1.23" not in str(failure.value)


def test_the_course_asks_for_at_least_250_learner_lines():
    # the lines a learner writes: non-blank, non-comment lines between EXERCISE START and END
    lines = 0
    for path in NOTEBOOKS:
        for cell in json.loads(path.read_text())["cells"]:
            if cell["cell_type"] != "code":
                continue
            inside = False
            for line in "".join(cell["source"]).split("\n"):
                if re.match(r"^\s*#\s*EXERCISE\s+(START|END)\b", line):
                    inside = "START" in line
                elif inside and line.strip() and not line.strip().startswith("#"):
                    lines += 1
    assert lines >= 250, f"the notebooks ask a learner for {lines} lines; the course's goal is at least 250"
