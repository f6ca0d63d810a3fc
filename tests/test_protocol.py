"""Protocol sizes on the real layout, trial tables, and identical galleries across methods."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from reidbench.evaluation import evaluate_galleries
from reidbench.data.imageset import VISIBLE
from reidbench.protocols import get_protocol
from reidbench.protocols.sysu_settings import ALL_SETTINGS, sysu_setting as Setting
from reidbench.protocols.sysu import OFFICIAL, SEEDED, official_table, seeded_table
from reidbench.errors import ReidbenchError

EXPECTED = {"all-single": 301, "all-multi": 3010, "indoor-single": 112, "indoor-multi": 1120}


def test_official_sizes_on_the_full_layout(full_layout):
    sysu = get_protocol("sysu")
    pool = sysu.evaluation_set(full_layout)
    probes = pool.subset(sysu.probes(full_layout, ALL_SETTINGS[0]))
    assert len(probes) == 3803 and set(probes.cams) == {3, 6}
    assert int((pool.modality == VISIBLE).sum()) == 6775
    for setting in ALL_SETTINGS:
        gal = sysu.galleries(full_layout, setting, 10)
        assert gal.source == OFFICIAL
        assert [len(g) for g in gal.indices] == [EXPECTED[setting.key]] * 10
        assert len(set(pool.pids[gal.indices[0]])) == (96 if setting.mode == "all" else 56)


def test_valid_probe_counts(full_layout):
    sysu = get_protocol("sysu")
    pool = sysu.evaluation_set(full_layout)
    probes = pool.subset(sysu.probes(full_layout, ALL_SETTINGS[0]))
    rng = np.random.default_rng(0)
    q, g = rng.normal(size=(len(probes), 4)), rng.normal(size=(len(pool), 4))
    for mode, valid in (("all", 3803), ("indoor", 2208)):
        gal = sysu.galleries(full_layout, Setting(mode, "single"), 1).indices
        m = evaluate_galleries(q, g, probes.pids, probes.cams, pool.pids, pool.cams, list(gal))[0]
        assert m.num_valid == valid


def test_trial_i_is_row_i_plus_one_of_the_official_table(full_layout):
    sysu = get_protocol("sysu")
    pool = sysu.evaluation_set(full_layout)
    gal = sysu.galleries(full_layout, Setting("all", "single"), 10)
    table = official_table()
    first_pid = full_layout.ids("test")[0]  # camera 1 comes first, then ascending IDs
    for t in (0, 9):
        k = table[(1, first_pid)][t, 0]  # 1-based position in the sorted folder
        assert pool.paths[gal.indices[t][0]] == f"cam1/{first_pid:04d}/{k:04d}.jpg"
    assert not np.array_equal(gal.indices[0], gal.indices[1])


def test_small_datasets_get_a_labelled_seeded_table(tiny):
    gal = get_protocol("sysu").galleries(tiny, Setting("all", "multi"), 10)
    assert gal.source == SEEDED and "seeded" in gal.note
    again = get_protocol("sysu").galleries(tiny, Setting("all", "multi"), 10)
    assert all(np.array_equal(a, b) for a, b in zip(gal.indices, again.indices))
    table = seeded_table(tiny)
    for (cam, pid), perm in table.items():
        assert perm.shape == (10, tiny.count(cam, pid))
        assert all(sorted(row) == list(range(1, perm.shape[1] + 1)) for row in perm)


def test_agw_mode_is_seeded_and_id_major(full_layout):
    agw = get_protocol("sysu-agw")
    pool = agw.evaluation_set(full_layout)
    gal = agw.galleries(full_layout, Setting("all", "single"), 10)
    assert gal.source == "agw_seeded" and len(gal.indices[0]) == 301
    pids = pool.pids[gal.indices[0]]
    assert np.all(np.diff(pids) >= 0)  # ID-major, unlike the official camera-major order
    assert np.array_equal(gal.indices[3], agw.galleries(full_layout, Setting("all", "single"), 10).indices[3])
    assert "convention" in agw.galleries(full_layout, Setting("all", "multi"), 1).note


def test_bad_protocol_options(full_layout):
    with pytest.raises(ReidbenchError, match="unknown protocol 'sysu-offical'.*did you mean sysu"):
        get_protocol("sysu-offical")
    with pytest.raises(ReidbenchError, match="--trials"):
        get_protocol("sysu").galleries(full_layout, Setting("all", "single"), 11)


def test_gallery_source_wording_without_importing_its_protocol_first():
    """A resumed sweep titles a figure before any protocol module ran: the wording still comes back."""
    code = ("import sys\n"
            "from reidbench.protocols import describe_source\n"
            "assert 'reidbench.protocols.sysu' not in sys.modules\n"
            "print(describe_source('official_rand_perm'))\n"
            "print(describe_source('no_such_source'))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["official trials (rand_perm_cam.mat)", "no_such_source"]


def test_each_protocol_owns_the_wording_of_its_gallery_sources():
    from reidbench.protocols import PROTOCOLS, describe_source

    owned = {name: p.gallery_sources for name, p in PROTOCOLS.all().items()}
    assert set(owned["sysu"]) == {OFFICIAL, SEEDED} and set(owned["sysu-agw"]) == {"agw_seeded"}
    assert set(owned["regdb"]) == set(owned["regdb-iddedup"]) == {"regdb_splits"}
    assert set(owned["llcm"]) == {"llcm_seeded", "llcm_full_vis"}
    for sources in owned.values():
        assert all(describe_source(key) == wording for key, wording in sources.items())


def test_modes_and_shots_are_the_sysu_protocols_selection():
    for name in ("sysu", "sysu-agw"):
        sysu = get_protocol(name)
        assert [s.key for s in sysu.select_settings(("indoor", "all"), None)] == [
            "indoor-single", "indoor-multi", "all-single", "all-multi"]
        assert [s.key for s in sysu.select_settings(None, ("multi", "multi"))] == ["all-multi", "indoor-multi"]
        with pytest.raises(ReidbenchError, match="unknown mode 'outdoor' \\(known: all, indoor\\)"):
            sysu.select_settings(("outdoor",), None)
        with pytest.raises(ReidbenchError, match="unknown shots 'one' \\(known: single, multi\\)"):
            sysu.select_settings(None, ("one",))
        with pytest.raises(ReidbenchError, match="--modes and --shots each need at least one value"):
            sysu.select_settings((), None)
    with pytest.raises(ReidbenchError, match="--modes and --shots are SYSU-MM01's; protocol 'llcm' has the "
                                             "settings ir2vis, vis2ir, vis2ir-testpy \\(--settings\\)"):
        get_protocol("llcm").select_settings(("all",), None)


def test_the_generic_settings_module_holds_no_sysu_facts():
    from reidbench.protocols import settings, sysu_settings

    assert not {"GALLERY_CAMS", "SHOTS", "SysuSetting", "sysu_setting", "ALL_SETTINGS"} & set(vars(settings))
    assert ALL_SETTINGS is sysu_settings.ALL_SETTINGS and [s.key for s in ALL_SETTINGS] == [
        "all-single", "all-multi", "indoor-single", "indoor-multi"]
