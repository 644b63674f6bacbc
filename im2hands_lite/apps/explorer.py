"""Explorers: controls beside a figure that is redrawn on every change (ipywidgets), the
notebooks' sliders and pickers.

    show_explorer(show_pose, {"index": Slider(-0.2, 1.0, 0.05), "turn_deg": Slider(-180, 180, 15, label="turn")})

A headless run (`make run` sets IM2HANDS_HEADLESS=1) draws the first view and makes no widget:
a static page cannot move one, and nbclient, which papermill executes notebooks with, can wait
for ever on widget messages when the machine is busy (jupyter/nbclient#312; seen here with
notebook 03's picker while a training ran beside it).
"""
from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

HEADLESS = "IM2HANDS_HEADLESS"


def is_headless() -> bool:
    """Whether this kernel runs without a front end to move widgets (IM2HANDS_HEADLESS set, not 0)."""
    return os.environ.get(HEADLESS, "") not in ("", "0")


@dataclass(frozen=True)
class Slider:
    """A number from low to high in steps (integers throughout: an integer slider)."""

    low: float
    high: float
    step: float
    value: float | None = None  # None: low
    label: str = ""

    def __post_init__(self):
        if not (self.low < self.high and self.step > 0):
            raise ValueError(f"a slider needs low < high and step > 0, got {self.low}, {self.high}, {self.step}")
        if self.value is not None and not self.low <= self.value <= self.high:
            raise ValueError(f"slider value {self.value} is outside [{self.low}, {self.high}]")

    @property
    def start(self) -> float:
        return self.low if self.value is None else self.value

    def widget(self, name: str):
        import ipywidgets as widgets

        whole = all(float(x).is_integer() for x in (self.low, self.high, self.step, self.start))
        kind = widgets.IntSlider if whole else widgets.FloatSlider
        cast = int if whole else float
        return kind(cast(self.start), min=cast(self.low), max=cast(self.high), step=cast(self.step),
                    description=self.label or name)


@dataclass(frozen=True)
class Choice:
    """One of a list of options."""

    options: Sequence[Any]
    value: Any = None  # None: the first option
    label: str = ""

    def __post_init__(self):
        if not len(self.options):
            raise ValueError("a choice needs at least one option")
        if self.value is not None and self.value not in self.options:
            raise ValueError(f"choice value {self.value!r} is not one of the options {list(self.options)}")

    @property
    def start(self) -> Any:
        return self.options[0] if self.value is None else self.value

    def widget(self, name: str):
        import ipywidgets as widgets

        return widgets.Dropdown(options=list(self.options), value=self.start, description=self.label or name)


def show_explorer(function: Callable[..., Any], controls: dict[str, Slider | Choice],
                  controls_above: bool = False) -> None:
    """Show `controls` (keyword arguments of `function`) beside its output, calling it again on
    every change; `controls_above` puts them in a row above the output. Headless: one call with
    the controls' start values, and a line saying so."""
    start = {name: control.start for name, control in controls.items()}
    if is_headless():
        print("headless run: the explorer's first view (" + ", ".join(f"{k}={v!r}" for k, v in start.items())
              + "); open the notebook in Jupyter to move its controls")
        function(**start)
        return
    import ipywidgets as widgets
    from IPython.display import display

    made = {name: control.widget(name) for name, control in controls.items()}
    output = widgets.interactive_output(function, made)
    if controls_above:
        display(widgets.VBox([widgets.HBox(list(made.values())), output]))
    else:
        display(widgets.HBox([widgets.VBox(list(made.values())), output]))
