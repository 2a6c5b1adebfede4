"""Pipeline behaviour on simulator frames: events, hysteresis, masks, smoothing, shifts."""

from __future__ import annotations

import datetime as dt

import numpy as np

from edge_agent.config import CameraConfig, Consensus, Polygon, Shift, Smoothing
from edge_agent.pipeline.calibrate import Calibrator
from edge_agent.pipeline.consensus import KofN
from edge_agent.pipeline.events import EventMessage
from edge_agent.pipeline.pipeline import Member, Pipeline
from edge_agent.pipeline.smoothing import Ema
from edge_agent.pipeline.sources import RawFrame, StreamEvent
from edge_agent.protocol import EventClose, EventOpen, EventUpdate, StreamStatus, parse_from_edge

from .conftest import CellMotion, Spy, raw_frames, to_frames


def _fitted_motion(normal_sim, name: str, cell: int) -> Member:
    model = CellMotion(cell=cell)
    frames = to_frames(normal_sim)
    model.fit([frames[:200]])
    model.reset()
    cal = Calibrator.fit(np.array([model.score(f).raw for f in frames[200:]]))
    model.reset()
    return Member(name, model, cal)


def test_fast_object_opens_and_closes_one_event_per_crossing(normal_sim, anomalous_sim):
    cam = CameraConfig(id="cam-1", source="sim", smoothing=Smoothing(window_s=1.0))
    members = [_fitted_motion(normal_sim, f"m{cell}", cell) for cell in (16, 24, 40)]
    pipeline = Pipeline(cam, members)
    msgs = list(pipeline.run(raw_frames(anomalous_sim)))
    events = [m for m in msgs if isinstance(m, EventMessage)]
    truth_starts = [f.ts for f, prev in zip(anomalous_sim[1:], anomalous_sim[:-1], strict=True) if f.anomaly and not prev.anomaly]
    starts = [e for e in events if isinstance(e, EventOpen)]
    ends = [e for e in events if isinstance(e, EventClose)]
    assert truth_starts, "simulator scheduled no anomaly"
    assert len(starts) == len(ends) == len(truth_starts)
    for start, end, t in zip(starts, ends, truth_starts, strict=True):
        assert start.event_id == end.event_id
        updates = [e for e in events if isinstance(e, EventUpdate) and e.event_id == start.event_id]
        sent = [start, *updates, end]
        assert [m.peak_score for m in sent] == sorted(m.peak_score for m in sent)  # the peak only rises
        assert all(b.peak_ts - a.peak_ts >= 0 for a, b in zip(sent, sent[1:], strict=False))
        assert end.curve is not None and end.curve.t0 < start.start_ts  # the curve starts before the event
        assert max(end.curve.scores) >= end.peak_score - 1e-3 and end.wall_ts is not None
        assert t - 0.5 <= start.start_ts <= t + 3.0
        assert end.end_ts is not None and end.end_ts > start.start_ts
        assert end.votes >= end.k == 2
        assert {m.model for m in end.models} == {"m16", "m24", "m40"}
        assert all(m.evidence and m.evidence[0].kind == "cell" for m in end.models)
        assert end.boxes
        assert parse_from_edge(end.model_dump_json()) == end


def test_normal_footage_raises_no_event(normal_sim):
    cam = CameraConfig(id="cam-1", source="sim")
    members = [_fitted_motion(normal_sim, "a", 16), _fitted_motion(normal_sim, "b", 24)]
    from edge_agent.sim import render

    held_out = render(300, seed=99, normal_only=True)
    assert not [m for m in Pipeline(cam, members).run(raw_frames(held_out)) if isinstance(m, EventMessage)]


def test_noisy_scores_around_threshold_open_and_close_once():
    rng = np.random.default_rng(0)
    kofn = KofN(Consensus(threshold=1.0, hysteresis=0.4, close_after_s=1.0), {"a": 1.0, "b": 1.0, "c": 1.0})
    changes = []
    for i in range(300):
        ts = i / 10
        level = 1.05 if 100 <= i < 200 else 0.2
        scores = {n: level + float(rng.normal(0, 0.15)) for n in "abc"}
        d = kofn(ts, scores)
        if d.change:
            changes.append((d.change, ts))
    assert [c for c, _ in changes] == ["start", "end"]
    assert 10.0 <= changes[0][1] < 11.0 and 20.0 <= changes[1][1] < 22.0


def test_without_hysteresis_the_same_noise_flickers():
    rng = np.random.default_rng(0)
    kofn = KofN(Consensus(threshold=1.0, hysteresis=0.0, close_after_s=0.0), {"a": 1.0, "b": 1.0, "c": 1.0})
    starts = 0
    for i in range(300):
        level = 1.05 if 100 <= i < 200 else 0.2
        starts += kofn(i / 10, {n: level + float(rng.normal(0, 0.15)) for n in "abc"}).change == "start"
    assert starts > 1


def test_weighted_vote_needs_k():
    kofn = KofN(Consensus(k=2.0), {"heavy": 2.0, "a": 1.0, "b": 1.0})
    assert kofn(0.0, {"heavy": 5.0, "a": 0.0, "b": 0.0}).change == "start"
    light = KofN(Consensus(k=2.5), {"heavy": 2.0, "a": 1.0, "b": 1.0})
    assert light(0.0, {"heavy": 5.0, "a": 0.0, "b": 0.0}).change is None
    assert light(0.1, {"heavy": 5.0, "a": 1.2, "b": 0.0}).change == "start"


def test_default_k_is_two_of_the_voting_models():
    assert KofN(Consensus(), {"a": 1, "b": 1, "c": 1}).k == 2
    assert KofN(Consensus(), {"only": 1}).k == 1


def test_night_shift_threshold_applies_to_live_timestamps():
    cfg = Consensus(threshold=2.0, shifts=[Shift(name="night", start=dt.time(22), end=dt.time(6), threshold=0.5)])
    kofn = KofN(cfg, {"a": 1.0}, "UTC")
    night = dt.datetime(2026, 1, 1, 23, 30, tzinfo=dt.UTC).timestamp()
    noon = dt.datetime(2026, 1, 1, 12, 0, tzinfo=dt.UTC).timestamp()
    assert kofn.threshold(night) == 0.5
    assert kofn.threshold(noon) == 2.0


def test_ema_window_is_in_seconds_whatever_the_fps():
    def after_one_window(fps: float) -> float:
        ema = Ema(window_s=2.0)
        ema(0.0, {"a": 0.0})
        out = 0.0
        for i in range(1, int(2.0 * fps) + 1):
            out = ema(i / fps, {"a": 1.0})["a"]
        return out

    assert abs(after_one_window(5) - after_one_window(30)) < 0.02
    assert 0.8 < after_one_window(10) < 0.9  # 1 - e^-2


def test_ema_is_causal():
    ema = Ema(window_s=3.0)
    first = [ema(i / 10, {"a": float(i < 50)})["a"] for i in range(50)]
    ema.reset()
    prefix = [ema(i / 10, {"a": float(i < 50)})["a"] for i in range(100)][:50]
    assert first == prefix


def test_masked_pixels_never_reach_a_model(anomalous_sim):
    privacy = Polygon(points=[(0.0, 0.0), (0.5, 0.0), (0.5, 1.0), (0.0, 1.0)])
    roi = Polygon(points=[(0.0, 0.3), (1.0, 0.3), (1.0, 1.0), (0.0, 1.0)])
    cam = CameraConfig(id="c", source="sim", color=True, privacy_masks=[privacy], roi=[roi])
    spy = Spy()
    pipeline = Pipeline(cam, [Member("spy", spy)])
    bright = RawFrame(0, 0.0, np.full((480, 720, 3), 255, np.uint8))
    list(pipeline.run([bright, *raw_frames(anomalous_sim[:20])]))
    assert len(spy.seen) == 21
    for frame in spy.seen:
        assert frame.valid is not None
        assert not frame.gray[~frame.valid].any()
        assert frame.bgr is not None and not frame.bgr[~frame.valid].any()
        assert not frame.gray[:, :180].any() and not frame.gray[:72].any()
    assert spy.seen[0].gray[100:, 200:].min() == 255


def test_face_blur_does_not_leak_into_masked_area():
    from edge_agent.pipeline.preprocess import FaceBlur, Preprocess

    class AllFace:
        def detect(self, gray):
            return [(0, 0, gray.shape[1], gray.shape[0])]

    mask = Polygon(points=[(0.0, 0.0), (0.5, 0.0), (0.5, 1.0), (0.0, 1.0)])
    pre = Preprocess(CameraConfig(id="c", source="x", privacy_masks=[mask]), FaceBlur(AllFace()))
    img = np.random.default_rng(0).integers(0, 255, (240, 360), np.uint8)
    frame = pre(RawFrame(0, 0.0, img))
    assert not frame.gray[:, :180].any()
    assert frame.gray[:, 190:].std() < img[:, 190:].std()  # blurred


def test_lost_stream_ends_the_open_event_and_resets_state(normal_sim, anomalous_sim):
    cam = CameraConfig(id="c", source="sim", smoothing=Smoothing(window_s=0.5))
    pipeline = Pipeline(cam, [_fitted_motion(normal_sim, "a", 16)])
    first = next(f for f in anomalous_sim if f.anomaly).index
    msgs = []
    for item in raw_frames(anomalous_sim[: first + 15]):
        msgs += pipeline.process(item)
    assert [m.type for m in msgs if isinstance(m, EventMessage)][:1] == ["event_open"]
    assert "event_close" not in [m.type for m in msgs]
    msgs = pipeline.process(StreamEvent("lost", 0, "gone"))
    assert [type(m).__name__ for m in msgs] == ["EventClose", "StreamStatus"]
    assert isinstance(msgs[1], StreamStatus) and msgs[1].status == "lost"
    assert pipeline.events.start is None and pipeline.smooth.last_ts is None


class _EdgeBox(Spy):
    """Scores every frame as anomalous, with a box half outside the left edge (object leaving)."""

    type_key = "test_edge_box"

    def score(self, frame):  # noqa: ANN001, ANN201
        from edge_agent.models.base import ModelScore

        return ModelScore(raw=5.0, boxes=((-7, 120, 40, 30), (400, 10, 20, 20)))


def test_event_boxes_are_cut_to_the_frame(anomalous_sim):  # noqa: ANN001
    cam = CameraConfig(id="cam-1", source="sim", consensus=Consensus(k=1))
    msgs = list(Pipeline(cam, [Member("edge", _EdgeBox())]).run(raw_frames(anomalous_sim[:30])))
    events = [m for m in msgs if isinstance(m, EventMessage)]
    assert events
    height, width = anomalous_sim[0].image.shape[:2]
    for event in events:
        assert [(b.x, b.y, b.w, b.h) for b in event.boxes] == [(0, 120, 33, 30)]  # the off-frame box is dropped
        assert all(b.x + b.w <= width and b.y + b.h <= height for b in event.boxes)


def _snap(i: int, fused: float, fps: float = 10.0):  # noqa: ANN202
    from edge_agent.models.base import ModelScore
    from edge_agent.pipeline.events import Snapshot

    raw = {n: ModelScore(raw=fused) for n in "abc"}
    return Snapshot(index=i, ts=i / fps, raw=raw, scores=dict.fromkeys("abc", fused), fused=fused, rule=None,
                    wall=1000.0 + i / fps)


def _dec(change, voted=("a", "b")):  # noqa: ANN001, ANN202
    from edge_agent.pipeline.consensus import Decision

    return Decision(is_open=change != "end", change=change, votes=float(len(voted)),
                    voted={n: True for n in voted}, k=2.0, threshold=1.0)


def _builder():  # noqa: ANN202
    from edge_agent.pipeline.events import EventBuilder

    return EventBuilder("7", dict.fromkeys("abc", "test"), {"a": 1.0, "b": 1.0, "c": 1.0}, [], (360, 240))


def test_updates_follow_a_rising_peak_at_most_once_a_second():
    b = _builder()
    out = [b(_snap(i, 0.2), _dec(None, ())) for i in range(150)]  # 15 s of normal before the event
    assert not any(out)
    opened = b(_snap(150, 1.0), _dec("start"))
    msgs = [b(_snap(i, 1.0 + (i - 150) * 0.05), _dec(None)) for i in range(151, 251)]  # +50 %/s for 10 s
    updates = [m for m in msgs if m is not None]
    assert isinstance(opened, EventOpen) and all(isinstance(m, EventUpdate) for m in updates)
    assert 5 <= len(updates) <= 10  # rate limit: at most one per second of source time
    ts = [opened.peak_ts] + [m.peak_ts for m in updates]
    assert all(t2 - t1 >= 1.0 - 1e-9 for t1, t2 in zip(ts, ts[1:], strict=False))
    peaks = [opened.peak_score] + [m.peak_score for m in updates]
    assert all(p2 >= 1.1 * p1 for p1, p2 in zip(peaks, peaks[1:], strict=False))  # >= 10 % higher each time
    assert {m.event_id for m in updates} == {opened.event_id}
    closed = b(_snap(251, 0.1), _dec("end"))
    assert isinstance(closed, EventClose) and closed.event_id == opened.event_id and closed.end_ts == 25.1
    curve = closed.curve
    assert curve is not None and abs(curve.t0 - (15.0 - 10.0)) <= 0.11  # 10 s before the start
    assert abs(curve.t0 + curve.dt * (len(curve.scores) - 1) - 25.1) < 1e-6 and max(curve.scores) == closed.peak_score
    assert closed.wall_ts == 1000.0 + closed.frame_index / 10.0


def test_a_flat_peak_sends_no_update_but_a_new_voter_does():
    b = _builder()
    b(_snap(0, 2.0), _dec("start"))
    flat = [b(_snap(i, 2.0 + 0.01 * (i % 3)), _dec(None)) for i in range(1, 40)]  # < 10 % wiggle, same voters
    assert not any(flat)
    joined = [b(_snap(i, 2.0), _dec(None, ("a", "b", "c"))) for i in range(40, 45)]
    updates = [m for m in joined if m is not None]
    assert len(updates) == 1 and updates[0].votes == 3.0
    assert {m.model: m.voted for m in updates[0].models} == {"a": True, "b": True, "c": True}


def test_a_long_event_keeps_the_curve_within_the_protocol_limit():
    from edge_agent.protocol import MAX_CURVE_POINTS

    b = _builder()
    b(_snap(0, 2.0), _dec("start"))
    for i in range(1, 36_000):  # one hour at 10 fps
        b(_snap(i, 2.0 + (5.0 if i == 20_000 else 0.0)), _dec(None))
    closed = b.close(3600.0)
    assert closed is not None and len(closed.curve.scores) <= MAX_CURVE_POINTS
    assert max(closed.curve.scores) == 7.0  # the peak survives the downsampling
    assert parse_from_edge(closed.model_dump_json()) == closed
