"""Plotly figures of two-hand reconstructions (inline in Jupyter and Colab; no image export needed)."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ..geometry.meshes import MeshLike, mesh_arrays
from ..hand.joints import N_JOINTS, SKELETON_EDGES

HAND_COLOURS = ("crimson", "royalblue")  # right, left


def mesh_trace(mesh: MeshLike, colour: str | None = "wheat", name: str = "mesh", opacity: float = 0.6,
               scene: str = "scene", showlegend: bool = True, **mesh3d):
    """A plotly Mesh3d of one mesh (a Trimesh or (vertices, faces)); `mesh3d` goes to go.Mesh3d
    (e.g. hoverinfo="skip", or intensity=... with colour None)."""
    v, f = mesh_arrays(mesh, name)
    if colour is not None:
        mesh3d["color"] = colour
    return go.Mesh3d(x=v[:, 0], y=v[:, 1], z=v[:, 2], i=f[:, 0], j=f[:, 1], k=f[:, 2], opacity=opacity,
                     name=name, showlegend=showlegend, scene=scene, flatshading=False, **mesh3d)


def skeleton_traces(joints: np.ndarray, colour: str, name: str = "", joint_names: Sequence[str] | None = None,
                    width: float = 6, dash: str = "solid") -> list:
    """One hand's (21, 3) skeleton as plotly traces: bones as lines (None separates them), and
    with `joint_names` also hoverable joint markers."""
    joints = np.asarray(joints, dtype=float)
    if joints.shape != (N_JOINTS, 3):
        raise ValueError(f"joints must be ({N_JOINTS}, 3), got {joints.shape}")
    xyz: list[list] = [[], [], []]
    for a, b in SKELETON_EDGES:
        for axis in range(3):
            xyz[axis] += [joints[a, axis], joints[b, axis], None]
    traces = [go.Scatter3d(x=xyz[0], y=xyz[1], z=xyz[2], mode="lines", name=name, showlegend=bool(name),
                           line=dict(color=colour, width=width, dash=dash), hoverinfo="skip")]
    if joint_names is not None:
        traces.append(go.Scatter3d(x=joints[:, 0], y=joints[:, 1], z=joints[:, 2], mode="markers",
                                   marker=dict(size=4, color=colour), hoverinfo="text", showlegend=False,
                                   text=[f"{i}: {n}" for i, n in enumerate(joint_names)]))
    return traces


def two_hand_skeleton_traces(keypoints: np.ndarray, name: str, dash: str = "solid", width: float = 4) -> list:
    """Both hands' (42, 3) skeletons (right then left, in the hand colours), named "<name> right/left"."""
    keypoints = np.asarray(keypoints, dtype=float)
    return [trace for hand, (side, colour) in enumerate(zip(("right", "left"), HAND_COLOURS))
            for trace in skeleton_traces(keypoints[N_JOINTS * hand:N_JOINTS * (hand + 1)], colour,
                                         f"{name} {side}", width=width, dash=dash)]


def side_by_side(image: np.ndarray | None, panels: dict[str, Sequence[MeshLike]], title: str = "",
                 height: int = 380, extra: dict[str, list] | None = None):
    """One row: the input image (if given), then one 3D scene per entry of `panels`
    ({"I": [right, left], "truth": [...]}); `extra` adds traces (e.g. points) to a named panel.
    The 3D scenes share the same axis ranges so the panels compare directly."""
    names = list(panels)
    specs = ([{"type": "image"}] if image is not None else []) + [{"type": "scene"}] * len(names)
    titles = (["input image"] if image is not None else []) + names
    fig = make_subplots(rows=1, cols=len(specs), specs=[specs], subplot_titles=titles)
    offset = 1 if image is not None else 0
    if image is not None:
        fig.add_trace(go.Image(z=np.asarray(image)), row=1, col=1)
        fig.update_xaxes(visible=False, row=1, col=1)
        fig.update_yaxes(visible=False, row=1, col=1)
    everything = [mesh_arrays(m)[0] for meshes in panels.values() for m in meshes if len(mesh_arrays(m)[0])]
    low, high = (np.min([v.min(0) for v in everything], 0), np.max([v.max(0) for v in everything], 0)) if everything \
        else (np.zeros(3), np.ones(3))
    for k, name in enumerate(names):
        scene = "scene" if k == 0 else f"scene{k + 1}"
        for mesh, colour, side in zip(panels[name], HAND_COLOURS, ("right", "left")):
            if len(mesh_arrays(mesh)[1]):
                fig.add_trace(mesh_trace(mesh, colour, f"{name}: {side}", scene=scene, showlegend=False),
                              row=1, col=k + 1 + offset)
        for trace in (extra or {}).get(name, []):
            fig.add_trace(trace, row=1, col=k + 1 + offset)
        fig.layout[scene].update(aspectmode="cube", xaxis=dict(range=[low[0], high[0]], visible=False),
                                 yaxis=dict(range=[low[1], high[1]], visible=False),
                                 zaxis=dict(range=[low[2], high[2]], visible=False))
    fig.update_layout(height=height, width=260 * len(specs), title=title, margin=dict(l=0, r=0, t=50, b=0))
    return fig


def points_trace(points: np.ndarray, colour: str, name: str, size: float = 2.0):
    """A plotly Scatter3d of (N, 3) points."""
    points = np.asarray(points).reshape(-1, 3)
    return go.Scatter3d(x=points[:, 0], y=points[:, 1], z=points[:, 2], mode="markers", name=name,
                        marker=dict(size=size, color=colour))
