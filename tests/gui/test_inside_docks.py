"""The looking-inside panels' frame: each registered panel gets a hidden dock and a View > Panels
entry, its widget is built once when first opened, and `--panel NAME` is checked."""

from __future__ import annotations

import pytest
from PySide6.QtWidgets import QLabel

from nodestudio.gui import inside
from nodestudio.gui.app import EXIT_BAD_INPUT, run_studio
from nodestudio.gui.mainwindow import MainWindow


@pytest.fixture
def probe_panel():
    built: list[MainWindow] = []

    def build(window: MainWindow) -> QLabel:
        built.append(window)
        return QLabel(f"{len(window.document.graph.nodes)} nodes")

    remove = inside.register(inside.PanelSpec("probe-test", "Probe test", build,
                                              summary="a panel for this test", order=999))
    yield built
    remove()


@pytest.fixture
def window(qtbot, probe_panel):
    w = MainWindow(autosave=False, remember_layout=False, modal_dialogs=False)
    qtbot.addWidget(w)
    w.show()
    qtbot.waitExposed(w)
    return w


def test_a_registered_panel_is_in_view_panels_and_built_when_first_opened(window, probe_panel):
    dock = window.inspect_docks["probe-test"]
    assert not dock.isVisible() and probe_panel == []  # nothing built at start-up
    entries = {a.text(): a for a in window.menus["panels"].actions()}
    entry = entries["Probe test"]
    assert entry.statusTip() == "a panel for this test"
    entry.trigger()  # what clicking the menu entry does
    assert dock.isVisible() and probe_panel == [window]
    label = dock.widget()
    assert isinstance(label, QLabel)
    assert label.text() == f"{len(window.document.graph.nodes)} nodes"
    entry.trigger()  # closed, then opened again: the same widget
    entry.trigger()
    assert window.show_panel("probe-test") is label and probe_panel == [window]


def test_an_unknown_panel_is_refused_naming_the_known_ones(window, capsys):
    with pytest.raises(ValueError, match="no panel named 'nope' .*probe-test"):
        window.panel("nope")
    assert run_studio(screenshot="unused.png", panels=["nope"]) == EXIT_BAD_INPUT
    assert "no panel named 'nope'" in capsys.readouterr().err


def test_every_shipped_panel_has_a_unique_lower_case_name():
    names = inside.panel_names()
    assert len(names) == len(set(names))
    assert all(name == name.lower() and " " not in name for name in names)


def test_a_panel_opens_as_a_tab_beside_curves_and_no_tab_bar_shows_before(window, qtbot):
    # hidden docks tabbed in at start-up left a stray "Curves | ..." tab bar over the palette
    from PySide6.QtWidgets import QTabBar

    def visible_tabs() -> list[list[str]]:
        return [[bar.tabText(i) for i in range(bar.count())]
                for bar in window.findChildren(QTabBar) if bar.isVisible()]

    assert not any("Probe test" in tabs or tabs == ["Curves"] for tabs in visible_tabs())
    window.show_panel("probe-test")
    assert window.inspect_docks["probe-test"] in window.tabifiedDockWidgets(
        window.docks["curves"])
    qtbot.waitUntil(lambda: any(set(tabs) >= {"Curves", "Probe test"}
                                for tabs in visible_tabs()))
