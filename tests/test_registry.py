"""The method registry: built-ins, name clashes, suggestions, and entry-point plugins."""
from __future__ import annotations

import sys
import textwrap

import pytest

from reidbench import registry
from reidbench.errors import ReidbenchError


def test_builtins_have_labels_and_configs():
    methods = registry.all_methods()
    spec = methods["hog_euclidean"]
    assert spec.label == "HOG+Euclidean" and spec.family == "handcrafted" and spec.reference
    assert "resize" in spec.config


def test_unknown_method_suggests_close_names():
    with pytest.raises(ReidbenchError, match="unknown method 'hog_euclidan'; did you mean hog_euclidean"):
        registry.get_method("hog_euclidan")


def test_name_clash_is_an_error():
    @registry.register_method("clash_demo", label="A", family="plugin")
    def first(config):
        return None

    with pytest.raises(ReidbenchError, match="method name clash: 'clash_demo'"):
        @registry.register_method("clash_demo", label="B", family="plugin")
        def second(config):
            return None
    registry.METHODS.forget("clash_demo")


def test_unknown_config_key_and_type_coercion():
    spec = registry.MethodSpec("demo", lambda c: c, "Demo", "plugin", config={"k": 3, "lr": 0.1, "on": True})
    assert spec.create({"k": "5", "lr": "1e-3", "on": "false"}) == {"k": 5, "lr": 1e-3, "on": False}
    with pytest.raises(ReidbenchError, match="unknown config key"):
        spec.create({"nope": 1})
    with pytest.raises(ReidbenchError, match="expects int"):
        spec.create({"k": "five"})


def test_plugin_registers_through_an_entry_point(tmp_path, monkeypatch):
    (tmp_path / "my_plugin.py").write_text(textwrap.dedent('''
        import numpy as np
        from reidbench.methods.base import Method
        from reidbench.registry import register_method

        @register_method("plugin_mean_colour", label="Mean colour (plugin)", family="plugin",
                         reference="test", config={"bins": 4})
        class MeanColour(Method):
            def embed(self, images, ctx):
                return np.stack([images.read(i).reshape(-1, 3).mean(0) for i in range(len(images))])
    '''))
    dist = tmp_path / "my_plugin-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: my-plugin\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[reidbench.methods]\nplugin_mean_colour = my_plugin:MeanColour\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    registry.METHODS.reload_plugins()
    try:
        spec = registry.get_method("plugin_mean_colour")
        assert spec.label == "Mean colour (plugin)" and spec.source.startswith("plugin my_plugin")
        assert spec.create({"bins": "8"}).config == {"bins": 8}
    finally:
        registry.METHODS.forget("plugin_mean_colour")
        sys.modules.pop("my_plugin", None)
