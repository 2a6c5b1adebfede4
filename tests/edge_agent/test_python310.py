"""The shipped agent runs on Python 3.10 (NVIDIA JetPack 6 / Ubuntu 22.04) as on 3.11+, unchanged.

* every module of edge_agent/ compiles under 3.10, and none uses a 3.11-only stdlib name outside
  edge_agent/_compat.py (a static scan, so a regression shows without a 3.10 interpreter too);
* in a 3.10 venv holding only pydantic and cryptography (no numpy, no tomli), the parts the agent
  needs at start - the wire protocol, the agent config, the signed cloud config - give exactly what
  they give on this interpreter (same probe script, outputs compared); a TOML config there is a
  clear ConfigError that says what to install, and with tomli on the path it loads;
* websockets 16 (the last release for 3.10) connects through edge_agent._compat.ws_connect;
* install.sh takes Python 3.10 and refuses 3.9 saying what it needs.

The venv lives in pytest's tmp dir for the session; pip installs from the package registry through
the pip cache (skipped, saying why, when that fails). Python 3.10 is pyenv's, skipped if absent.
"""

from __future__ import annotations

import ast
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
AGENT = REPO / "edge_agent"
PY310 = Path("/root/.pyenv/versions/3.10.13/bin/python3.10")
PY39 = Path("/root/.pyenv/versions/3.9.18/bin/python3.9")
PIP_TIMEOUT_S = 240

needs_py310 = pytest.mark.skipif(not PY310.exists(), reason=f"Python 3.10 not found at {PY310}")


def copy_agent(dest: Path) -> Path:
    """edge_agent/ copied under ``dest`` (so nothing is compiled into the shared tree); returns ``dest``."""
    shutil.copytree(AGENT, dest / "edge_agent", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return dest


def pip_install(python: Path, *args: str) -> None:
    proc = subprocess.run([str(python), "-m", "pip", "install", "--disable-pip-version-check", "-q", *args],
                          capture_output=True, text=True, timeout=PIP_TIMEOUT_S, check=False)
    if proc.returncode != 0:
        pytest.skip(f"pip install {' '.join(args)} failed (rc {proc.returncode}): {proc.stderr.strip()[-400:]}")


# --- static: compiles under 3.10, no 3.11-only names ------------------------------------------
@needs_py310
def test_every_agent_module_compiles_under_python_3_10(tmp_path: Path) -> None:
    root = copy_agent(tmp_path)
    files = sorted(str(p) for p in (root / "edge_agent").rglob("*.py"))
    assert len(files) > 30  # the whole package, not an empty copy
    proc = subprocess.run([str(PY310), "-m", "compileall", "-q", str(root / "edge_agent")],
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0 and not proc.stdout.strip(), proc.stdout + proc.stderr
    # control: the same check fails on 3.11-only syntax
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "group.py").write_text("try:\n    pass\nexcept* ValueError:\n    pass\n")
    proc = subprocess.run([str(PY310), "-m", "compileall", "-q", str(bad)],
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode != 0 and "group.py" in proc.stdout


#: stdlib names that appeared in Python 3.11 (module -> names); ``None``: the whole module.
NEW_IN_311: dict[str, set[str] | None] = {
    "tomllib": None,
    "wsgiref.types": None,
    "enum": {"StrEnum", "ReprEnum", "EnumCheck", "FlagBoundary", "verify", "member", "nonmember", "global_enum",
             "show_flag_values", "property"},
    "typing": {"Self", "LiteralString", "Never", "assert_never", "assert_type", "reveal_type", "Required",
               "NotRequired", "TypeVarTuple", "Unpack", "dataclass_transform", "get_overloads", "clear_overloads"},
    "datetime": {"UTC"},
    "asyncio": {"timeout", "timeout_at", "Timeout", "TaskGroup", "Runner"},
    "contextlib": {"chdir"},
    "hashlib": {"file_digest"},
    "operator": {"call"},
    "logging": {"getLevelNamesMapping"},
}
BUILTINS_311 = {"ExceptionGroup", "BaseExceptionGroup"}


def uses_of_311_names(source: str) -> list[str]:
    """``line: what`` for every 3.11-only stdlib import, attribute, builtin or ``except*`` in ``source``."""
    found = []
    tree = ast.parse(source)
    aliases: dict[str, str] = {}  # local name -> module, for `import datetime as dt`
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.name in NEW_IN_311 and NEW_IN_311[a.name] is None:
                    found.append(f"{node.lineno}: import {a.name}")
                aliases[a.asname or a.name] = a.name
        elif isinstance(node, ast.ImportFrom) and node.module in NEW_IN_311:
            names = NEW_IN_311[node.module]
            for a in node.names:
                if names is None or a.name in names:
                    found.append(f"{node.lineno}: from {node.module} import {a.name}")
        elif isinstance(node, ast.TryStar):
            found.append(f"{node.lineno}: except*")
        elif isinstance(node, ast.Name) and node.id in BUILTINS_311:
            found.append(f"{node.lineno}: {node.id}")
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            module = aliases.get(node.value.id)
            names = NEW_IN_311.get(module or "")
            if module and names is not None and node.attr in names:
                found.append(f"{node.lineno}: {node.value.id}.{node.attr}")
    return found


def test_no_agent_module_uses_a_python_3_11_only_name_outside_compat() -> None:
    offenders = {}
    for path in sorted(AGENT.rglob("*.py")):
        if path.name == "_compat.py" or "__pycache__" in path.parts:
            continue
        if found := uses_of_311_names(path.read_text(encoding="utf-8")):
            offenders[str(path.relative_to(REPO))] = found
    assert not offenders, f"use edge_agent._compat instead: {offenders}"
    # control: the scan sees each kind of use
    sample = ("import tomllib\nimport datetime as dt\nfrom enum import StrEnum\nfrom typing import Any, Self\n"
              "x = dt.datetime.now(dt.UTC)\ntry:\n    pass\nexcept* ValueError:\n    pass\n")
    assert sorted(uses_of_311_names(sample)) == ["1: import tomllib", "3: from enum import StrEnum",
                                                 "4: from typing import Self", "5: dt.UTC", "6: except*"]


# --- a 3.10 venv: startup parts behave as on this interpreter ----------------------------------
PROBE = r'''
import base64, importlib.util, json, sys, tempfile
from pathlib import Path

tmp = Path(tempfile.mkdtemp())
out = {"python": list(sys.version_info[:2]),
       "has": {m: importlib.util.find_spec(m) is not None for m in ("numpy", "tomli", "cv2", "websockets")}}

# the wire protocol, both ways
from edge_agent.protocol import CameraBeat, ConfigPush, Heartbeat, parse_from_cloud, parse_from_edge
beat = Heartbeat(seq=5, ts=1700000000.5, agent_version="0.1.0",
                 cameras=[CameraBeat(camera_id="11", state="running", fps=9.5, frames=120)])
back = parse_from_edge(beat.model_dump_json())
welcome = parse_from_cloud('{"v": 2, "type": "welcome", "device_id": 7, "last_seq": 41}')
try:
    parse_from_cloud('{"v": 2, "type": "welcome", "device_id": "x"}')
    bad_frame = None
except ValueError as err:
    bad_frame = [e["type"] for e in err.errors()]
out["protocol"] = {"edge_to_cloud": [type(back).__name__, back == beat, json.loads(back.model_dump_json())],
                   "cloud_to_edge": [type(welcome).__name__, welcome.model_dump(mode="json")],
                   "invalid": bad_frame}

# the agent config (JSON), and how its enums print
from edge_agent.config import SceneClass, load_config
from edge_agent.errors import ConfigError
from edge_agent.models.base import Capability
data = {"device_id": "box-1", "policy": {"policy_id": "eu", "forbidden_capabilities": ["person_detection"]},
        "cameras": [{"id": "gate", "source": "rtsp://cam/1", "scene": "parking"}]}
(tmp / "agent.json").write_text(json.dumps(data))
cfg = load_config(tmp / "agent.json")
scene, cap = cfg.cameras[0].scene, Capability.FACE_DETECTION
out["config"] = cfg.model_dump(mode="json")
out["enums"] = [str(scene), f"{scene}", format(scene, ">9"), "%s" % scene, repr(scene), json.dumps(scene),
                scene == "parking", isinstance(scene, str), type(scene).__name__, str(cap), f"[{cap}]",
                ", ".join(sorted(cfg.policy.forbidden_capabilities)), [str(s) for s in SceneClass],
                [c.name for c in Capability], repr(sorted(cfg.policy.forbidden_capabilities))]
(tmp / "bad.json").write_text(json.dumps({"cameras": [{"id": "gate", "source": "x", "scene": "beach"}]}))
try:
    load_config(tmp / "bad.json")
except ConfigError as err:
    out["config_error"] = str(err).replace(str(tmp), "<tmp>")
try:
    SceneClass("beach")
except ValueError as err:
    out["enum_error"] = str(err)

# the same config as TOML
(tmp / "agent.toml").write_text('device_id = "box-1"\n[policy]\npolicy_id = "eu"\n'
                                'forbidden_capabilities = ["person_detection"]\n'
                                '[[cameras]]\nid = "gate"\nsource = "rtsp://cam/1"\nscene = "parking"\n')
try:
    out["toml"] = {"config": load_config(tmp / "agent.toml").model_dump(mode="json")}
except ConfigError as err:
    out["toml"] = {"error": str(err).replace(str(tmp), "<tmp>")}

# the signed config the cloud pushes
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from edge_agent.signedconfig import ConfigRefused, ConfigStore
key = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
pub = base64.b64encode(key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)).decode()
payload = json.dumps({
    "schema": 1, "device_id": 7,
    "site": {"id": "3", "name": "HQ", "timezone": "Europe/Berlin", "jurisdiction": "DE"},
    "cameras": [{"id": "11", "name": "Entrance", "stream_url": "rtsp://10.0.0.5/s", "width": 1280, "height": 720,
                 "fps": 10.0, "scene_class": "indoor", "enabled": True, "zones": []}],
    "shifts": [], "model_bundles": [],
    "privacy_policy": {"jurisdiction": "DE", "forbidden_capabilities": ["biometric_identification"]},
}, sort_keys=True, separators=(",", ":"))
def push(version, text, signed=None):
    sig = base64.b64encode(key.sign((signed or text).encode())).decode()
    return parse_from_cloud(ConfigPush(version=version, key_id="k1", payload=text, signature=sig).model_dump_json())
store = ConfigStore(tmp / "data", {"k1": pub}, device_id=7)
applied = store.apply(push(3, payload))
refusals = []
for p in (push(4, payload.replace("HQ", "XX"), signed=payload), push(2, payload)):
    try:
        store.apply(p)
    except ConfigRefused as err:
        refusals.append(str(err))
again = ConfigStore(tmp / "data", {"k1": pub}, device_id=7)
out["signed"] = {"applied": [applied.version, applied.changed, applied.config.model_dump(mode="json", by_alias=True)],
                 "refused": refusals, "reloaded": again.load_last_good() == applied.config and again.version == 3}
print(json.dumps(out, sort_keys=True))
'''

WS_PROBE = r'''
import json, threading
import websockets
from websockets.sync.server import serve
from edge_agent._compat import ws_connect

def echo(conn):
    for message in conn:
        conn.send(json.dumps({"echo": message, "agent": conn.request.headers.get("User-Agent")}))

with serve(echo, "127.0.0.1", 0) as server:
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.socket.getsockname()[1]
    conn = ws_connect(f"ws://127.0.0.1:{port}/", open_timeout=5, close_timeout=2, max_size=256 * 1024,
                      user_agent_header="vad-edge/0.1.0", legacy=True)
    conn.send("hello")
    reply = json.loads(conn.recv(timeout=5))
    conn.close()
    server.shutdown()
print(json.dumps({"major": int(websockets.__version__.split(".")[0]), "reply": reply}))
'''


def run_probe(python: Path | str, root: Path, script: str, *, extra_path: Path | None = None) -> dict[str, Any]:
    path = [str(root)] + ([str(extra_path)] if extra_path else [])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(path), "PYTHONDONTWRITEBYTECODE": "1"}
    proc = subprocess.run([str(python), "-c", script], capture_output=True, text=True, timeout=120, env=env,
                          cwd=root, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="session")
def venv310(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A Python 3.10 venv with only pydantic and cryptography (what config / protocol / signed config need)."""
    if not PY310.exists():
        pytest.skip(f"Python 3.10 not found at {PY310}")
    venv = tmp_path_factory.mktemp("py310") / "venv"
    subprocess.run([str(PY310), "-m", "venv", str(venv)], check=True, timeout=120, capture_output=True)
    python = venv / "bin" / "python"
    pip_install(python, "pydantic>=2,<3", "cryptography>=42")
    return python


@pytest.fixture(scope="session")
def agent_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return copy_agent(tmp_path_factory.mktemp("agent"))


@pytest.fixture(scope="session")
def probes(venv310: Path, agent_copy: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    return run_probe(venv310, agent_copy, PROBE), run_probe(sys.executable, agent_copy, PROBE)


def test_startup_parts_give_the_same_results_on_3_10_without_numpy(probes) -> None:  # noqa: ANN001
    on310, here = probes
    assert on310["python"] == [3, 10] and here["python"] >= [3, 11]
    assert on310["has"] == {"numpy": False, "tomli": False, "cv2": False, "websockets": False}
    for part in ("protocol", "config", "enums", "config_error", "enum_error", "signed"):
        assert on310[part] == here[part], part
    # and what they are (so equal cannot mean equally broken)
    assert here["protocol"]["edge_to_cloud"][:2] == ["Heartbeat", True]
    assert here["protocol"]["cloud_to_edge"] == ["Welcome", {"v": 2, "type": "welcome", "device_id": 7, "last_seq": 41,
                                                             "config_version": 0}]
    assert here["protocol"]["invalid"]
    assert here["config"]["cameras"][0]["scene"] == "parking"
    assert here["config"]["policy"]["forbidden_capabilities"] == ["person_detection"]
    assert here["enums"][:9] == ["parking", "parking", "  parking", "parking", "<SceneClass.PARKING: 'parking'>",
                                 '"parking"', True, True, "SceneClass"]
    assert here["enums"][9:12] == ["face_detection", "[face_detection]", "person_detection"]
    assert here["enums"][12] == ["indoor", "outdoor", "parking", "retail"]
    assert "cameras.0.scene" in here["config_error"] and "'indoor'" in here["config_error"]
    assert here["enum_error"] == "'beach' is not a valid SceneClass"
    applied = here["signed"]["applied"]
    assert applied[:2] == [3, True] and applied[2]["cameras"][0]["scene_class"] == "indoor"
    assert [r.split(")")[0] for r in here["signed"]["refused"]] == ["config refused (bad_signature",
                                                                    "config refused (rollback"]
    assert here["signed"]["reloaded"] is True


def test_toml_config_on_3_10_without_tomli_is_a_clear_error(probes) -> None:  # noqa: ANN001
    on310, here = probes
    assert here["toml"] == {"config": here["config"]}  # 3.11+: tomllib
    error = on310["toml"]["error"]
    assert error.startswith("config <tmp>/agent.toml is TOML, which needs Python >= 3.11 or the tomli package")
    assert "pip install tomli" in error and ".json config" in error


@pytest.fixture(scope="session")
def extra_packages(tmp_path_factory: pytest.TempPathFactory, venv310: Path) -> Path:
    """tomli and websockets 16 in a folder of their own (put on PYTHONPATH by the tests that want them)."""
    target = tmp_path_factory.mktemp("py310-extra")
    pip_install(venv310, "--target", str(target), "tomli>=2", "websockets>=16,<17")
    return target


def test_toml_config_on_3_10_loads_with_tomli(venv310: Path, agent_copy: Path, extra_packages: Path,
                                              probes) -> None:  # noqa: ANN001
    with_tomli = run_probe(venv310, agent_copy, PROBE, extra_path=extra_packages)
    assert with_tomli["has"]["tomli"] is True
    assert with_tomli["toml"] == {"config": with_tomli["config"]} == {"config": probes[1]["config"]}


def test_websockets_16_on_3_10_connects_like_17(venv310: Path, agent_copy: Path, extra_packages: Path) -> None:
    on310 = run_probe(venv310, agent_copy, WS_PROBE, extra_path=extra_packages)
    here = run_probe(sys.executable, agent_copy, WS_PROBE)
    assert on310["major"] == 16 and here["major"] >= 17
    assert on310["reply"] == here["reply"] == {"echo": "hello", "agent": "vad-edge/0.1.0"}


# --- install.sh ----------------------------------------------------------------------------------
@needs_py310
@pytest.mark.skipif(not PY39.exists(), reason=f"Python 3.9 not found at {PY39}")
def test_install_script_takes_python_3_10_and_refuses_3_9(tmp_path: Path) -> None:
    def check(python: Path) -> subprocess.CompletedProcess:
        return subprocess.run(["sh", str(AGENT / "install.sh"), "--url", "http://127.0.0.1:9", "--no-systemd",
                               "--data-dir", str(tmp_path), "--python", str(python)],
                              capture_output=True, text=True, timeout=60, check=False)

    old = check(PY39)
    assert old.returncode == 2 and f"{PY39} is Python 3.9.18; need >= 3.10 (pass --python)" in old.stderr
    ok = check(PY310)  # past the platform check, stops at the missing token (nothing installed)
    assert f"Python 3.10.13 ({PY310})" in ok.stdout, ok.stderr
    assert ok.returncode == 2 and "--token is required" in ok.stderr
