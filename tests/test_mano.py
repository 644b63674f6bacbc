"""The chumpy-free MANO loader and ManoLayer, on synthetic MANO-layout pickles."""
import os
import pickle
import sys
import types
from dataclasses import replace

import numpy as np
import pytest
import torch

from im2hands_lite.geometry.rotations import axis_angle_to_matrix
from im2hands_lite.hand import (
    JOINT_NAMES,
    MANO_TO_INTERHAND,
    ManoConfig,
    ManoFormatError,
    ManoLayer,
    fix_left_shapedirs,
    load_mano_model,
)
from im2hands_lite.hand.mano import (
    MANO_PARENTS,
    MANO_TIP_VERTICES,
    fixture_mano_arrays,
    write_fixture_mano,
)

pytestmark = pytest.mark.usefixtures("one_thread")

FIELD_SHAPES = {
    "v_template": (778, 3), "f": (1538, 3), "shapedirs": (778, 3, 10),
    "posedirs": (778, 3, 135), "J_regressor": (16, 778), "weights": (778, 16),
    "kintree_table": (2, 16), "hands_components": (45, 45), "hands_mean": (45,),
}


@pytest.fixture(scope="module")
def right_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("mano") / "MANO_RIGHT.pkl"
    arrays = write_fixture_mano(path, seed=0, side="right")
    return path, arrays


@pytest.fixture(scope="module")
def right(right_file):
    return load_mano_model(right_file[0])


def random_inputs(batch, seed=0, hand_dim=45):
    g = torch.Generator().manual_seed(seed)
    return (0.5 * torch.randn(batch, 3, generator=g),
            0.3 * torch.randn(batch, hand_dim, generator=g),
            torch.randn(batch, 10, generator=g), 0.1 * torch.randn(batch, 3, generator=g))


def rest_keypoints(model):
    """InterHand-order keypoints of the unposed template, computed in numpy."""
    joints = model.J_regressor @ model.v_template
    tips = model.v_template[list(MANO_TIP_VERTICES)]
    return np.concatenate([joints, tips])[list(MANO_TO_INTERHAND)]


# ----------------------------------------------------------------------------- loading


def test_fixture_loads_with_every_field_in_mano_layout(right_file, right):
    path, arrays = right_file
    assert right.side == "right"
    for field, shape in FIELD_SHAPES.items():
        assert getattr(right, field).shape == shape, field
    assert right.f.dtype == np.int64 and right.kintree_table.dtype == np.int64
    assert right.parents == MANO_PARENTS  # the huge root entry became -1
    np.testing.assert_array_equal(right.J_regressor, arrays["J_regressor"].toarray())
    np.testing.assert_allclose(right.J_regressor.sum(1), 1.0)
    np.testing.assert_allclose(right.weights.sum(1), 1.0)
    for field in ("v_template", "shapedirs", "posedirs", "hands_components", "hands_mean"):
        np.testing.assert_array_equal(getattr(right, field), arrays[field])


class _FakeCh:
    """Pickles like chumpy.ch.Ch: the state dict keeps the value under "x"."""

    def __init__(self, x):
        self.x, self._dirty_vars, self._make_dense = np.asarray(x), {"x"}, False


class _FakeSelect:
    """Pickles like chumpy.reordering.Select (a.ravel()[idxs] reshaped)."""

    def __init__(self, a, idxs, preferred_shape):
        self.a, self.idxs, self.preferred_shape = a, idxs, preferred_shape


class _FakeSin:
    """A chumpy expression the loader cannot evaluate (its "x" is an input, not the value)."""

    def __init__(self, x):
        self.x = x


def _chumpy_pickle(data):
    """Pickle with the stand-ins registered as chumpy modules, then unregister them."""
    modules = {"chumpy": None, "chumpy.ch": {"Ch": _FakeCh},
               "chumpy.reordering": {"Select": _FakeSelect}, "chumpy.ch_ops": {"Sin": _FakeSin}}
    saved = {cls: (cls.__module__, cls.__qualname__) for cls in (_FakeCh, _FakeSelect, _FakeSin)}
    try:
        for name, classes in modules.items():
            module = sys.modules[name] = types.ModuleType(name)
            for cls_name, cls in (classes or {}).items():
                cls.__module__, cls.__qualname__ = name, cls_name
                setattr(module, cls_name, cls)
        return pickle.dumps(data, protocol=2)
    finally:
        for name in modules:
            del sys.modules[name]
        for cls, (module, qualname) in saved.items():
            cls.__module__, cls.__qualname__ = module, qualname


def test_chumpy_pickle_with_old_scipy_paths_loads_without_chumpy(tmp_path):
    data = fixture_mano_arrays(seed=1)
    data["shapedirs"] = _FakeCh(data["shapedirs"])
    flat = _FakeCh(data["posedirs"].ravel())
    data["posedirs"] = _FakeSelect(flat, np.arange(flat.x.size), (778, 3, 135))
    blob = _chumpy_pickle(data)
    # old module paths, as a Python-2 era MANO file names them (GLOBAL opcodes are plain text)
    blob = blob.replace(b"cscipy.sparse._csc\ncsc_matrix\n", b"cscipy.sparse.csc\ncsc_matrix\n")
    blob = blob.replace(b"cnumpy._core.multiarray\n", b"cnumpy.core.multiarray\n")
    assert b"scipy.sparse.csc\n" in blob and b"numpy.core.multiarray\n" in blob
    assert b"chumpy.ch\nCh\n" in blob and b"chumpy.reordering\nSelect\n" in blob
    assert "chumpy" not in sys.modules
    path = tmp_path / "MANO_RIGHT.pkl"
    path.write_bytes(blob)

    model = load_mano_model(path)
    reference = fixture_mano_arrays(seed=1)
    np.testing.assert_array_equal(model.shapedirs, reference["shapedirs"])
    np.testing.assert_array_equal(model.posedirs, reference["posedirs"])
    np.testing.assert_array_equal(model.J_regressor, reference["J_regressor"].toarray())

    data["weights"] = _FakeSin(data["weights"])
    path.write_bytes(_chumpy_pickle(data))
    with pytest.raises(ManoFormatError, match=r"'weights' is a chumpy\.ch_ops\.Sin expression"):
        load_mano_model(path)


def test_left_shapedirs_fix_flips_only_the_buggy_file(tmp_path, right):
    right3 = write_fixture_mano(tmp_path / "MANO_RIGHT.pkl", seed=0)
    write_fixture_mano(tmp_path / "MANO_LEFT.pkl", seed=0, side="left")
    write_fixture_mano(tmp_path / "left_ok.pkl", seed=0, side="left", left_shapedirs_quirk=False)
    buggy = load_mano_model(tmp_path / "MANO_LEFT.pkl")
    fixed_file = load_mano_model(tmp_path / "left_ok.pkl")
    assert buggy.side == "left" and fixed_file.side == "left"
    np.testing.assert_array_equal(buggy.shapedirs[:, 0], right3["shapedirs"][:, 0])  # the quirk

    fixed = fix_left_shapedirs(buggy, right)
    np.testing.assert_array_equal(fixed.shapedirs[:, 0], -right.shapedirs[:, 0])
    np.testing.assert_array_equal(fixed.shapedirs[:, 1:], buggy.shapedirs[:, 1:])
    np.testing.assert_array_equal(buggy.shapedirs[:, 0], right.shapedirs[:, 0])  # not mutated
    assert fix_left_shapedirs(fixed_file, right) is fixed_file
    assert fix_left_shapedirs(fixed, right) is fixed  # idempotent
    with pytest.raises(ValueError, match="expected .left, right."):
        fix_left_shapedirs(right, buggy)


def test_missing_file_points_to_the_mano_website(tmp_path):
    path = tmp_path / "MANO_RIGHT.pkl"
    with pytest.raises(FileNotFoundError) as info:
        load_mano_model(path)
    message = str(info.value)
    assert str(path) in message and "https://mano.is.tue.mpg.de" in message
    assert "licen" in message
    assert not path.exists()  # nothing was downloaded


def test_unreadable_files_raise_mano_format_error(tmp_path, right_file):
    path = tmp_path / "MANO_RIGHT.pkl"
    cases = {
        "garbage": b"this is not a pickle at all",
        "truncated": right_file[0].read_bytes()[:5000],
        "not a dict": pickle.dumps([1, 2, 3], protocol=2),
        "foreign global": pickle.dumps(os.getcwd, protocol=2),
    }
    for case, blob in cases.items():
        path.write_bytes(blob)
        with pytest.raises(ManoFormatError, match="MANO") as info:
            load_mano_model(path)
        assert str(path) in str(info.value), case
    assert "refusing to load the global" in str(info.value)  # the last case: no code runs


@pytest.mark.parametrize("field, value, expected", [
    ("weights", None, r"missing field 'weights' \(expected shape \(778, 16\)\)"),
    ("shapedirs", np.zeros((778, 3, 9)),
     r"'shapedirs' has shape \(778, 3, 9\), expected \(778, 3, 10\)"),
    ("hands_mean", np.zeros((1, 45)), r"'hands_mean' has shape \(1, 45\), expected \(45,\)"),
    ("J_regressor", np.zeros((21, 778)),
     r"'J_regressor' has shape \(21, 778\), expected \(16, 778\)"),
    ("f", np.full((1538, 3), 778), r"'f' indexes outside 0..777"),
    ("kintree_table", np.array([[-1] + [0] * 14 + [15], list(range(16))]), r"'kintree_table'"),
    ("posedirs", np.full((778, 3, 135), np.nan), r"'posedirs' contains NaN"),
    ("v_template", np.full((778, 3), "a"), r"'v_template' has dtype"),
])
def test_bad_fields_are_named_with_expected_and_found_shapes(tmp_path, field, value, expected):
    data = fixture_mano_arrays(seed=2)
    if value is None:
        del data[field]
    else:
        data[field] = value
    path = tmp_path / "MANO_RIGHT.pkl"
    path.write_bytes(pickle.dumps(data, protocol=2))
    with pytest.raises(ManoFormatError, match=expected) as info:
        load_mano_model(path)
    assert str(path) in str(info.value)


def test_side_comes_from_the_name_or_the_argument(tmp_path, right_file):
    path = tmp_path / "hand.pkl"
    path.write_bytes(right_file[0].read_bytes())
    with pytest.raises(ValueError, match="pass side="):
        load_mano_model(path)
    assert load_mano_model(path, side="left").side == "left"
    with pytest.raises(ValueError, match="side must be"):
        load_mano_model(path, side="both")


# ----------------------------------------------------------------------------- layer


def test_zero_pose_and_betas_give_the_template(right):
    expected_v = torch.as_tensor(right.v_template, dtype=torch.float32).expand(2, -1, -1)
    expected_j = torch.as_tensor(rest_keypoints(right), dtype=torch.float32).expand(2, -1, -1)
    zeros = torch.zeros(2, 3)
    flat = ManoLayer(right, ManoConfig(flat_hand_mean=True))(zeros, torch.zeros(2, 45))
    minus_mean = -torch.as_tensor(right.hands_mean, dtype=torch.float32).expand(2, -1)
    mean = ManoLayer(right)(zeros, minus_mean)
    for out in (flat, mean):
        torch.testing.assert_close(out.vertices, expected_v, atol=1e-7, rtol=0)
        torch.testing.assert_close(out.joints, expected_j, atol=1e-7, rtol=0)
        assert torch.equal(out.faces, torch.as_tensor(right.f))


def test_betas_blend_shapes_and_regress_joints(right):
    betas = random_inputs(2, seed=6)[2]
    out = ManoLayer(right, ManoConfig(flat_hand_mean=True))(torch.zeros(2, 3), torch.zeros(2, 45),
                                                            betas)
    for b in range(2):
        shaped = right.v_template + right.shapedirs @ betas[b].double().numpy()
        np.testing.assert_allclose(out.vertices[b].numpy(), shaped, atol=1e-6)
        np.testing.assert_allclose(out.joints[b].numpy(),
                                   rest_keypoints(replace(right, v_template=shaped)), atol=1e-6)


def test_keypoints_follow_the_interhand_order(right):
    assert MANO_TO_INTERHAND == (16, 15, 14, 13, 17, 3, 2, 1, 18, 6, 5, 4,
                                 19, 12, 11, 10, 20, 9, 8, 7, 0)
    out = ManoLayer(right)(*random_inputs(3)[:3])
    for finger, vertex in enumerate((745, 317, 444, 556, 673)):
        assert JOINT_NAMES[4 * finger].endswith("4")  # tip slot of the kit's order
        assert torch.equal(out.joints[:, 4 * finger], out.vertices[:, vertex])
    assert JOINT_NAMES[4] == "index4" and JOINT_NAMES[20] == "wrist"
    rest = rest_keypoints(right)
    joints = right.J_regressor @ right.v_template
    np.testing.assert_array_equal(rest[[20, 7, 6, 5, 3, 2, 1]], joints[[0, 1, 2, 3, 13, 14, 15]])


def test_global_rotation_and_translation_act_about_the_root_joint(right):
    layer = ManoLayer(right)
    orient, hand_pose, betas, transl = random_inputs(4, seed=1)
    base = layer(torch.zeros(4, 3), hand_pose, betas)
    moved = layer(orient, hand_pose, betas, transl)
    rot = axis_angle_to_matrix(orient)
    root = base.joints[:, 20:21]  # the wrist = MANO joint 0, fixed by the global rotation
    for name in ("vertices", "joints"):
        expected = (getattr(base, name) - root) @ rot.transpose(1, 2) + root + transl[:, None]
        torch.testing.assert_close(getattr(moved, name), expected, atol=1e-6, rtol=1e-5)


def test_lbs_rotates_a_rigid_part_about_its_joint(right):
    """All weight on index PIP (joint 2), only it rotated: the mesh turns rigidly about it."""
    weights = np.zeros_like(right.weights)
    weights[:, 2] = 1.0
    model = replace(right, weights=weights, posedirs=np.zeros_like(right.posedirs))
    layer = ManoLayer(model, ManoConfig(flat_hand_mean=True))
    hand_pose = torch.zeros(1, 45)
    hand_pose[0, 3:6] = torch.tensor([0.3, -0.7, 0.5])  # MANO joint 2 = hand_pose slot 1
    out = layer(torch.zeros(1, 3), hand_pose)

    rot = axis_angle_to_matrix(hand_pose[0, 3:6].double()).numpy()
    joints = model.J_regressor @ model.v_template
    pivot = joints[2]
    expected_v = (model.v_template - pivot) @ rot.T + pivot
    np.testing.assert_allclose(out.vertices[0].numpy(), expected_v, atol=1e-6)
    kp = out.joints[0].numpy()
    np.testing.assert_allclose(kp[6], joints[2], atol=1e-6)  # the pivot (index PIP) stays put
    np.testing.assert_allclose(kp[5], (joints[3] - pivot) @ rot.T + pivot, atol=1e-6)  # its child
    np.testing.assert_allclose(kp[7], joints[1], atol=1e-6)  # its parent stays put


def test_pose_blend_shapes_apply_only_when_posed(right):
    """Root-only weights: vertices = template + posedirs . (R_i - I) of the 15 finger joints."""
    weights = np.zeros_like(right.weights)
    weights[:, 0] = 1.0
    with_blend = replace(right, weights=weights)
    without = replace(with_blend, posedirs=np.zeros_like(right.posedirs))
    config = ManoConfig(flat_hand_mean=True)
    hand_pose = random_inputs(1, seed=2)[1]
    zero = torch.zeros(1, 3)

    rest_a = ManoLayer(with_blend, config)(zero, torch.zeros(1, 45)).vertices
    rest_b = ManoLayer(without, config)(zero, torch.zeros(1, 45)).vertices
    assert torch.equal(rest_a, rest_b)
    posed = ManoLayer(with_blend, config)(zero, hand_pose).vertices[0].double().numpy()
    np.testing.assert_allclose(ManoLayer(without, config)(zero, hand_pose).vertices[0].numpy(),
                               right.v_template, atol=1e-7)  # root-only skinning: no motion
    feature = (axis_angle_to_matrix(hand_pose.double().reshape(15, 3)) - torch.eye(3)).reshape(135)
    expected = right.v_template + right.posedirs @ feature.numpy()
    assert np.abs(expected - right.v_template).max() > 1e-3
    np.testing.assert_allclose(posed, expected, atol=1e-6)


def test_pca_path_equals_axis_angle_with_mean_plus_components(right):
    n_pca = 12
    orient, _, betas, transl = random_inputs(3, seed=3)
    coeffs = random_inputs(3, seed=4, hand_dim=n_pca)[1]
    pca = ManoLayer(right, ManoConfig(use_pca=True, n_pca=n_pca))(orient, coeffs, betas, transl)
    aa_pose = (torch.as_tensor(right.hands_mean) + coeffs.double()
               @ torch.as_tensor(right.hands_components[:n_pca])).float()
    aa = ManoLayer(right, ManoConfig(flat_hand_mean=True))(orient, aa_pose, betas, transl)
    torch.testing.assert_close(pca.vertices, aa.vertices, atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(pca.joints, aa.joints, atol=1e-6, rtol=1e-5)


def test_layer_is_differentiable(right):
    orient, hand_pose, betas, transl = (t.requires_grad_() for t in random_inputs(2, seed=5))
    out = ManoLayer(right)(orient, hand_pose, betas, transl)
    (out.vertices.square().sum() + out.joints.sum()).backward()
    for t in (orient, hand_pose, betas, transl):
        assert t.grad is not None and torch.isfinite(t.grad).all() and t.grad.abs().sum() > 0


def test_bad_inputs_name_the_argument_and_shape(right):
    layer = ManoLayer(right)
    orient, hand_pose, betas, transl = random_inputs(2)
    nan_betas = betas.clone()
    nan_betas[0, 3] = float("nan")
    cases = [
        ((orient[0], hand_pose), r"global_orient must have shape \(B, 3\)"),
        ((orient[:, :2], hand_pose), r"global_orient must have shape \(B, 3\)"),
        ((orient, hand_pose[:, :44]), r"hand_pose must have shape \(B, 45\) .*got \(2, 44\)"),
        ((orient, hand_pose[:1]), r"hand_pose must have shape \(B, 45\) with B = 2, got \(1, 45"),
        ((orient, hand_pose, betas[:, :9]), r"betas must have shape \(B, 10\)"),
        ((orient, hand_pose, nan_betas), "betas contains NaN"),
        ((orient, hand_pose, betas, transl[:, None]), r"transl must have shape \(B, 3\)"),
    ]
    for args, message in cases:
        with pytest.raises(ValueError, match=message):
            layer(*args)
    with pytest.raises(ValueError, match=r"hand_pose must have shape \(B, 6\)"):
        ManoLayer(right, ManoConfig(use_pca=True, n_pca=6))(orient, hand_pose)
    with pytest.raises(TypeError, match="hand_pose must be a torch.Tensor"):
        layer(orient, hand_pose.numpy())
    with pytest.raises(ValueError, match="n_pca must be in 1..45"):
        ManoConfig(use_pca=True, n_pca=0)
