"""The cloud's hand on a running agent: signed configs applied live, commands executed and answered.

:class:`EdgeControl` sits between the sender thread (``on_config`` / ``on_command``) and the
:class:`~edge_agent.pipeline.runner.Runner`:

* ``on_config`` verifies the push (:class:`~edge_agent.signedconfig.ConfigStore`: signature, key id,
  monotonic version, schema) on the sender thread, which takes a millisecond or so, then hands the
  kept config to the runner's thread, which reconciles its cameras (only the changed ones restart).
  A refused push changes nothing; the refusal goes into every heartbeat (``config_refusal``) until
  a good config is kept.
* ``on_config_notice``: the signed config is too large for one websocket frame, so the cloud only
  names its version; a ``config-fetch`` thread of its own (never the sender's: a large download
  must not hold up acks) fetches it over device-signed HTTP
  (:func:`~edge_agent.transport.configfetch.fetch_config`) and hands it to ``on_config``, which
  verifies it as usual. A notice of the version in force fetches nothing; notices that arrive
  during a fetch are served by one more fetch after it. A fetch that fails is retried (1, 2, 4 s)
  unless the cloud refused it, and then reported like a refusal (``fetch_failed``) until a good
  config is kept.
* ``on_command`` queues the command on the runner's thread; each is answered by exactly one
  :class:`~edge_agent.protocol.CommandResult` put in the durable outbox (so it is acked like events):

  - ``reload``: re-apply the config in force, restarting every camera;
  - ``unload_model`` (``camera_id``, ``model``): stop running that model on that camera until the
    next config version (only that camera restarts);
  - ``destroy_biometric_templates``: delete every file under ``<data_dir>/biometric/`` (where
    face watch-lists and other biometric reference templates are kept) and report how many;
    idempotent (a second run reports 0).

How the signed :class:`~edge_agent.signedconfig.DeviceConfig` becomes cameras
(:func:`cameras_from_config`): the cloud owns which cameras run (``enabled``), their scene class,
zones, ROIs and privacy masks and the site's time zone; a camera of the same id in the local
``--config`` supplies what the cloud does not send yet (models, bundle, smoothing, consensus,
resize) and may override the source (a local file or ``sim:`` stream instead of the stream URL).
The privacy policy forbids the union of the local and the cloud's forbidden capabilities.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from edge_agent.config import AgentConfig, CameraConfig, Policy, Polygon, Zone
from edge_agent.protocol import Command, CommandResult, ConfigNotice, ConfigPush, ConfigRefusal, StreamStatus

log = logging.getLogger(__name__)

FETCH_RETRY_DELAYS_S = (1.0, 2.0, 4.0)  # between tries of a config fetch that failed (not a 4xx)
BIOMETRIC_DIR = "biometric"  # under the data dir: biometric reference templates (face watch-lists ...)
_WHOLE_FRAME = Polygon(points=[(0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0)])


class CameraMappingError(ValueError):
    pass


def _camera(spec: Any, local: CameraConfig | None, timezone: str) -> CameraConfig:
    roi: list[Polygon] = []
    masks: list[Polygon] = []
    zones: list[Zone] = []
    for z in spec.zones:
        points = [tuple(p) for p in z.points]
        if z.kind == "line":
            if len(points) != 2:
                raise CameraMappingError(f"zone {z.name!r}: a line needs 2 points, got {len(points)}")
            zones.append(Zone(name=z.name, polygon=_WHOLE_FRAME, line=(points[0], points[1])))
            continue
        if len(points) < 3:
            raise CameraMappingError(f"zone {z.name!r} ({z.kind}): a polygon needs at least 3 points")
        polygon = Polygon(points=points)
        if z.kind == "roi":
            roi.append(polygon)
        elif z.kind == "privacy_mask":
            masks.append(polygon)
        elif z.kind == "intrusion":
            zones.append(Zone(name=z.name, polygon=polygon, intrusion=True))
        else:  # loitering
            zones.append(Zone(name=z.name, polygon=polygon, loiter_s=float(z.loiter_seconds or 0) or None))
    base = local.model_dump(mode="python", exclude_unset=True) if local is not None else {}
    source = base.pop("source", None) or spec.stream_url
    if not source:
        raise CameraMappingError("the camera has no stream URL (set one in the portal) and no local source")
    base.update(id=spec.id, source=source, scene=spec.scene_class, roi=roi, privacy_masks=masks, zones=zones,
                timezone=timezone)
    cloud_models = getattr(spec, "models", None)  # where the signed config names the camera's models
    if cloud_models is not None:
        base["models"] = [m if isinstance(m, dict) else m.model_dump(mode="json", exclude_unset=True)
                          for m in cloud_models]
    base.setdefault("fps", spec.fps)
    return CameraConfig.model_validate(base)


def cameras_from_config(config: Any, local: AgentConfig) -> tuple[list[CameraConfig], dict[str, str]]:
    """The enabled cameras of a verified :class:`DeviceConfig`, merged with the local config's
    cameras of the same id; and camera id -> reason for the cameras that cannot be built."""
    by_id = {c.id: c for c in local.cameras}
    cameras: list[CameraConfig] = []
    failed: dict[str, str] = {}
    for spec in config.cameras:
        if not spec.enabled:
            continue
        try:
            cameras.append(_camera(spec, by_id.get(spec.id), config.site.timezone))
        except CameraMappingError as err:
            failed[spec.id] = str(err)
        except ValidationError as err:
            first = err.errors()[0]
            failed[spec.id] = f"{'.'.join(str(p) for p in first['loc']) or 'camera'}: {first['msg']}"
    return cameras, failed


def policy_from_config(config: Any, local: Policy) -> Policy:
    """The policy the cameras run under: forbidden is the union of the local and the cloud's list;
    biometric capabilities allowed only as the cloud's resolved policy allows (when it says)."""
    return _merged(config.privacy_policy, local)


def camera_policies(config: Any, local: Policy) -> dict[str, Policy]:
    """Camera id -> its own policy, for cameras whose spec carries one (merged like the device's)."""
    return {spec.id: _merged(spec.policy, local) for spec in config.cameras if getattr(spec, "policy", None)}


def _merged(cloud: Any, local: Policy) -> Policy:
    forbidden = frozenset(local.forbidden_capabilities) | frozenset(cloud.forbidden_capabilities)
    allowed = getattr(cloud, "allowed_biometric", None)
    allowed_set = frozenset(local.allowed_biometric) if allowed is None else frozenset(allowed)
    return Policy(policy_id=getattr(cloud, "policy_id", None) or f"cloud:{cloud.jurisdiction}",
                  forbidden_capabilities=forbidden, allowed_biometric=allowed_set - forbidden)


class EdgeControl:
    """Applies kept configs and runs commands on ``runner`` (see the module docstring).

    ``store`` is the device's ConfigStore (None when its keys are unusable: pushes are ignored);
    ``local`` the agent's own config; ``emit`` where messages go (the outbox sink).
    """

    def __init__(self, *, store: Any, local: AgentConfig, data_dir: Path | str, emit: Callable[[Any], None],
                 device: Any = None) -> None:
        self.store, self.local, self.data_dir, self.emit = store, local, Path(data_dir), emit
        self.device = device  # the enrolled Device: fetches the model bundles the config names
        self.runner: Any = None
        self._lock = threading.Lock()
        self._seen: OrderedDict[str, None] = OrderedDict()  # command ids executed by this process
        self._fetch_wanted = 0  # highest config_notice version not yet fetched
        self._fetcher: threading.Thread | None = None

    # --- start ----------------------------------------------------------------------------
    def initial_agent(self) -> AgentConfig:
        """What the runner starts with: the kept cloud config when there is one, else the local config."""
        if self.store is None or self.store.current is None:
            return self.local
        cameras, failed = cameras_from_config(self.store.current, self.local)
        cameras = self._with_bundles(self.store.current, cameras, failed)
        return self.local.model_copy(update={"cameras": cameras,
                                             "policy": policy_from_config(self.store.current, self.local.policy)})

    def attach(self, runner: Any) -> None:
        """From now on configs and commands go to ``runner``; a config kept before is applied at once."""
        with self._lock:
            self.runner = runner
            if self.store is not None and self.store.current is not None:
                runner.keep_running = True
                runner.submit(self._apply_current)

    # --- sender thread --------------------------------------------------------------------
    def on_config(self, push: ConfigPush) -> None:
        from edge_agent.signedconfig import ConfigRefused

        if self.store is None:
            log.error("config push ignored: no usable config keys", extra={"version": push.version})
            return
        t0 = time.monotonic()
        with self._lock:
            try:
                kept = self.store.apply(push)
            except ConfigRefused as err:
                log.error("config push refused", extra={"version": push.version, "reason": err.reason,
                                                        "detail": err.detail})
                return
            log.info("config kept", extra={"version": kept.version, "changed": kept.changed,
                                           "verify_ms": round(1000 * (time.monotonic() - t0), 2)})
            runner = self.runner
            if runner is not None and (kept.changed or runner.applied_version != kept.version):
                runner.keep_running = True
                runner.submit(lambda: self._apply_current(new_version=kept.changed))

    def on_config_notice(self, notice: ConfigNotice) -> None:
        if self.store is None or self.device is None:
            log.error("config notice ignored: no usable config keys or no enrolled device",
                      extra={"version": notice.version})
            return
        with self._lock:
            if notice.version == self.store.version and self.store.current is not None:
                log.info("config notice: version in force, nothing to fetch", extra={"version": notice.version})
                return
            self._fetch_wanted = max(self._fetch_wanted, notice.version)
            if self._fetcher is not None:  # the running fetch loop takes it after its current fetch
                return
            self._fetcher = threading.Thread(target=self._fetch_loop, name="config-fetch", daemon=True)
            self._fetcher.start()
        log.info("config notice: fetching", extra={"version": notice.version, "bytes": notice.size})

    def _fetch_loop(self) -> None:
        while True:
            with self._lock:
                wanted, self._fetch_wanted = self._fetch_wanted, 0
                if not wanted:
                    self._fetcher = None
                    return
            push = self._fetch(wanted)
            if push is not None:
                self.on_config(push)

    def _fetch(self, wanted: int) -> ConfigPush | None:
        from edge_agent.signedconfig import ConfigRefused
        from edge_agent.transport.configfetch import ConfigFetchFailed, fetch_config

        for delay in (*FETCH_RETRY_DELAYS_S, None):
            t0 = time.monotonic()
            try:
                push = fetch_config(self.device)
            except ConfigFetchFailed as err:
                if delay is None or err.permanent:
                    log.error("config fetch failed", extra={"version": wanted, "detail": err.detail})
                    with self._lock:
                        self.store.last_refusal = ConfigRefused("fetch_failed", err.detail, version=wanted)
                    return None
                log.warning("config fetch failed, retrying", extra={"version": wanted, "detail": err.detail,
                                                                   "retry_in_s": delay})
                time.sleep(delay)
                continue
            log.info("config fetched", extra={"version": push.version, "bytes": len(push.payload),
                                              "fetch_ms": round(1000 * (time.monotonic() - t0), 1)})
            return push
        return None

    def on_command(self, command: Command) -> None:
        with self._lock:
            runner = self.runner
            if command.command_id in self._seen:  # re-sent after a reconnect: its result is in the outbox
                log.info("command already done", extra={"command_id": command.command_id})
                return
            self._seen[command.command_id] = None
            while len(self._seen) > 1024:
                self._seen.popitem(last=False)
        if runner is None:  # no camera runner (not started yet, or `run` without --all): answer, never drop
            self._answer(command, False, "no camera runner in this agent process (commands need `vad-edge run "
                                         "--all` or an enrolled box waiting for cameras)")
            return
        runner.submit(lambda: self._command(command))

    def heartbeat_extra(self) -> dict[str, Any]:
        refused = self.store.last_refusal if self.store is not None else None
        if refused is None:
            return {}
        return {"config_refusal": ConfigRefusal(reason=refused.reason, detail=refused.detail[:500],
                                                version=refused.version)}

    # --- runner thread --------------------------------------------------------------------
    def _apply_current(self, *, new_version: bool = True, restart_all: bool = False) -> dict[str, list[str]]:
        with self._lock:
            config, version = self.store.current, self.store.version
        cameras, failed = cameras_from_config(config, self.local)
        cameras = self._with_bundles(config, cameras, failed)
        if new_version:
            self.runner.unloaded.clear()  # an unload lasts until the next config
        t0 = time.monotonic()
        done = self.runner.reconcile(cameras, policy_from_config(config, self.local.policy), version=version,
                                     restart_all=restart_all, unbuildable=failed,
                                     policies=camera_policies(config, self.local.policy))
        for camera_id, reason in failed.items():
            log.error("camera failed", extra={"camera_id": camera_id, "detail": reason})
            self.emit(StreamStatus(camera_id=camera_id, status="failed", ts=time.time(), detail=reason[:500]))
        log.info("config applied", extra={"version": version, "failed": sorted(failed),
                                          "reconcile_ms": round(1000 * (time.monotonic() - t0), 1), **done})
        return done

    def _with_bundles(self, config: Any, cameras: list[CameraConfig], failed: dict[str, str]) -> list[CameraConfig]:
        """Point each camera at the model bundle the signed config names for it, fetched with device
        auth and checked against the size and sha256 the signature covers (``ensure_bundle``) before
        anything loads it. A bundle that does not verify is refused: a camera already running keeps
        the bundle it has; a new camera fails with the reason (``failed``)."""
        from edge_agent.transport.bundles import BundleRefused, ensure_bundle

        refs = list(getattr(config, "model_bundles", []) or [])
        if not refs or self.device is None:
            return cameras
        running = {c.id: c for c in (self.runner.agent.cameras if self.runner is not None else [])}
        paths: dict[str, str] = {}
        for ref in refs:
            try:
                path = str(ensure_bundle(self.device, ref))
            except BundleRefused as err:
                log.error("bundle refused", extra={"bundle_id": ref.id, "detail": str(err)})
                for camera_id in ref.cameras:
                    kept = running.get(camera_id)
                    if kept is not None and kept.bundle:
                        paths[camera_id] = str(kept.bundle)
                    else:
                        failed[camera_id] = f"model bundle {ref.id} refused: {err}"
                continue
            for camera_id in ref.cameras:
                paths[camera_id] = path
        return [c.model_copy(update={"bundle": paths[c.id]}) if c.id in paths else c
                for c in cameras if c.id not in failed]

    def _command(self, command: Command) -> None:
        try:
            detail = getattr(self, f"_do_{command.action}")(command)
        except _CommandFailed as err:
            self._answer(command, False, str(err))
            return
        except Exception as err:  # noqa: BLE001 - every command gets an answer
            log.error("command failed", exc_info=True, extra={"command_id": command.command_id})
            self._answer(command, False, f"{type(err).__name__}: {err}")
            return
        self._answer(command, True, detail)

    def _answer(self, command: Command, ok: bool, detail: str) -> None:
        log.info("command done", extra={"command_id": command.command_id, "action": command.action, "ok": ok,
                                        "detail": detail})
        self.emit(CommandResult(command_id=command.command_id, ok=ok, detail=detail[:2000]))

    def _do_reload(self, command: Command) -> str:
        if self.store is not None and self.store.current is not None:
            done = self._apply_current(new_version=False, restart_all=True)
        else:
            done = self.runner.reconcile(list(self.runner.agent.cameras), self.runner.agent.policy, restart_all=True)
        return f"reloaded config version {self.runner.applied_version or 'local'}: restarted {len(done['restarted'])} " \
               f"camera(s), started {len(done['started'])}"

    def _do_unload_model(self, command: Command) -> str:
        if not command.camera_id or not command.model:
            raise _CommandFailed("unload_model needs camera_id and model")
        cameras = {c.id: c for c in self.runner.agent.cameras}
        camera = cameras.get(command.camera_id)
        if camera is None:
            raise _CommandFailed(f"camera {command.camera_id!r} is not running here; running: {sorted(cameras)}")
        gone = self.runner.unloaded.get(camera.id, set())
        names = [m.model_name for m in camera.effective_models()]
        if command.model not in names:
            raise _CommandFailed(f"camera {camera.id!r} has no model {command.model!r}; its models: {names}")
        if command.model in gone:
            return f"model {command.model!r} of camera {camera.id!r} was already unloaded"
        if not [n for n in names if n != command.model and n not in gone]:
            raise _CommandFailed(f"{command.model!r} is the last model of camera {camera.id!r}; disable the "
                                 f"camera instead")
        self.runner.unload(camera.id, command.model)
        return f"model {command.model!r} of camera {camera.id!r} unloaded until the next config"

    def _do_destroy_biometric_templates(self, command: Command) -> str:
        folder = self.data_dir / BIOMETRIC_DIR
        count = 0
        if folder.is_dir():
            for path in sorted(folder.rglob("*"), key=lambda p: len(p.parts), reverse=True):
                if path.is_dir() and not path.is_symlink():
                    path.rmdir()
                else:
                    path.unlink()
                    count += 1
        return f"destroyed {count} biometric template file(s) under {folder}"


class _CommandFailed(Exception):
    pass


__all__ = ["BIOMETRIC_DIR", "EdgeControl", "camera_policies", "cameras_from_config", "policy_from_config"]
