"""The Python API (`cusprun.Session`) against a real private sidecar, and its refusals."""

import json
import shutil
import sys
import threading
import xml.etree.ElementTree as ET
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from cusprun.errors import CusprunError
from cusprun.inputs import write_manifest
from cusprun.session import Session
from cusprun.tables import ablation_rows
from kernel_helpers import CORPUS, MC, MODEL, ROOT, SIDECAR_JS, process_gone

needs_sidecar = pytest.mark.skipif(
    not SIDECAR_JS.is_file() or shutil.which("node") is None,
    reason="needs node and the built sidecar (npm run build:node)",
)


@needs_sidecar
def test_a_private_session_runs_the_workflow_as_plain_data(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("CUSPRUN_SIDECAR_URL", raising=False)
    monkeypatch.setenv("CUSPRUN_SIDECAR_JS", str(SIDECAR_JS))
    with Session(store=str(tmp_path / "store")) as s:
        pid = s.sidecar.pid
        assert s.health_info["protocol"] == 1 and s.health_info["pid"] == pid
        assert s.model(MODEL)["family"] == "llama"
        assert s.corpus(CORPUS)["documentsPerDimension"] == 8
        events = []
        result = s.score("api-run", on_event=events.append)
        assert result["run"] == "api-run" and result["scored"] == 24 and result["complete"]
        kinds = [e["type"] for e in events]
        assert kinds[0] == "job-queued" and kinds[-1] == "job-done"
        assert "progress" in kinds and "histogram" in kinds

        answer = s.sigma(0.5)
        assert 0 <= answer["plan"]["ratio"] < 1 and answer["layers"]
        solved = s.sigma(target_ratio=0.02)
        assert abs(solved["plan"]["ratio"] - 0.02) < 0.02
        strict = s.sigma(target_ratio=0.2, rule="paper")["plan"]
        assert strict["rule"] == "paper" and solved["plan"]["rule"] == "rank-mean"
        assert s.ranks(rule="paper")["rule"] == "paper"
        charts = s.charts("plan", sigma=0.5)["charts"]
        assert [c["name"] for c in charts] == [
            "relevance-histogram",
            "ratio-vs-sigma",
            "pruned-per-layer",
        ]
        for chart in charts:
            assert ET.fromstring(chart["svg"]).tag.endswith("svg")

        sweep = s.sweep([0.3, 0.5], eval_sets=[f"mc={MC}"], methods=["cus-prun", "random"])
        assert sweep["file"].startswith("sweeps/") and len(sweep["record"]["points"]) == 4
        ablation = s.ablate(0.02, eval_sets=[str(MC)])
        assert ablation["record"]["rows"]
        # General calibration at the 3D expert's counts, last, labelled as the CLI labels it.
        rows = ablation_rows(ablation["record"])
        assert rows[-1]["dimensions"] == "general (3D counts)"
        assert rows[-1]["ratio"] == rows[-2]["ratio"] == ablation["record"]["rows"][-1]["ratio"]
        pruned = s.prune("out/expert", target_ratio=0.02)
        assert pruned["bytesAfter"] < pruned["bytesBefore"]
        assert (tmp_path / "out/expert/model.onnx").is_file()
        assert [r["id"] for r in s.runs()] == ["api-run"]

        # General pruning's calibration: the baselines on another run's documents.
        s.corpus(CORPUS.parent / "medical.yaml")
        s.score("medical-run")
        calibrated = s.sweep(
            [0.3],
            eval_sets=[f"mc={MC}"],
            methods=["general"],
            run="api-run",
            baseline_run="medical-run",
        )["record"]
        assert calibrated["baselineRun"] == str(tmp_path / "store" / "medical-run")
        assert "baselineRun" not in sweep["record"]
        elsewhere = s.ablate(0.02, eval_sets=[str(MC)], run="api-run", baseline_run="medical-run")[
            "record"
        ]
        assert elsewhere["baselineRun"] == calibrated["baselineRun"]
        assert "baselineRun" not in ablation["record"]
        assert elsewhere["general"]["ratio"] == ablation["record"]["general"]["ratio"]

        with pytest.raises(CusprunError, match="σ must lie strictly between 0 and 1"):
            s.sigma(1.5)
        with pytest.raises(CusprunError, match='"rule" must be one of paper, q, pooled-intersect'):
            s.sigma(0.5, rule="mean")
        with pytest.raises(CusprunError, match="no such evaluation set"):
            s.sweep([0.3], eval_sets=["/no/such.jsonl"])
        with pytest.raises(CusprunError, match="must lie in the sidecar's working folder"):
            s.prune(tmp_path.parent / "outside", sigma=0.5)
    assert process_gone(pid) or s.sidecar is None


@needs_sidecar
def test_a_manifest_from_dimensions(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = write_manifest(
        {"language": str(ROOT / "fixtures/corpora/language/de.txt")}, documents=3, name="x"
    )
    manifest = json.loads(path.read_text())
    assert manifest["documents"] == 3
    assert manifest["dimensions"]["language"]["format"] == "lines"
    with pytest.raises(CusprunError, match="no such corpus file"):
        write_manifest({"task": "nope.jsonl"})


def test_a_sidecar_of_another_protocol_is_refused_clearly():
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            body = json.dumps({"status": "ok", "protocol": 2}).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with pytest.raises(CusprunError, match="speaks protocol 2") as caught:
            Session(f"http://127.0.0.1:{server.server_port}", "t")
        assert caught.value.code == "protocol-mismatch"
        assert "\n" not in str(caught.value)
    finally:
        server.shutdown()


def test_missing_node_or_sidecar_is_one_clear_line(monkeypatch, tmp_path):
    monkeypatch.delenv("CUSPRUN_SIDECAR_URL", raising=False)
    monkeypatch.setenv("CUSPRUN_SIDECAR_JS", str(tmp_path / "nope.js"))
    with pytest.raises(CusprunError, match="CUSPRUN_SIDECAR_JS=.*no such file"):
        Session()
    monkeypatch.setenv("CUSPRUN_SIDECAR_JS", str(SIDECAR_JS))
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("CUSPRUN_NODE", raising=False)
    with pytest.raises(CusprunError, match="no `node` on the PATH"):
        Session()
    monkeypatch.setenv("CUSPRUN_SIDECAR_URL", "http://127.0.0.1:9")
    monkeypatch.delenv("CUSPRUN_SIDECAR_TOKEN", raising=False)
    with pytest.raises(CusprunError, match="CUSPRUN_SIDECAR_TOKEN is not"):
        Session()


def test_tables_become_data_frames_when_pandas_is_there(monkeypatch):
    from cusprun.tables import frame, rows_of

    record = {
        "kind": "sweep",
        "dense": [{"evalSet": "mc", "metric": "accuracy", "value": 0.5}],
        "points": [
            {
                "method": "cus-prun",
                "sigma": 0.3,
                "ratio": 0.1,
                "metrics": [{"evalSet": "mc", "metric": "accuracy", "value": 0.4}],
            }
        ],
    }
    rows = rows_of({"file": "sweeps/a.json", "record": record})
    assert rows[1] == {"method": "cus-prun", "sigma": 0.3, "ratio": 0.1, "mc accuracy": 0.4}

    class FakePandas:
        @staticmethod
        def DataFrame(rows):
            return ("frame", rows)

    monkeypatch.setitem(sys.modules, "pandas", FakePandas)
    assert frame({"record": record}) == ("frame", rows)
    monkeypatch.setitem(sys.modules, "pandas", None)
    with pytest.raises(CusprunError, match="pandas is not installed"):
        frame({"record": record})


@needs_sidecar
def test_without_websocket_client_a_job_is_followed_by_polling(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("CUSPRUN_SIDECAR_URL", raising=False)
    monkeypatch.setitem(sys.modules, "websocket", None)
    with Session(store=str(tmp_path / "store")) as s:
        s.model(MODEL)
        s.corpus(CORPUS)
        events = []
        result = s.score("polled", on_event=events.append)
        assert result["scored"] == 24
        assert events[-1]["type"] == "job-done"
        with pytest.raises(CusprunError, match="no such"):
            s.score("polled-2", corpus=str(tmp_path / "missing.yaml"))
