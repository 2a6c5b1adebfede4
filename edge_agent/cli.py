"""``vad-edge``: train | run | enroll | bench | doctor.

Bad input (unreadable source, corrupt bundle, sha256 mismatch, wrong ONNX input shape, forbidden
capability, invalid config) prints one clear line naming the file/field on stderr and exits 2.
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from edge_agent import __version__
from edge_agent.config import AgentConfig, CameraConfig, Policy, SceneClass, load_config
from edge_agent.errors import ConfigError, EdgeError

log = logging.getLogger("edge_agent.cli")
EXIT_BAD_INPUT = 2


def _agent(args: argparse.Namespace) -> AgentConfig:
    return load_config(args.config) if args.config else AgentConfig()


def _camera(args: argparse.Namespace, agent: AgentConfig, source: str | None) -> CameraConfig:
    if args.camera:
        cam = agent.camera(args.camera)
    elif len(agent.cameras) == 1:
        cam = agent.cameras[0]
    elif agent.cameras:
        raise ConfigError(f"config has {len(agent.cameras)} cameras; pick one with --camera {[c.id for c in agent.cameras]}")
    else:
        if not source:
            raise ConfigError("give --config with a camera, or --source")
        cam = CameraConfig(id="cam", source=source, scene=SceneClass(args.scene), fps=args.fps)
    update: dict[str, Any] = {}
    if source:
        update["source"] = source
    if getattr(args, "bundle", None):
        update["bundle"] = str(args.bundle)
    return cam.model_copy(update=update) if update else cam


# ---------------------------------------------------------------- train
def cmd_train(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from edge_agent.models.bundle import load_bundle
    from edge_agent.training.fit import fit_bundle, read_clips, total_work

    agent = _agent(args)
    cam = _camera(args, agent, args.source[0] if args.source else None)
    sources = args.source or [cam.source]
    clips = read_clips(cam, sources)
    validate = not args.no_validate
    with tqdm(total=total_work(cam, clips, validate=validate, folds=args.folds), unit="frame", desc=f"train {cam.id}",
              file=sys.stderr, disable=args.quiet) as bar:
        out = fit_bundle(cam, clips, args.out, policy=agent.policy, progress=bar.update, validate=validate,
                         folds=args.folds)
    manifest = load_bundle(out).manifest
    tuning = manifest.tuning or {}
    chosen = {k: tuning[k] for k in ("weights", "k", "threshold", "smoothing") if k in tuning} or None
    validation = tuning.get("validation") if tuning else manifest.training.get("validation", "off (--no-validate)")
    print(json.dumps({"bundle": str(out), "camera": cam.id, "clips": len(clips), "frames": sum(map(len, clips)),
                      "chosen": chosen, "validation": validation}))
    if isinstance(validation, dict) and not args.quiet:
        from edge_agent.training.validate import summary

        print(summary(tuning), file=sys.stderr)
    return 0


# ---------------------------------------------------------------- run
class _Sink:
    """Print messages as JSON lines; or, for an enrolled device, queue them in the durable outbox
    (``<data_dir>/outbox.sqlite3``) and let the sender thread stream them over the websocket."""

    def __init__(self, args: argparse.Namespace) -> None:
        from edge_agent.transport.device import default_data_dir, is_enrolled, load_device

        self.outbox: Any = None
        self.sender: Any = None
        self.config: Any = None  # edge_agent.signedconfig.ConfigStore of an enrolled device
        self.control: Any = None  # edge_agent.control.EdgeControl: pushed configs and commands
        data_dir = args.data_dir or default_data_dir()
        if args.data_dir is None and not is_enrolled(data_dir):
            return  # not enrolled: print JSON lines
        from edge_agent.control import EdgeControl
        from edge_agent.transport.outbox import OUTBOX_FILE, Outbox
        from edge_agent.transport.sender import Sender

        device = load_device(data_dir)
        self.config = self._config_store(device)
        self.outbox = Outbox(args.outbox or data_dir / OUTBOX_FILE, max_bytes=int(args.outbox_max_mb * 1024 * 1024))
        self.control = EdgeControl(store=self.config, local=_agent(args), data_dir=device.data_dir, emit=self,
                                   device=device)
        self.sender = Sender(self.outbox, device, on_config=self.control.on_config,
                             on_config_notice=self.control.on_config_notice,
                             on_command=self.control.on_command).start()
        log.info("streaming to the cloud", extra={"device_id": device.device_id, "ws_url": device.ws_url,
                                                  "outbox": self.outbox.path, "pending": self.outbox.pending()})

    @staticmethod
    def _config_store(device: Any) -> Any:
        """The signed config kept in the data dir (verified again on start); None if the keys are unusable."""
        from edge_agent.signedconfig import ConfigRefused, ConfigStore

        try:
            store = ConfigStore(device.data_dir, device.config_keys, device_id=device.device_id)
        except (ConfigRefused, ValueError) as err:
            log.error("config keys in device.json unusable; config pushes will be ignored", extra={"detail": str(err)})
            return None
        try:
            store.load_last_good()
        except ConfigRefused as err:
            log.error("kept config refused", extra={"reason": err.reason, "detail": err.detail})
        return store

    def stats(self) -> dict[str, Any]:
        if self.outbox is None:
            return {}
        return dict(self.outbox.stats())  # config_version: the runner's applied version

    def __call__(self, msg: Any) -> None:
        if self.outbox is None:
            print(msg.model_dump_json(), flush=True)
        else:
            self.outbox.put(msg)

    def finish(self, flush_timeout_s: float) -> None:
        if self.sender is not None:
            left = self.sender.stop(flush_timeout_s)
            if left:
                print(f"vad-edge run: {left} messages not delivered yet; kept in outbox {self.outbox.path}",
                      file=sys.stderr)
            self.outbox.close()


def _on_signals(stop: Callable[[], None]) -> Callable[[], None]:
    """SIGTERM / SIGINT call ``stop`` (main thread only); returns a function restoring the old handlers."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    old = {sig: signal.signal(sig, lambda *_: stop()) for sig in (signal.SIGTERM, signal.SIGINT)}
    return lambda: [signal.signal(sig, h) for sig, h in old.items()] and None


def _scene_images(sink: _Sink) -> Any:
    """The frame tap that takes each requested camera's scene image (edge_agent.scene) and uploads
    it, device-signed, to ``/edge/cameras/<id>/scene-image``."""
    from edge_agent.scene import SceneImages
    from edge_agent.transport.http import signed_request

    device = sink.sender.device

    def upload(camera_id: str, jpeg: bytes) -> None:
        with signed_request(device, "POST", f"/edge/cameras/{camera_id}/scene-image", jpeg,
                            headers={"Content-Type": "image/jpeg"}):
            pass

    return SceneImages(upload, lambda: sink.config.current if sink.config is not None else None)


def cmd_run(args: argparse.Namespace) -> int:
    import threading

    from edge_agent.models.runtimes import one_thread_per_camera
    from edge_agent.pipeline.runner import Runner

    one_thread_per_camera()

    agent = _agent(args)
    sink = _Sink(args)
    stop = threading.Event()
    try:
        waiting = sink.sender is not None and not agent.cameras and not args.source
        if args.all or waiting:
            if not agent.cameras and not waiting:
                raise ConfigError("--all needs a --config with cameras")
            if waiting:  # enrolled, no camera here yet: stay online (heartbeats) until stopped
                log.warning("no cameras configured; connected and sending heartbeats until stopped",
                            extra={"config": str(args.config) if args.config else None})
            control = sink.control
            runner = Runner(control.initial_agent() if control else agent, sink, max_frames=args.max_frames,
                            outbox_stats=sink.stats, heartbeat_extra=control.heartbeat_extra if control else None)
            if control is not None:
                control.attach(runner)  # pushed configs reconcile the running cameras, commands run here
            if sink.sender is not None:  # enrolled: the scene images the signed config asks for
                runner.set_frame_tap(_scene_images(sink))
            restore = _on_signals(runner.stop)
            try:
                runner.run(heartbeat_s=args.heartbeat_s, keep_running=waiting)
            finally:
                restore()
        else:
            restore = _on_signals(stop.set)
            try:
                _run_one(args, agent, sink, stop)
            finally:
                restore()
    finally:
        sink.finish(args.flush_timeout)
    return 0


def _run_one(args: argparse.Namespace, agent: AgentConfig, sink: Callable[[Any], None],
             stop: Any = None) -> None:
    from edge_agent.pipeline.build import build_pipeline
    from edge_agent.pipeline.sources import open_source

    cam = _camera(args, agent, args.source)
    source = open_source(cam.source, fps=cam.fps, reconnect=cam.reconnect)
    pipeline = build_pipeline(cam, agent.policy)
    for item in source:
        for msg in pipeline.process(item):
            sink(msg)
        if (args.max_frames is not None and pipeline.frames >= args.max_frames) or (stop is not None and stop.is_set()):
            break
    end = pipeline.events.close(pipeline.last_ts)
    if end is not None:
        sink(end)


# ---------------------------------------------------------------- enroll
def cmd_enroll(args: argparse.Namespace) -> int:
    from edge_agent.enroll import enroll

    done = enroll(url=args.url, token=args.token, data_dir=args.data_dir, force=args.force)
    print(f"vad-edge enroll: enrolled as device {done['device_id']} with {done['cloud_url']}; "
          f"wrote {done['device_file']} and {done['key_file']} (private key, mode 0600); "
          f"websocket {done['ws_url']}, {len(done['config_keys'])} config key(s)")
    return 0


# ---------------------------------------------------------------- bench / doctor
def cmd_bench(args: argparse.Namespace, rest: Sequence[str]) -> int:
    try:
        from edge_agent.bench import main as bench_main
    except ImportError as err:
        print(f"vad-edge bench: the benchmark module is not available ({err})", file=sys.stderr)
        return EXIT_BAD_INPUT
    return int(bench_main(list(rest)) or 0)


def doctor_report(policy: Policy) -> dict[str, Any]:
    import cv2

    from edge_agent.models.runtimes import available_providers, choose_providers, hailo_status

    info: dict[str, Any] = {"vad_edge": __version__, "python": platform.python_version(), "platform": platform.platform(),
                            "opencv": cv2.__version__, "opencv_ffmpeg": "FFMPEG" in cv2.getBuildInformation()}
    try:
        import onnxruntime

        info["onnxruntime"] = onnxruntime.__version__
        info["onnx_providers_available"] = available_providers()
        info["onnx_providers_chosen"] = choose_providers("auto")
    except ImportError as err:
        info["onnxruntime"] = f"missing ({err})"
    ok, detail = hailo_status()
    info["hailo"] = {"available": ok, "detail": detail}
    info["policy"] = policy.summary()
    return info


def cmd_doctor(args: argparse.Namespace) -> int:
    print(json.dumps(doctor_report(_agent(args).policy), indent=2))
    return 0


# ---------------------------------------------------------------- entry point
def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="vad-edge", description="VADCloud edge agent")
    ap.add_argument("--version", action="version", version=f"vad-edge {__version__}")
    ap.add_argument("-v", "--verbose", action="store_true")
    sub = ap.add_subparsers(dest="command", required=True)

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--config", type=Path, help="agent config (.json or .toml)")
        p.add_argument("--camera", help="camera id in the config")
        p.add_argument("--scene", default="outdoor", choices=[s.value for s in SceneClass], help="without --config")
        p.add_argument("--fps", type=float, default=None, help="frame rate of a folder of frames (default 10)")

    t = sub.add_parser("train", help="fit a model bundle on normal footage")
    common(t)
    t.add_argument("--source", action="append", help="normal footage (repeat for several clips)")
    t.add_argument("--out", type=Path, required=True, help="bundle directory or .tar.gz")
    t.add_argument("--quiet", action="store_true", help="no progress bar and no summary on stderr")
    t.add_argument("--folds", type=int, default=3,
                   help="cross-validation folds that choose smoothing, weights, k and threshold (default 3)")
    t.add_argument("--no-validate", action="store_true",
                   help="skip validation: the config's smoothing and consensus defaults, every model at its weight")

    r = sub.add_parser("run", help="score a source; stream events to the cloud (enrolled) or print JSON lines")
    common(r)
    r.add_argument("--source", help="override the camera's source")
    r.add_argument("--bundle", type=Path, help="fitted model bundle")
    r.add_argument("--data-dir", type=Path, default=None,
                   help="enrolled device's data dir (device.json, device_key.pem): stream to the cloud (default: "
                        "$VAD_EDGE_DATA_DIR, else /var/lib/vadcloud-edge when writable, else "
                        "~/.local/share/vadcloud-edge, when enrolled there; else print JSON lines)")
    r.add_argument("--outbox", type=Path, help="durable outbox file (default: <data-dir>/outbox.sqlite3)")
    r.add_argument("--outbox-max-mb", type=float, default=64.0,
                   help="outbox size bound; when full the oldest heartbeats go first, events last (default 64)")
    r.add_argument("--max-frames", type=int, default=None)
    r.add_argument("--all", action="store_true", help="run every camera in the config")
    r.add_argument("--heartbeat-s", "--health-every", dest="heartbeat_s", type=float, default=10.0,
                   help="seconds between heartbeats with --all (default 10)")
    r.add_argument("--flush-timeout", type=float, default=10.0,
                   help="on exit / SIGTERM, seconds to keep sending what is queued (default 10)")

    e = sub.add_parser("enroll", help="register this box with the cloud (one-time token from the portal)")
    e.add_argument("--url", required=True, help="portal address, e.g. https://portal.example.com")
    e.add_argument("--token", required=True, help="one-time enrollment token from the portal")
    e.add_argument("--data-dir", type=Path, default=None,
                   help="where device.json and device_key.pem go (default: $VAD_EDGE_DATA_DIR, else "
                        "/var/lib/vadcloud-edge when writable, else ~/.local/share/vadcloud-edge)")
    e.add_argument("--force", action="store_true", help="replace an existing enrollment with a new key")

    sub.add_parser("bench", help="benchmark (see `vad-edge bench --help`)", add_help=False)
    d = sub.add_parser("doctor", help="versions, runtimes, providers, policy")
    d.add_argument("--config", type=Path)
    return ap


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["bench"]:
        return cmd_bench(argparse.Namespace(), argv[1:])
    args = build_parser().parse_args(argv)
    from edge_agent.logs import configure

    configure(args.verbose)
    handlers = {"train": cmd_train, "run": cmd_run, "doctor": cmd_doctor, "enroll": cmd_enroll}
    try:
        return handlers[args.command](args)
    except EdgeError as err:
        print(f"vad-edge {args.command}: error: {err}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
