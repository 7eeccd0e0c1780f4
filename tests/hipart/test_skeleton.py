from hipart import skeleton


def test_h36m_tables_are_consistent():
    assert len(skeleton.H36M_NAMES) == len(skeleton.H36M_PARENTS) == 17
    assert skeleton.NUM_BONES == 16
    assert all(p < c for p, c in skeleton.H36M_BONES)
    for a, b in skeleton.H36M_FLIP_PAIRS:
        left, right = sorted((skeleton.H36M_NAMES[a], skeleton.H36M_NAMES[b]))
        assert left[0] == "L" and right[0] == "R" and left[1:] == right[1:]
    perm = skeleton.H36M_FLIP_PERM
    assert all(perm[perm[j]] == j for j in range(17))
    assert len(skeleton.COCO_NAMES) == 17 and len(skeleton.EVAL14) == 14


def test_center_to_periphery_order():
    order = skeleton.bone_order_center_to_periphery()
    assert sorted(order) == list(range(16))
    # bones leaving the pelvis (to RHip, LHip, Spine) come first, hands and feet last
    assert order[:3] == (0, 3, 6)
    depth = skeleton.joint_depth()
    proximal = [depth[skeleton.H36M_BONES[b][0]] for b in order]
    assert proximal == sorted(proximal)
    assert order[-1] == 15  # RElbow->RWrist
