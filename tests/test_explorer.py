"""The notebooks' explorers (apps/explorer.py): widgets in Jupyter, the first view when headless."""
import ipywidgets as widgets
import pytest

from im2hands_lite.apps import explorer
from im2hands_lite.apps.explorer import HEADLESS, Choice, Slider, show_explorer


def test_headless_draws_the_first_view_and_makes_no_widget(monkeypatch, capsys):
    monkeypatch.setenv(HEADLESS, "1")
    made = []
    monkeypatch.setattr(widgets.Widget, "__init__", lambda self, **kw: made.append(self))
    calls = []
    show_explorer(lambda joint, depth: calls.append((joint, depth)),
                  {"joint": Choice(["tip", "wrist"], value="wrist"), "depth": Slider(-5, 5, 1)})
    assert calls == [("wrist", -5)] and made == []
    assert "headless run" in capsys.readouterr().out


def test_in_jupyter_the_controls_are_widgets_of_the_right_kind(monkeypatch):
    monkeypatch.setenv(HEADLESS, "0")
    shown = []
    monkeypatch.setattr("IPython.display.display", lambda box: shown.append(box))
    calls = []
    show_explorer(lambda seed, curl, kind: calls.append((seed, curl, kind)),
                  {"seed": Slider(0, 50, 1, value=3), "curl": Slider(-0.2, 1.0, 0.05, value=0.0, label="index"),
                   "kind": Choice(["grip", "crossed"])})
    (box,) = shown
    controls, output = box.children
    seed, curl, kind = controls.children
    assert isinstance(seed, widgets.IntSlider) and (seed.value, seed.min, seed.max) == (3, 0, 50)
    assert isinstance(curl, widgets.FloatSlider) and curl.description == "index" and curl.step == 0.05
    assert isinstance(kind, widgets.Dropdown) and kind.value == "grip" and kind.description == "kind"
    assert isinstance(output, widgets.Output)
    seed.value = 7  # a change calls the function again with every control's value
    assert calls[-1] == (7, 0.0, "grip")
    show_explorer(lambda seed: None, {"seed": Slider(0, 5, 1)}, controls_above=True)
    assert isinstance(shown[-1], widgets.VBox) and isinstance(shown[-1].children[0], widgets.HBox)


def test_bad_controls_are_refused_clearly():
    with pytest.raises(ValueError, match="low < high"):
        Slider(1, 1, 0.1)
    with pytest.raises(ValueError, match="outside"):
        Slider(0, 1, 0.1, value=2)
    with pytest.raises(ValueError, match="not one of the options"):
        Choice(["a", "b"], value="c")
    with pytest.raises(ValueError, match="at least one option"):
        Choice([])


def test_headless_reads_the_environment(monkeypatch):
    for value, expected in (("", False), ("0", False), ("1", True), ("yes", True)):
        monkeypatch.setenv(HEADLESS, value)
        assert explorer.is_headless() is expected
    monkeypatch.delenv(HEADLESS)
    assert explorer.is_headless() is False
