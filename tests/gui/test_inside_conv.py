"""Looking inside a conv net (resources/examples/lenet.json): the Filters panel shows each conv
filter as its kernels, one per input channel (tiles read back from the drawn image), a real
click picks a filter; the activation previews draw a conv layer's output as feature maps (the
cells of the picture equal the channels of a float64 forward pass on the same rows); and a
LeNet run started with the Train button shows live filters and ends with its figures."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPointF, Qt

from nodestudio.graph import fileformat
from nodestudio.gui.canvas.previews import MAX_MAPS, Preview, colours
from nodestudio.gui.inside.filters import FILTER_GAP, GAP, filter_tile
from nodestudio.gui.inside.live import live_values
from nodestudio.ir.convert import from_document
from nodestudio.ir.reference import evaluate
from nodestudio.train.settings import load_data

LENET = "resources/examples/lenet.json"
LONG = 300_000  # ms: LeNet's first compile on PoCL


@pytest.fixture
def window(studio):
    return studio()


def _click_tile(qtbot, panel, unit):
    """A real left click in the middle of tile `unit`, through the view's viewport."""
    top, left = panel.tile_origin(unit)
    middle = QPointF(left + panel.shape[1] / 2, top + panel.shape[0] / 2)
    point = panel.graphics.mapFromScene(panel.image.mapToScene(middle))
    qtbot.mouseClick(panel.graphics.viewport(), Qt.MouseButton.LeftButton, pos=point)


def _kernel(tile, channel, columns=5, k=5):
    """Kernel `channel` of a filter's k x k kernels laid out row by row, `columns` per row."""
    r, c = divmod(channel, columns)
    return tile[r * (k + GAP):r * (k + GAP) + k, c * (k + GAP):c * (k + GAP) + k]


def test_the_filters_panel_shows_each_conv_filter_as_its_kernels(qtbot, window):
    assert window.open_path(LENET, ask=False)
    rng = np.random.default_rng(7)
    W1 = rng.normal(0.0, 0.2, (20, 1, 5, 5)).astype(np.float32)
    W2 = rng.normal(0.0, 0.1, (50, 20, 5, 5)).astype(np.float32)
    window.document.set_values({"conv1/W": W1, "conv2/W": W2})
    panel = window.show_panel("filters")
    qtbot.waitUntil(lambda: panel.weights is not None and panel.weights.shape == W1.shape)
    layers = [panel.layer.itemData(i) for i in range(panel.layer.count())]
    assert layers[0] == "conv1/W" and set(layers) == {"conv1/W", "conv2/W", "hidden/W",
                                                      "logits/W"}
    assert panel.layer.currentText() == "conv1/W  (20 × 1 × 5 × 5) → conv1"
    # one channel: each tile is the filter's one 5 x 5 kernel, the tiles FILTER_GAP apart
    assert panel.shape == (5, 5) and panel.count == 20 and panel.gap == FILTER_GAP
    assert panel.limit_label.text() == "Filters" and not panel.shape_edit.isEnabled()
    for f in (0, 9, 19):
        np.testing.assert_array_equal(panel.tile(f), W1[f, 0])
    top, left = panel.tile_origin(1)
    assert (top, left) == (0, 5 + FILTER_GAP)
    assert np.isnan(panel.image.image[:5, 5:5 + FILTER_GAP]).all()  # the gap is transparent
    scale = float(np.abs(W1).max())
    assert panel.colorbar.levels() == pytest.approx((-scale, scale))
    assert "20 of 20 filters of conv1/W, 1 kernel of 5×5 each" in panel.tiles_plot.titleLabel.text

    _click_tile(qtbot, panel, 13)
    assert panel.unit == 13
    np.testing.assert_array_equal(panel.unit_image.image, W1[13, 0])
    assert panel.unit_label.text().startswith(
        f"conv1/W, filter 13: 1 kernel of 5×5 (one per input channel), weights from "
        f"{W1[13].min():.4g} to {W1[13].max():.4g}")

    # twenty channels: each filter's 20 kernels in a 4 x 5 grid, one pixel apart
    panel.layer.setCurrentIndex(layers.index("conv2/W"))
    assert panel.shape == (4 * 6 - 1, 5 * 6 - 1) and panel.count == 50
    assert "50 filters of conv2/W, 20 kernels of 5×5 each" in panel.tiles_plot.titleLabel.text
    for f in (0, 31, 49):
        tile = panel.tile(f)
        for c in (0, 4, 5, 19):
            np.testing.assert_array_equal(_kernel(tile, c), W2[f, c])
        assert np.isnan(tile[5, :]).all() and np.isnan(tile[:, 5]).all()  # between kernels
    np.testing.assert_array_equal(filter_tile(W2[31]), panel.tile(31))
    _click_tile(qtbot, panel, 31)
    assert panel.unit == 31
    np.testing.assert_array_equal(panel.unit_image.image, filter_tile(W2[31]))
    assert "filter 31: 20 kernels of 5×5" in panel.unit_label.text()
    # "Filters" limits the count with the keyboard
    panel.limit.lineEdit().selectAll()
    qtbot.keyClicks(panel.limit.lineEdit(), "8")
    qtbot.keyClick(panel.limit.lineEdit(), Qt.Key_Return)
    assert panel.count == 8 and panel.columns * ((panel.count - 1) // panel.columns + 1) >= 8

    # a dense layer again: units, typed tile shapes allowed
    panel.layer.setCurrentIndex(layers.index("hidden/W"))
    assert panel.shape_edit.isEnabled() and panel.limit_label.text() == "Units"
    assert panel.shape == (25, 32) and panel.gap == GAP


def test_a_conv_output_previews_as_its_first_feature_maps():
    rng = np.random.default_rng(1)
    maps = rng.normal(size=(20, 24, 24))
    preview = Preview.of(maps)
    assert preview.kind == "maps" and preview.extra["maps"] == MAX_MAPS
    columns = preview.extra["columns"]
    assert columns == 4  # 4 x 2 maps of 24 x 24 fill the 120 x 72 box best
    for c in range(MAX_MAPS):
        r, k = divmod(c, columns)
        np.testing.assert_array_equal(preview.grid[r * 25:r * 25 + 24, k * 25:k * 25 + 24],
                                      maps[c])
    assert np.isnan(preview.grid[24, :]).all() and np.isnan(preview.grid[:, 24]).all()
    assert preview.caption.startswith("8/20 maps  [")
    assert preview.diverging
    few = Preview.of(np.abs(rng.normal(size=(3, 4, 4))))  # all of them, no "maps" count
    assert few.kind == "maps" and few.extra["maps"] == 3 and few.caption.startswith("3 maps")
    assert Preview.of(np.ones((1, 28, 28))).kind == "image"  # one channel: an image


def _lenet_forward(graph, x):
    """Each LeNet node's output on rows x, by the float64 reference interpreter."""
    loaded = from_document(graph)
    names = ["images", "conv1", "pool1", "conv2", "pool2"]
    outs = evaluate([loaded.variables[n][0] for n in names], {loaded.inputs["x"]: x})
    return dict(zip(names, outs))


@pytest.mark.opencl
def test_lenet_previews_show_feature_maps_of_the_chosen_example(qtbot, window):
    assert window.open_path(LENET, ask=False)
    panel = window.show_panel("activations")
    qtbot.waitUntil(lambda: panel.values.snapshot is not None, timeout=LONG)
    snapshot = panel.values.snapshot
    panel.example.lineEdit().selectAll()
    qtbot.keyClicks(panel.example.lineEdit(), "3")
    qtbot.keyClick(panel.example.lineEdit(), Qt.Key_Return)
    assert panel.example.value() == 3
    x = load_data(window.training.settings()).train.x[list(snapshot.rows)]
    ref = _lenet_forward(window.document.graph, x.astype(np.float64))
    items = panel.previews.items
    assert items["images"].preview.kind == "image"  # one channel of 28 x 28
    np.testing.assert_allclose(items["images"].preview.grid, ref["images"][3, 0], atol=1e-6)
    for node, shape in (("conv1", (20, 24, 24)), ("pool1", (20, 12, 12)),
                        ("conv2", (50, 8, 8)), ("pool2", (50, 4, 4))):
        preview = items[node].preview
        assert preview.kind == "maps" and preview.shape == shape, node
        h, w = shape[1:]
        columns = preview.extra["columns"]
        for c in range(MAX_MAPS):
            r, k = divmod(c, columns)
            np.testing.assert_allclose(
                preview.grid[r * (h + 1):r * (h + 1) + h, k * (w + 1):k * (w + 1) + w],
                ref[node][3, c], rtol=1e-4, atol=1e-5, err_msg=f"{node} map {c}")
        want, _ = colours(preview.grid)
        np.testing.assert_array_equal(preview.rgb, want)  # what the QImage holds
        assert items[node].image.width() == preview.grid.shape[1]


@pytest.mark.opencl
def test_lenet_trains_from_the_train_button_with_live_filters(qtbot, window):
    assert window.open_path(LENET, ask=False)
    panel = window.show_panel("filters")
    qtbot.waitUntil(lambda: panel.weights is not None)
    seen = []

    def check(snapshot):
        if snapshot is not None and window.training.session.running:
            W = snapshot.params["conv1/W"]
            seen.append(all(np.array_equal(panel.tile(f), W[f, 0]) for f in range(20)))
            seen.append(panel.source.text().startswith("live: iteration"))

    live_values(window).draw.connect(check)
    training = window.training
    assert training.batch_size.value() == 50  # the file's settings
    training.epochs.setValue(1)
    with qtbot.waitSignal(training.session.finished, timeout=LONG) as finished:
        qtbot.mouseClick(training.train_button, Qt.MouseButton.LeftButton)
    history = finished.args[0]
    assert seen and all(seen)
    assert history.test_error is not None and history.test_error < 0.2
    trained = window.document.parameter_values()["conv1/W"]
    qtbot.waitUntil(lambda: panel.source.text() == "trained values")
    np.testing.assert_array_equal(panel.tile(4), trained[4, 0])
    assert fileformat.load(LENET).values == {}  # the example file itself is untouched


def _retype(qtbot, line_edit, text):
    """Replace a field's text the way a user does: select all, type, press Enter."""
    line_edit.setFocus()
    line_edit.selectAll()
    qtbot.keyClick(line_edit, Qt.Key_Backspace)
    qtbot.keyClicks(line_edit, text)
    qtbot.keyClick(line_edit, Qt.Key_Return)


def test_conv_and_pool_nodes_are_in_the_palette_and_edited_in_the_inspector(qtbot, window):
    palette = window.palette
    assert palette._ops["conv2d_layer"].parent().text(0) == "Layers"
    for op in ("max_pool2d", "avg_pool2d", "conv2d"):
        assert palette._ops[op].parent().text(0) == "Convolution"
    categories = [palette.tree.topLevelItem(i).text(0)
                  for i in range(palette.tree.topLevelItemCount())]
    assert categories.index("Convolution") == categories.index("Activation") + 1

    assert window.open_path(LENET, ask=False)
    scene, document, inspector = window.scene, window.document, window.inspector

    def wire(src, dst):
        return next(item.label for edge, item in scene.edges.items()
                    if edge.src.node == src and edge.dst.node == dst)

    assert scene.nodes["pool1"]._label == "2x2"
    assert scene.nodes["conv1"]._label == "20 @ 5x5, tanh"
    assert wire("conv1", "pool1") == "B x 20 x 24 x 24"
    assert wire("pool1", "conv2") == "B x 20 x 12 x 12"
    inspector.show_nodes(["pool1"])
    assert set(inspector.editors) == {"size", "stride", "padding", "ignore_border"}
    with qtbot.waitSignal(document.annotated):
        _retype(qtbot, inspector.editors["size"].widget, "3, 3")
    assert tuple(document.graph.nodes["pool1"].attrs["size"]) == (3, 3)
    qtbot.waitUntil(lambda: wire("pool1", "conv2") == "B x 20 x 8 x 8")
    assert scene.nodes["pool1"]._label == "3x3"
    with qtbot.waitSignal(document.annotated):
        _retype(qtbot, inspector.editors["stride"].widget, "(2, 2)")
    qtbot.waitUntil(lambda: wire("pool1", "conv2") == "B x 20 x 11 x 11")
    assert scene.nodes["pool1"]._label == "3x3, stride 2"
    document.undo_stack.undo()
    document.undo_stack.undo()
    qtbot.waitUntil(lambda: wire("pool1", "conv2") == "B x 20 x 12 x 12")

    inspector.show_nodes(["conv1"])
    assert {"filters", "kernel_size", "stride", "padding", "activation"} <= set(
        inspector.editors)
    with qtbot.waitSignal(document.annotated):
        _retype(qtbot, inspector.editors["filters"].widget.lineEdit(), "16")
    qtbot.waitUntil(lambda: wire("conv1", "pool1") == "B x 16 x 24 x 24")
    assert scene.nodes["conv1"]._label == "16 @ 5x5, tanh"
    with qtbot.waitSignal(document.annotated):
        _retype(qtbot, inspector.editors["padding"].widget, "2")
    qtbot.waitUntil(lambda: wire("conv1", "pool1") == "B x 16 x 28 x 28")
    assert "pad 2" in scene.nodes["conv1"]._label
    note = document.annotation
    assert note.owned["conv1/W"].shape == (16, 1, 5, 5)
