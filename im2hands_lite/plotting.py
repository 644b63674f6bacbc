"""Plotly figures of two-hand reconstructions (inline in Jupyter and Colab; no image export needed)."""
from __future__ import annotations

from typing import Sequence

import numpy as np

from .geometry.meshes import MeshLike, mesh_arrays

HAND_COLOURS = ("crimson", "royalblue")  # right, left


def mesh_trace(mesh: MeshLike, colour: str, name: str, opacity: float = 0.6, scene: str = "scene",
               showlegend: bool = True):
    """A plotly Mesh3d of one mesh (a Trimesh or (vertices, faces))."""
    import plotly.graph_objects as go

    v, f = mesh_arrays(mesh, name)
    return go.Mesh3d(x=v[:, 0], y=v[:, 1], z=v[:, 2], i=f[:, 0], j=f[:, 1], k=f[:, 2], color=colour,
                     opacity=opacity, name=name, showlegend=showlegend, scene=scene, flatshading=False)


def side_by_side(image: np.ndarray | None, panels: dict[str, Sequence[MeshLike]], title: str = "",
                 height: int = 380, extra: dict[str, list] | None = None):
    """One row: the input image (if given), then one 3D scene per entry of `panels`
    ({"I": [right, left], "truth": [...]}); `extra` adds traces (e.g. points) to a named panel.
    The 3D scenes share the same axis ranges so the panels compare directly."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

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
    import plotly.graph_objects as go

    points = np.asarray(points).reshape(-1, 3)
    return go.Scatter3d(x=points[:, 0], y=points[:, 1], z=points[:, 2], mode="markers", name=name,
                        marker=dict(size=size, color=colour))
