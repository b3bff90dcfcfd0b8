import json
import shutil
import subprocess
import sys
import zipfile


def build_wheel(source, out):
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-build-isolation",
            "--no-deps",
            "-w",
            out,
            source,
        ],
        capture_output=True,
        text=True,
    )


def build_sdist(source, out):
    code = f"from hatchling.build import build_sdist; build_sdist({str(out)!r})"
    return subprocess.run([sys.executable, "-c", code], cwd=source, capture_output=True, text=True)


def test_wheel_ships_the_labextension_and_the_server_config(root, tmp_path):
    result = build_wheel(root, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    (wheel,) = tmp_path.glob("cusprun-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    data = next(n.split("/")[0] for n in names if ".data/" in n)
    share = f"{data}/data/share/jupyter/labextensions/cusprun"
    assert f"{share}/package.json" in names
    assert f"{share}/install.json" in names
    assert any(n.startswith(f"{share}/static/remoteEntry.") for n in names)
    assert f"{data}/data/etc/jupyter/jupyter_server_config.d/cusprun.json" in names
    assert "cusprun/__init__.py" in names
    # The sidecar's dependencies never reach the frontend bundle: not in the builder's list of
    # bundled packages, and not in the code (protobufjs' reader error, onnxruntime's session
    # class; the word "onnxruntime" itself is a label of the panel's run comparison).
    archive = zipfile.ZipFile(wheel)
    licenses = json.loads(archive.read(f"{share}/static/third-party-licenses.json"))
    bundled = {package["name"] for package in licenses["packages"]}
    assert not bundled & {"onnxruntime-node", "onnxruntime-common", "protobufjs", "long"}
    bundle = b"".join(archive.read(n) for n in names if n.endswith(".js"))
    assert b"InferenceSession" not in bundle
    assert b"invalid wire type" not in bundle


def test_wheel_and_sdist_refuse_to_build_without_the_labextension(root, tmp_path):
    source = tmp_path / "source"
    source.mkdir()
    for name in ["pyproject.toml", "README.md", "LICENSE", "install.json"]:
        shutil.copy(root / name, source / name)
    shutil.copytree(root / "jupyter-config", source / "jupyter-config")
    shutil.copytree(
        root / "kernel-bridge",
        source / "kernel-bridge",
        ignore=shutil.ignore_patterns("labextension", "__pycache__", "tests"),
    )
    result = build_wheel(source, tmp_path / "out")
    assert result.returncode != 0
    assert "the JupyterLab extension is not built" in result.stdout + result.stderr
    assert not list((tmp_path / "out").glob("*.whl"))

    result = build_sdist(source, tmp_path / "out")
    assert result.returncode != 0
    assert "the JupyterLab extension is not built" in result.stderr
    assert not list((tmp_path / "out").glob("*.tar.gz"))


def test_the_sdist_carries_the_labextension_into_its_wheel(root, tmp_path):
    # `pip install cusprun-*.tar.gz` builds the wheel from the sdist, where the git-ignored
    # labextension is present only because pyproject.toml force-includes it in the sdist.
    result = build_sdist(root, tmp_path)
    assert result.returncode == 0, result.stderr
    (sdist,) = tmp_path.glob("cusprun-*.tar.gz")
    result = build_wheel(sdist, tmp_path / "out")
    assert result.returncode == 0, result.stdout + result.stderr
    (wheel,) = (tmp_path / "out").glob("cusprun-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert any("/labextensions/cusprun/static/remoteEntry." in n for n in names)
