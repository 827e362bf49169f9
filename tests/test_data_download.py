"""dlcourse.data downloads against a local HTTP server on 127.0.0.1 serving the synthetic files:
success, mirror fallback, checksum mismatch, truncated transfer, server gone mid-download,
timeout. Whatever happens, the target folder never keeps a partial file."""

import gzip
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from dlcourse import _download, data
from dlcourse.data import DatasetError


class _Handler(BaseHTTPRequestHandler):
    """Serves server.routes: path -> (body, announced Content-Length, callback or None)."""

    def do_GET(self):
        route = self.server.routes.get(self.path)
        if route is None:
            self.send_error(404)
            return
        body, announced, callback = route
        if callback == "stall":
            self.server.release.wait(10)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(announced))
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()
        if callback == "vanish":  # stop listening before this connection closes
            self.server.socket.close()

    def log_message(self, *args):
        pass


@pytest.fixture
def server(monkeypatch):
    """A threaded HTTP server on 127.0.0.1; set .routes, use .url(mirror)."""
    monkeypatch.setattr(_download, "BACKOFF_S", 0.0)
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.routes = {}
    httpd.release = threading.Event()
    httpd.url = lambda mirror: f"http://127.0.0.1:{httpd.server_address[1]}/{mirror}/"
    thread = threading.Thread(target=httpd.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    yield httpd
    httpd.release.set()
    httpd.shutdown()
    httpd.server_close()
    thread.join(5)


def serve(httpd, mirror: str, files: dict, announce_extra: int = 0, callback=None):
    """Publish {name: bytes} under /<mirror>/<name>."""
    for name, body in files.items():
        httpd.routes[f"/{mirror}/{name}"] = (body, len(body) + announce_extra, callback)


def fetch(spec, mirrors, **kwargs):
    """Load `spec` with downloads from `mirrors` into the data_home fixture's folder."""
    kwargs.setdefault("retries", 2)
    kwargs.setdefault("timeout", 5.0)
    return data.load_dataset(spec, mirrors=mirrors, cache=False, **kwargs)


def leftovers(folder: Path) -> list[str]:
    """Temporary or partial files left in a folder."""
    return sorted(p.name for p in folder.glob(".*")) if folder.exists() else []


def test_download_writes_verified_files(server, synthetic_data, data_home):
    """Does a download from a local mirror give the right arrays and exactly the files, with
    no temporary file left?"""
    serve(server, "good", synthetic_data.fashion)
    (x_train, y_train), _ = fetch(synthetic_data.fashion_spec, [server.url("good")])
    np.testing.assert_array_equal(x_train, synthetic_data.fashion_arrays["x_train"])
    np.testing.assert_array_equal(y_train, synthetic_data.fashion_arrays["y_train"])
    folder = data_home / "fashion-mnist"
    assert sorted(p.name for p in folder.iterdir()) == sorted(synthetic_data.fashion)
    assert (folder / "t10k-labels-idx1-ubyte.gz").read_bytes() == synthetic_data.fashion[
        "t10k-labels-idx1-ubyte.gz"
    ]


def test_download_cifar_archive(server, synthetic_data, data_home):
    """Does the CIFAR archive download and load channels-last?"""
    serve(server, "good", {"cifar-10-python.tar.gz": synthetic_data.cifar_archive})
    (x_train, _), (_, y_test) = fetch(synthetic_data.cifar_spec, [server.url("good")])
    assert x_train.shape == (10, 32, 32, 3) and y_test.shape == (2, 1)
    assert (data_home / "cifar-10" / "cifar-10-python.tar.gz").is_file()


def test_recompressed_download_passes_by_content(server, synthetic_data, data_home):
    """Is a mirror's re-compressed copy (not the official checksum) accepted by content?"""
    files = {
        n: gzip.compress(gzip.decompress(b), 9, mtime=1) for n, b in synthetic_data.fashion.items()
    }
    assert files != synthetic_data.fashion
    serve(server, "good", files)
    fetch(synthetic_data.fashion_spec, [server.url("good")])


def test_falls_back_to_next_mirror(server, synthetic_data, data_home):
    """When the first mirror answers 404, is the second one used?"""
    serve(server, "good", synthetic_data.fashion)
    fetch(synthetic_data.fashion_spec, [server.url("missing"), server.url("good")])


def test_checksum_mismatch_leaves_nothing(server, synthetic_data, data_home):
    """Does a file with the wrong content give an error with expected and found digests,
    and leave no file of that name nor any partial file?"""
    files = dict(synthetic_data.fashion)
    wrong = np.zeros(6, np.uint8)
    files["train-labels-idx1-ubyte.gz"] = gzip.compress(
        bytes([0, 0, 8, 1, 0, 0, 0, 6]) + wrong.tobytes()
    )
    serve(server, "bad", files)
    with pytest.raises(DatasetError) as excinfo:
        fetch(synthetic_data.fashion_spec, [server.url("bad")])
    message = str(excinfo.value)
    expected = synthetic_data.fashion_spec.content_sha256["y_train"]
    for text in [
        "checksum mismatch",
        expected,
        data.array_digest(wrong),
        "train-labels-idx1-ubyte.gz",
    ]:
        assert text in message, f"{text!r} not in:\n{message}"
    folder = data_home / "fashion-mnist"
    assert not (folder / "train-labels-idx1-ubyte.gz").exists()
    assert leftovers(folder) == []


def test_truncated_transfer_leaves_nothing(server, synthetic_data, data_home):
    """Does a transfer shorter than its Content-Length fail clearly after the retries, and
    leave no partial file?"""
    serve(server, "short", {"cifar-10-python.tar.gz": synthetic_data.cifar_archive}, 1000)
    with pytest.raises(DatasetError) as excinfo:
        fetch(synthetic_data.cifar_spec, [server.url("short")])
    message = str(excinfo.value)
    size = len(synthetic_data.cifar_archive)
    assert message.count(f"received {size:,} of the {size + 1000:,} bytes announced") == 2
    assert "set DLCOURSE_DATA_DIR" in message
    folder = data_home / "cifar-10"
    assert list(folder.iterdir()) == []


def test_server_gone_mid_download_leaves_nothing(monkeypatch, synthetic_data, data_home):
    """When the server sends half a file and goes away, is the error clear (truncated, then
    connection refused) and is no partial file left?"""
    monkeypatch.setattr(_download, "BACKOFF_S", 0.0)
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    httpd = HTTPServer(("127.0.0.1", 0), _Handler)
    blob = synthetic_data.cifar_archive
    httpd.routes = {"/m/cifar-10-python.tar.gz": (blob[: len(blob) // 2], len(blob), "vanish")}
    thread = threading.Thread(target=httpd.handle_request, daemon=True)
    thread.start()
    try:
        with pytest.raises(DatasetError) as excinfo:
            fetch(synthetic_data.cifar_spec, [f"http://127.0.0.1:{httpd.server_address[1]}/m/"])
    finally:
        thread.join(5)
        httpd.server_close()
    message = str(excinfo.value)
    assert "truncated transfer" in message and "ConnectionRefusedError" in message, message
    assert list((data_home / "cifar-10").iterdir()) == []


def test_stalled_server_times_out(server, synthetic_data, data_home):
    """Does a server that never answers give a timeout error after `timeout` seconds?"""
    serve(server, "stall", {"cifar-10-python.tar.gz": b""}, callback="stall")
    with pytest.raises(DatasetError, match=r"no data for 0.2 s \(timed out\)"):
        fetch(synthetic_data.cifar_spec, [server.url("stall")], timeout=0.2, retries=1)
    assert list((data_home / "cifar-10").iterdir()) == []


def test_interrupted_download_leaves_nothing(server, synthetic_data, tmp_path):
    """Does Ctrl-C during a download (here: during verification) remove the temporary file?"""
    serve(server, "good", {"x.gz": b"12345"})

    def interrupt(path, sha256):
        assert path.read_bytes() == b"12345"
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        _download.fetch([server.url("good") + "x.gz"], tmp_path / "x.gz", interrupt, progress=False)
    assert list(tmp_path.iterdir()) == []


def test_no_mirror_says_so(synthetic_data, data_home):
    """With downloads on but no mirror configured, does the error say so?"""
    with pytest.raises(DatasetError, match="no mirror URL is configured"):
        data.load_dataset(synthetic_data.fashion_spec, mirrors=(), progress=False)
