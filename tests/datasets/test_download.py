"""download_mnist against a local http.server on 127.0.0.1 serving small IDX files."""

from __future__ import annotations

import functools
import hashlib
import http.server
import socket
import threading
from pathlib import Path

import numpy as np
import pytest

from nodestudio.data import MNIST_SHA256, DatasetError, download_mnist, load_dataset

from .helpers import make_mnist_folder

TIMEOUT = 5.0  # seconds; every network call in these tests is bounded by it


class _Handler(http.server.SimpleHTTPRequestHandler):
    requests: list[str]

    def do_GET(self):  # noqa: N802 - the http.server API
        self.requests.append(self.path)
        super().do_GET()

    def log_message(self, *args):  # keep the test output clean
        pass


@pytest.fixture
def server(tmp_path, monkeypatch):
    """(base URL, served folder, list of requested paths)."""
    for var in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy",
                "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)  # 127.0.0.1 must not go through a proxy
    served = tmp_path / "served"
    make_mnist_folder(served, gz=True)
    requests: list[str] = []
    handler = functools.partial(type("H", (_Handler,), {"requests": requests}),
                                directory=str(served))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02},
                              daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/mnist/", served, requests
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(TIMEOUT)


def _checksums(folder: Path) -> dict[str, str]:
    return {name: hashlib.sha256((folder / name).read_bytes()).hexdigest()
            for name in MNIST_SHA256}


def _serve_under_mnist(served: Path) -> None:
    (served / "mnist").mkdir()
    for name in MNIST_SHA256:
        (served / name).rename(served / "mnist" / name)


def test_download_verifies_and_caches(server, tmp_path):
    base, served, requests = server
    sums = _checksums(served)
    _serve_under_mnist(served)
    seen = []
    folder = download_mnist(tmp_path / "cache" / "mnist", base_url=base, checksums=sums,
                            timeout=TIMEOUT, progress=lambda name, done, total: seen.append(name))
    for name, digest in sums.items():
        assert hashlib.sha256((folder / name).read_bytes()).hexdigest() == digest
    assert set(seen) == set(sums)
    assert sorted(p.name for p in folder.iterdir()) == sorted(sums)  # no temporary files left
    assert len(requests) == 4
    download_mnist(folder, base_url=base, checksums=sums, timeout=TIMEOUT)
    assert len(requests) == 4  # the verified files are the cache: nothing fetched again
    # load_dataset('mnist') finds the cached folder without downloading.
    splits = load_dataset("mnist", cache_dir=tmp_path / "cache", preprocess=None)
    assert splits.train.image_shape == (6, 6) and len(splits.test) == 20


def test_load_dataset_downloads_on_request(server, tmp_path, monkeypatch):
    base, served, requests = server
    sums = _checksums(served)
    _serve_under_mnist(served)
    import nodestudio.data.loader as loader

    monkeypatch.setattr(loader, "download_mnist", functools.partial(
        download_mnist, base_url=base, checksums=sums, timeout=TIMEOUT))
    splits = load_dataset("mnist", cache_dir=tmp_path, download=True)
    assert len(splits.test) == 20 and len(requests) == 4
    assert np.isclose(splits.train.x.max(), 1.0)


def test_checksum_mismatch_keeps_nothing(server, tmp_path):
    base, served, _ = server
    sums = _checksums(served)
    _serve_under_mnist(served)
    sums["train-labels-idx1-ubyte.gz"] = "0" * 64
    with pytest.raises(DatasetError) as info:
        download_mnist(tmp_path / "c", base_url=base, checksums=sums, timeout=TIMEOUT)
    message = str(info.value)
    assert "train-labels-idx1-ubyte.gz" in message and "SHA-256 mismatch" in message
    assert not (tmp_path / "c" / "train-labels-idx1-ubyte.gz").exists()
    assert not list((tmp_path / "c").glob("*.part"))


def test_mirror_fallback_and_http_errors(server, tmp_path):
    base, served, requests = server
    sums = _checksums(served)
    _serve_under_mnist(served)
    missing = base.replace("/mnist/", "/absent/")
    folder = download_mnist(tmp_path / "c", base_url=[missing, base], checksums=sums,
                            timeout=TIMEOUT)
    assert len(list(folder.iterdir())) == 4
    with pytest.raises(DatasetError, match="HTTP 404"):
        download_mnist(tmp_path / "d", base_url=missing, checksums=sums, timeout=TIMEOUT)


def test_refuses_other_schemes(tmp_path):
    with pytest.raises(DatasetError, match="only http and https"):
        download_mnist(tmp_path, base_url="file:///etc/", checksums={"passwd": "0" * 64})


def test_connection_refused_and_stalled_server(tmp_path, monkeypatch):
    monkeypatch.delenv("http_proxy", raising=False)
    with socket.socket() as probe:  # a port with nobody listening
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(DatasetError, match="cannot connect"):
        download_mnist(tmp_path, base_url=f"http://127.0.0.1:{port}/", checksums={"a": "0"},
                       timeout=TIMEOUT)
    # A server that accepts the connection and never answers: the read timeout ends it.
    with socket.socket() as stall:
        stall.bind(("127.0.0.1", 0))
        stall.listen(1)
        with pytest.raises(DatasetError, match="timed out"):
            download_mnist(tmp_path, base_url=f"http://127.0.0.1:{stall.getsockname()[1]}/",
                           checksums={"a": "0"}, timeout=0.3)


def test_the_error_for_absent_mnist_names_the_download_flag(tmp_path):
    with pytest.raises(DatasetError, match="add --download to the command line"):
        load_dataset("mnist", cache_dir=tmp_path)


@pytest.mark.opencl
def test_nodestudio_train_downloads_mnist_with_the_flag(server, tmp_path, monkeypatch, capsys):
    import nodestudio as ns
    import nodestudio.data.download as download
    from nodestudio.cli import main
    base, served, requests = server
    sums = _checksums(served)
    _serve_under_mnist(served)
    monkeypatch.setattr(download, "MNIST_MIRRORS", (base,))  # the local server, 6 x 6 images
    monkeypatch.setattr(download, "MNIST_SHA256", sums)
    monkeypatch.setenv("NODESTUDIO_DATA_DIR", str(tmp_path / "cache"))
    x, y = ns.tensor("x", (None, 36)), ns.ivector("y")
    logits = ns.dense(x, ns.shared(np.zeros((36, 10)), "W"), ns.shared(np.zeros(10), "b"))
    ns.save({"loss": ns.softmax_cross_entropy(logits, y)}, tmp_path / "g.json")
    argv = ["train", str(tmp_path / "g.json"), "--data", "mnist", "--epochs", "1",
            "--out", str(tmp_path / "run")]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "mnist is not available offline; add --download" in err and requests == []
    assert main([*argv, "--download"]) == 0
    err = capsys.readouterr().err
    assert len(requests) == 4 and "downloaded train-images-idx3-ubyte.gz" in err
    assert sorted(p.name for p in (tmp_path / "cache" / "mnist").iterdir()) == sorted(sums)
    assert (tmp_path / "run" / "metrics.json").is_file()
    assert main(argv) == 0 and len(requests) == 4  # found in the cache from now on
