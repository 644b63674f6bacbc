"""The generator's fast exact labels (issue 21): signed ray crossings == solid-angle winding
numbers.

`closed_winding_number` (geometry.inside.ClosedMeshIndex) labels the queries and settles the
hand pairs; here it is checked point for point against the plain solid-angle sum (the numpy
Van Oosterom & Strackee sum and libigl's exact `winding_number`) on posed hands, folds and the
ties of axis-aligned meshes; and the settle's depth and clearance against libigl from scratch.
"""
import igl
import numpy as np
import pytest
import trimesh

from im2hands_lite.data import GeneratorConfig, generate_sample
from im2hands_lite.data.interactions import CLEARANCE_MARGIN, _depth_and_clearance, _Surface
from im2hands_lite.data.scene import sample_queries
from im2hands_lite.geometry import inside as inside_module
from im2hands_lite.geometry.inside import ClosedMeshIndex, closed_mesh_index, closed_winding_number

SMALL = GeneratorConfig(image_size=32, n_queries=2048)


@pytest.fixture(scope="module")
def posed():
    # grip and interlaced curl the fingers most: the hands fold into themselves (w = 2)
    return [generate_sample(seed, SMALL, interaction=name)
            for seed, name in ((3, "grip"), (5, "interlaced"), (11, "random"))]


def _hard_points(sample, hand: int, rng: np.random.Generator) -> np.ndarray:
    """HALO queries at 4,096 per hand, the other hand's vertices, and points 10 µm either side
    of every face centroid (the surface's worst case short of lying on it)."""
    vertices, faces = sample.vertices[hand].astype(np.float64), sample.faces[hand]
    mesh = trimesh.Trimesh(vertices, faces, process=False)
    queries = sample_queries(rng, mesh, 4096, GeneratorConfig()).astype(np.float64)
    offsets = 1e-5 * np.array([-1.0, 1.0])[:, None] * mesh.face_normals[:, None]  # (F, 2, 3)
    near = (mesh.triangles_center[:, None] + offsets).reshape(-1, 3)
    return np.concatenate([queries, sample.vertices[1 - hand].astype(np.float64), near])


def test_labels_equal_the_solid_angle_winding_number_on_posed_hands(posed):
    rng = np.random.default_rng(0)
    folded = 0
    for sample in posed:
        for hand in range(2):
            vertices, faces = sample.vertices[hand].astype(np.float64), sample.faces[hand]
            points = _hard_points(sample, hand, rng)
            exact = igl.winding_number(vertices, faces, points)  # solid-angle sum, all faces
            fast = closed_winding_number(vertices, faces, points)
            wrong = np.flatnonzero((fast > 0.5) != (exact > 0.5))
            assert len(wrong) == 0, (sample.interaction, hand, wrong)
            assert np.array_equal(fast, np.round(exact))  # the same integers, folds included
            folded += int((fast >= 2).sum())
            # the sample's own labels are these exact ones, for every point
            q = sample.queries[hand].astype(np.float64)
            labels = igl.winding_number(vertices, faces, q) > 0.5
            assert np.array_equal(sample.occupancy[hand], labels)
    assert folded > 0  # the check did meet self-overlapping folds


def test_against_the_numpy_solid_angle_sum(posed):
    sample = posed[0]
    vertices, faces = sample.vertices[0].astype(np.float64), sample.faces[0].astype(np.int64)
    points = _hard_points(sample, 0, np.random.default_rng(1))[::4]
    plain = inside_module._solid_angle_winding_number(vertices, faces, points)
    assert np.array_equal(closed_winding_number(vertices, faces, points) > 0.5, plain > 0.5)


def test_folds_rays_through_edges_and_every_axis():
    # a self-overlapping closed mesh (two spheres in one mesh): w = 2 in the overlap
    first = trimesh.creation.icosphere(3)
    second = first.copy().apply_translation((1.0, 0.0, 0.0))
    vertices = np.concatenate([first.vertices, second.vertices])
    faces = np.concatenate([first.faces, second.faces + len(first.vertices)])
    points = np.random.default_rng(2).uniform(-1.2, 2.2, size=(3000, 3))
    assert np.array_equal(closed_winding_number(vertices, faces, points),
                          np.round(igl.winding_number(vertices, faces, points)))
    assert closed_winding_number(vertices, faces, np.array([[0.5, 0.01, 0.02]]))[0] == 2
    # axis-aligned boxes: grid points send rays exactly through the faces' diagonals, edges
    # and corners in projection (the tie rule), along each axis
    axes = np.meshgrid(*[np.linspace(-0.6, 0.6, 25)] * 3, indexing="ij")
    grid = np.stack(axes, -1).reshape(-1, 3)
    for extents in ((0.2, 1.0, 1.0), (1.0, 1.0, 1.0)):
        box = trimesh.creation.box(extents=extents)
        off_surface = ~np.any(np.isclose(np.abs(grid), np.array(extents) / 2), axis=1)
        expected = np.all(np.abs(grid) < np.array(extents) / 2, axis=1)
        for axis in range(3):
            index = ClosedMeshIndex(box.vertices, box.faces, axis=axis)
            assert np.array_equal(index.contains(grid)[off_surface], expected[off_surface])
            spheres = ClosedMeshIndex(vertices, faces, axis=axis)
            assert np.array_equal(spheres.winding_numbers(points),
                                  np.round(igl.winding_number(vertices, faces, points)))


def test_closed_meshes_only_and_the_cache():
    sphere = trimesh.creation.icosphere(2)
    with pytest.raises(ValueError, match="closed"):
        closed_winding_number(sphere.vertices, sphere.faces[1:], np.zeros((1, 3)))
    a = closed_mesh_index(sphere.vertices, sphere.faces)
    assert closed_mesh_index(sphere.vertices.copy(), sphere.faces.copy()) is a
    moved = sphere.vertices + 0.1
    assert closed_mesh_index(moved, sphere.faces) is not a
    centre_and_above = np.array([[0.1, 0.1, 0.1], [0.1, 0.1, 1.2]])  # rays through vertices
    assert closed_winding_number(moved, sphere.faces, centre_and_above).tolist() == [1, 0]
    assert closed_winding_number(sphere.vertices, sphere.faces, np.zeros((0, 3))).shape == (0,)


def test_settled_depth_and_clearance_are_exact(posed):
    """The settle's measurement against libigl from scratch: exact winding numbers of every
    vertex in the other hand, exact distances, both directions; depth within the 2 mm bound."""
    for sample in posed:
        vertices = sample.vertices.astype(np.float64)
        right, left = _Surface(vertices[0], sample.faces[0]), _Surface(vertices[1], sample.faces[1])
        depth, clearance = _depth_and_clearance(right, left, np.zeros(3), exact=True)
        assert depth == pytest.approx(sample.penetration, abs=1e-6)  # (sample stored in float32)
        assert depth <= SMALL.max_penetration
        ref_depth, ref_clearance = 0.0, np.inf
        for a, b in ((1, 0), (0, 1)):
            fb = sample.faces[b]
            inside = igl.winding_number(vertices[b], fb, vertices[a]) > 0.5
            near = np.all((vertices[a] > vertices[b].min(0) - CLEARANCE_MARGIN)
                          & (vertices[a] < vertices[b].max(0) + CLEARANCE_MARGIN), axis=1)
            dist = np.sqrt(igl.point_mesh_squared_distance(vertices[a], vertices[b], fb)[0])
            if inside.any():
                ref_depth = max(ref_depth, dist[inside].max())
            elif near.any():
                ref_clearance = min(ref_clearance, dist[near].min())
        assert depth == pytest.approx(ref_depth, abs=1e-12)
        if depth == 0:
            assert clearance == pytest.approx(ref_clearance, abs=1e-12)
        # embree parity is still there for comparison
        assert _depth_and_clearance(right, left, np.zeros(3), exact=False)[0] >= 0


def test_a_moved_mesh_reuses_the_index_moved():
    sphere = trimesh.creation.icosphere(3)
    points = np.random.default_rng(4).uniform(-1.5, 1.5, size=(2000, 3))
    base = closed_mesh_index(sphere.vertices, sphere.faces)
    offset = np.array([0.3, -0.2, 0.05])
    moved = closed_mesh_index(sphere.vertices + offset, sphere.faces)
    assert moved.tris is base.tris  # the arrays are shared: nothing was rebuilt
    reference = igl.winding_number(sphere.vertices + offset, sphere.faces, points)
    assert np.array_equal(moved.winding_numbers(points), np.round(reference))
    bent = sphere.vertices.copy()
    bent[0] += 1e-3  # not a translation: a new index
    assert closed_mesh_index(bent + offset, sphere.faces).tris is not base.tris
