"""Per-object keypoint detection on Atari (``envs/atari_detection.py``), its experiment
(``experiments/atari_objects_detection.py``) and its report (``agents/atari_detection_report.py``): keypoints on the true centres detect every visible
object, keypoints in a corner none; overlapping boxes and video boundaries are scored as documented;
the script runs end to end, resumes, and refuses bad flags."""

from __future__ import annotations

import csv
import functools
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from agents.atari_detection_report import COLUMNS, markdown_table, read_results, write_atari_detection_results
from envs.atari_detection import (HELD_OUT_SEED, AtariRecording, atari_detection, detection_by_category,
                                  dilate_masks, object_hits, readout_by_category, record_atari_objects,
                                  slot_assignments)
from envs.atari_objects import SUPPORTED_GAMES
from mint_rl.config import MintConfig
from mint_rl.keypoints import Keypoints
from mint_rl.trainer import MintTrainer
from tests.conftest import load_script

aod = load_script("atari_objects_detection")  # the script: only its main

pytestmark = pytest.mark.usefixtures("one_thread")


@functools.lru_cache(maxsize=None)
def held_out(game: str) -> AtariRecording:
    """40 held-out frames of ``game`` in 2 streams, recorded once for the tests that only read them."""
    return record_atari_objects(game, 40, num_streams=2)


class CornerEncoder(torch.nn.Module):
    """K active keypoints in the top-left pixel of every frame, with a config like a real encoder's."""

    def __init__(self, image_size: tuple[int, int] = (84, 84), k: int = 3) -> None:
        super().__init__()
        self.config = MintConfig(num_keypoints=k, image_size=image_size)

    def forward(self, frames: torch.Tensor) -> Keypoints:
        b, k = frames.shape[0], self.config.num_keypoints
        return Keypoints(torch.full((b, k, 2), -0.999), torch.ones(b, k), torch.zeros(b, k, 0))


@pytest.mark.parametrize("game", SUPPORTED_GAMES)
def test_keypoints_on_the_true_centres_detect_every_visible_object(game: str) -> None:
    rec = held_out(game)
    assert rec.frames.shape == (40, 84, 84, 3) and rec.masks.shape[:2] == rec.visible.shape
    report = detection_by_category(rec, rec.centres, rec.visible.astype(float))
    assert set(report.categories) == set(rec.categories.tolist())
    seen = {name: values for name, values in report.categories.items() if values["objects"] > 0}
    assert "player" in seen
    for name, values in seen.items():
        assert values["detection"] == 100.0 and values["DOP"] == 100.0, (game, name, values)
        assert values["TOP"] > 80.0, (game, name, values)  # an object that appears is not tracked in that frame
    assert report.UAK == 0.0 and report.frames == 40
    assert report.active == pytest.approx(rec.visible.sum(1).mean())


@pytest.mark.parametrize("game", SUPPORTED_GAMES)
def test_keypoints_in_a_corner_detect_nothing(game: str) -> None:
    rec = held_out(game)
    corner = np.full_like(rec.centres, -0.999)
    report = detection_by_category(rec, corner, np.ones(rec.visible.shape))
    for name, values in report.categories.items():
        assert values["objects"] == 0 or values["detection"] <= 5.0, (game, name, values)
    assert report.UAK > 0.95 * rec.visible.shape[1]


def test_atari_detection_records_at_the_encoders_frame_size() -> None:
    report = atari_detection(CornerEncoder((64, 64)), "ALE/Breakout-v5", 30, num_streams=1)
    assert report.game == "Breakout" and report.frames == 30
    assert report.categories["player"]["detection"] == 0.0 and report.UAK == 3.0 and report.active == 3.0
    rows = report.rows()
    assert [r["category"] for r in rows] == ["player", "ball"] and rows[0]["UAK"] == 3.0


def test_held_out_frames_are_reproducible_and_the_recording_round_trips(tmp_path: Path) -> None:
    a = record_atari_objects("Pong", 40, num_streams=2, seed=HELD_OUT_SEED)
    np.testing.assert_array_equal(a.frames, held_out("Pong").frames)
    assert [v.start for v in a.videos()] == [0, 20]
    c = AtariRecording.load(a.save(tmp_path / "rec.npz"))
    assert c.game == "Pong" and c.categories.tolist() == ["player", "enemy", "ball"]
    for key in ("frames", "masks", "visible", "centres", "starts", "pooled_masks"):
        np.testing.assert_array_equal(getattr(a, key), getattr(c, key))
    assert a.pooled_masks.shape == a.masks.shape and np.all(a.pooled_masks >= a.masks)
    old = AtariRecording(*(getattr(a, k) for k in ("game", "frames", "masks", "visible", "centres", "categories",
                                                   "starts")))  # as saved before pooled masks were kept
    assert AtariRecording.load(old.save(tmp_path / "old.npz")).pooled_masks is None
    with pytest.raises(ValueError, match="pooled=True needs a recording with pooled_masks"):
        detection_by_category(old, a.centres, a.visible.astype(float), pooled=True)


def test_a_keypoint_inside_two_overlapping_boxes_detects_both() -> None:
    masks = np.zeros((1, 2, 8, 8), bool)
    masks[0, 0, :4, :4] = True
    masks[0, 1, 2:6, 2:6] = True  # overlaps slot 0 at rows/cols 2..3
    coords = np.array([[[-0.125, -0.125]]])  # pixel (3, 3)
    assign = slot_assignments(coords, np.ones((1, 1)), masks)
    assert assign.tolist() == [[0, 1]]
    rec = AtariRecording("Test", np.zeros((1, 8, 8, 3), np.uint8), masks, np.ones((1, 2), bool),
                         np.zeros((1, 2, 2), np.float32), np.array(["ghost", "ghost"]), np.array([True]))
    assert detection_by_category(rec, coords, np.ones((1, 1))).categories["ghost"]["detection"] == 100.0


@pytest.mark.parametrize("game", ["Pong", "MsPacman"])
def test_object_hits_per_frame_average_to_the_detection(game: str) -> None:
    """Keypoints on the true centres of the even frames and in a corner on the odd ones: hits on even visible
    objects only, and each category's mean over its visible object-frames is ``detection_by_category``'s."""
    rec = held_out(game)
    coords = rec.centres.copy()
    coords[1::2] = -0.999
    hits = object_hits(rec, coords, rec.visible.astype(float))
    assert hits.shape == rec.visible.shape and not (hits & ~rec.visible).any()
    assert hits[0::2].sum() == rec.visible[0::2].sum() and not hits[1::2].any()
    report = detection_by_category(rec, coords, rec.visible.astype(float))
    for name, values in report.categories.items():
        slots = rec.categories == name
        if values["objects"]:
            assert 100.0 * hits[:, slots].sum() / rec.visible[:, slots].sum() == pytest.approx(values["detection"])
    inactive = object_hits(rec, rec.centres, np.zeros(rec.visible.shape))  # status 0: nothing is hit
    assert not inactive.any()
    with pytest.raises(ValueError, match="coords must be"):
        object_hits(rec, coords[:3], rec.visible[:3].astype(float))


def test_dilated_boxes_catch_a_keypoint_one_pixel_off() -> None:
    """A keypoint one pixel beside a 1 × 1 box misses it undilated and detects it with ``dilate=1``; two pixels
    off it misses both; UAK counts it off the grown box only when it is outside that too."""
    masks = np.zeros((2, 1, 8, 8), bool)
    masks[:, 0, 4, 4] = True  # a one-pixel ball at column 4, row 4
    px = lambda col, row: [(2 * col + 1) / 8 - 1, (2 * row + 1) / 8 - 1]
    coords = np.array([[px(5, 4)], [px(6, 4)]])  # one, then two pixels to the right
    rec = AtariRecording("Test", np.zeros((2, 8, 8, 3), np.uint8), masks, np.ones((2, 1), bool),
                         np.zeros((2, 1, 2), np.float32), np.array(["ball"]), np.array([True, True]))
    tight, near = (detection_by_category(rec, coords, np.ones((2, 1)), dilate=d) for d in (0, 1))
    assert tight.categories["ball"]["detection"] == 0.0 and tight.UAK == 1.0
    assert near.categories["ball"]["detection"] == 50.0 and near.UAK == 0.5
    grown = dilate_masks(masks, 1)
    assert grown.shape == masks.shape and grown[0, 0].sum() == 9 and grown[0, 0, 3:6, 3:6].all()
    np.testing.assert_array_equal(dilate_masks(masks, 0), masks)
    with pytest.raises(ValueError, match="dilate must be a whole number of pixels >= 0"):
        detection_by_category(rec, coords, np.ones((2, 1)), dilate=-1)


def test_pooled_boxes_credit_a_keypoint_on_the_earlier_image_of_a_fast_ball() -> None:
    """A keypoint on the ball's earlier image (in the frame the observation max-pools with the last one) misses
    the last frame's box and is inside the pooled boxes."""
    masks = np.zeros((1, 1, 8, 8), bool)
    masks[0, 0, 4, 4] = True  # the ball's box in the last emulator frame
    pooled = masks.copy()
    pooled[0, 0, 4, 6] = True  # and in the frame before, two pixels to the right
    coords = np.array([[[(2 * 6 + 1) / 8 - 1, (2 * 4 + 1) / 8 - 1]]])  # on the earlier image
    rec = AtariRecording("Test", np.zeros((1, 8, 8, 3), np.uint8), masks, np.ones((1, 1), bool),
                         np.zeros((1, 1, 2), np.float32), np.array(["ball"]), np.array([True]), pooled)
    assert detection_by_category(rec, coords, np.ones((1, 1))).categories["ball"]["detection"] == 0.0
    both = detection_by_category(rec, coords, np.ones((1, 1)), pooled=True)
    assert both.categories["ball"]["detection"] == 100.0 and both.UAK == 0.0


def test_the_readout_credits_keypoints_that_follow_an_object_off_its_box() -> None:
    """Pong, 400 held-out frames in 4 videos: keypoints 10 px to the right of each object detect nothing, yet the
    linear read-out finds every centre within a pixel, far below the constant guess; keypoints that ignore the
    objects read no better than that guess. A recording of one video is split in halves."""
    rec = record_atari_objects("Pong", 400, num_streams=4)
    beside = rec.centres + np.array([10 * 2 / 84, 0.0])
    status = rec.visible.astype(float)
    probe = readout_by_category(rec, beside, status)
    detection = detection_by_category(rec, beside, status).categories
    for name in ("player", "enemy", "ball"):
        assert detection[name]["detection"] < 5.0
        assert probe[name]["probe_px"] < 1.0 and probe[name]["probe_base_px"] > 5.0, (name, probe[name])
    unrelated = np.random.default_rng(0).uniform(-1, 1, (400, 16, 2))
    for name, values in readout_by_category(rec, unrelated, np.ones((400, 16))).items():
        assert values["probe_px"] > 0.9 * values["probe_base_px"], (name, values)
    pacman = record_atari_objects("MsPacman", 200, num_streams=2)  # four ghost slots pooled into one category
    assert (pacman.categories == "ghost").sum() == 4
    exact = readout_by_category(pacman, pacman.centres, pacman.visible.astype(float))
    assert exact["ghost"]["probe_px"] < 2.0 and exact["ghost"]["probe_base_px"] > 3 * exact["ghost"]["probe_px"]
    one = record_atari_objects("Pong", 40, num_streams=1)
    assert len(one.videos()) == 1 and readout_by_category(one, one.centres, one.visible)["player"]["probe_px"] < 1.0


def test_top_does_not_link_one_video_to_the_next() -> None:
    """Two 2-frame videos; keypoint 0 sits on the object in the first, keypoint 1 in the second: tracked in
    both videos (TOP 100), although across the boundary the keypoint identity changes."""
    masks = np.zeros((4, 1, 8, 8), bool)
    masks[:, 0, :4, :4] = True
    on, off = [-0.5, -0.5], [0.9, 0.9]
    coords = np.array([[on, off], [on, off], [off, on], [off, on]])
    status = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 1.0]])
    rec = AtariRecording("Test", np.zeros((4, 8, 8, 3), np.uint8), masks, np.ones((4, 1), bool),
                         np.zeros((4, 1, 2), np.float32), np.array(["ball"]), np.array([True, False, True, False]))
    values = detection_by_category(rec, coords, status).categories["ball"]
    assert values["TOP"] == 100.0 and values["detection"] == 100.0


def test_bad_inputs_get_named_errors() -> None:
    with pytest.raises(ValueError, match="supported games: Boxing, Breakout, Freeway, MsPacman, Pong"):
        record_atari_objects("Seaquest", 10)
    with pytest.raises(ValueError, match="needs an encoder with a MintConfig"):
        atari_detection(torch.nn.Identity(), "Pong", 10)
    rec = record_atari_objects("Pong", 4, num_streams=1)
    with pytest.raises(ValueError, match=r"the recording holds Pong frames \(84, 84, 3\); the encoder needs"):
        atari_detection(CornerEncoder((64, 64)), "Pong", recording=rec)
    with pytest.raises(ValueError, match="coords must be"):
        detection_by_category(rec, np.zeros((3, 2, 2)), np.ones((3, 2)))


# ------------------------------------------------------------------------------ the experiment


def tiny(out: Path) -> list[str]:
    return ["--games", "Pong", "--frames", "48", "--eval-frames", "50", "--batch-size", "4", "-k", "4",
            "--checkpoint-every", "10", "--out", str(out), "--no-progress"]


def test_script_scores_a_given_encoder_and_skips_it_when_rerun(tmp_path: Path) -> None:
    checkpoint = tmp_path / "encoder.pt"
    MintTrainer(MintConfig(num_keypoints=4, image_size=(64, 64))).save(checkpoint, {"env_id": "ALE/Pong-v5"})
    argv = ["--games", "Pong", "--encoder", str(checkpoint), "--eval-frames", "30", "--out", str(tmp_path / "out")]
    rows = aod.main(argv)
    assert [r["category"] for r in rows] == ["player", "enemy", "ball"]
    assert {r["method"] for r in rows} == {"mint"} and rows[0]["k"] == "4" and rows[0]["grid"] == "32"
    assert (tmp_path / "out" / "table.md").read_text().count("| Pong |") == 3
    assert (tmp_path / "out" / "frames" / "Pong-heldout-n30-64x64x3.npz").is_file()
    assert aod.main(argv) == rows  # nothing new to run
    for r in rows:  # the side measure on boxes grown by a pixel detects at least what the boxes do
        assert np.isnan(float(r["detection"])) or float(r["detection_1px"]) >= float(r["detection"])
        assert np.isnan(float(r["detection"])) == np.isnan(float(r["probe_px"]))  # the read-out beside them
        assert np.isnan(float(r["detection"])) or (float(r["probe_px"]) >= 0.0 and float(r["probe_base_px"]) > 0.0)
    assert "read-out px ↓ | constant px |" in (tmp_path / "out" / "table.md").read_text()
    for r in rows:  # the boxes of both pooled frames hold the last frame's box
        assert np.isnan(float(r["detection"])) or float(r["detection_pooled"]) >= float(r["detection"])
    # rows and a cached recording from before the pooled boxes were kept: --rescore fills the column, re-recording
    cache = tmp_path / "out" / "frames" / "Pong-heldout-n30-64x64x3.npz"
    rec = AtariRecording.load(cache)
    AtariRecording(*(getattr(rec, k) for k in ("game", "frames", "masks", "visible", "centres", "categories",
                                               "starts"))).save(cache)
    write_atari_detection_results(tmp_path / "out", [{**r, "detection_pooled": ""} for r in rows],
                                  {"frames": 6000, "eval_frames": 30, "image_size": 84})
    player = lambda: next(line for line in (tmp_path / "out" / "table.md").read_text().splitlines()
                          if line.startswith("| Pong | player |")).split(" | ")
    assert player()[7] == "–" and player()[5] != "–"  # the "both frames" column, empty in the old rows
    write_atari_detection_results(tmp_path / "out", [{**r, "detection_pooled": "", "train_seconds": "12.5"}
                                                      for r in rows], {"frames": 6000, "eval_frames": 30, "image_size": 84})
    again = aod.main(argv + ["--rescore"])  # scored again, same values, rows replaced (not appended)
    assert again == [{**r, "train_seconds": "12.5"} for r in rows]  # the training time of the cached encoder kept
    assert AtariRecording.load(cache).pooled_masks is not None
    assert player()[7] != "–"
    refined = aod.main(argv + ["--refine", "3"])[len(rows):]  # the same encoder, its keypoints refined: new rows
    assert [r["setting"] for r in refined] == [f"k4-g32-s0-mce100-r3 ({checkpoint})"] * 3
    assert refined[0]["refine"] == "3" and rows[0]["refine"] == "0"
    assert f"| Pong | ball | mint | k4-g32-s0-mce100-r3 ({checkpoint}) | 1 |" in (tmp_path / "out" / "table.md").read_text()
    snapped = aod.main(argv + ["--refine", "3", "--refine-snap", "9"])[len(rows) + len(refined):]
    assert [r["setting"] for r in snapped] == [f"k4-g32-s0-mce100-r3s9 ({checkpoint})"] * 3
    assert snapped[0]["snap"] == "9" and refined[0]["snap"] == "0" and rows[0]["snap"] in ("0", "")
    with pytest.raises(SystemExit) as error:
        aod.main(["--games", "Breakout", "--encoder", str(checkpoint), "--out", str(tmp_path / "other")])
    assert error.value.code == 2


def test_script_scores_the_boxes_of_both_pooled_frames(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Keypoints placed only where the ball's earlier pooled image is (outside its last-frame box): the script's
    detection is 0 and its "both frames" detection is 100 % of those frames."""
    checkpoint = tmp_path / "encoder.pt"
    MintTrainer(MintConfig(num_keypoints=1, image_size=(84, 84))).save(checkpoint, {"env_id": "ALE/Pong-v5"})
    earlier = {}

    def on_the_earlier_image(encoder, frames, device="cpu"):
        rec = AtariRecording.load(next((tmp_path / "out" / "frames").glob("*.npz")))
        only = rec.pooled_masks[:, 2] & ~rec.masks[:, 2] & rec.visible[:, 2, None, None]  # ball, earlier image only
        coords = np.full((len(frames), 1, 2), -0.999)
        status = np.zeros((len(frames), 1))
        for t in np.flatnonzero(only.any((1, 2))):
            row, col = np.argwhere(only[t])[0]
            coords[t, 0] = [(2 * col + 1) / 84 - 1, (2 * row + 1) / 84 - 1]
            status[t, 0] = 1.0
        earlier["frames"] = int(status.sum())
        return coords, status

    monkeypatch.setattr(aod, "encode_frames", on_the_earlier_image)
    rows = aod.main(["--games", "Pong", "--encoder", str(checkpoint), "--eval-frames", "200", "--out",
                     str(tmp_path / "out")])
    ball = next(r for r in rows if r["category"] == "ball")
    assert earlier["frames"] >= 10 and float(ball["detection"]) == 0.0
    assert float(ball["detection_pooled"]) == pytest.approx(100.0 * earlier["frames"] / float(ball["objects"]))


@pytest.mark.slow
def test_script_end_to_end_sweeps_caches_and_resumes(tmp_path: Path) -> None:
    out = tmp_path / "out"
    rows = aod.main(tiny(out) + ["--steps", "20", "--sweep", "steps=10,20"])
    runs = {(r["method"], r["setting"]) for r in rows}
    assert runs == {("mint", "k4-g42-s10-mce100"), ("mint", "k4-g42-s20-mce100"),
                    ("transporter", "k4-g42-s10"), ("transporter", "k4-g42-s20")}
    assert {r["category"] for r in rows} == {"player", "enemy", "ball"} and len(rows) == 12
    for r in rows:
        assert 0.0 <= float(r["UAK"]) <= float(r["active"]) <= 4.0
        assert np.isnan(float(r["detection"])) or 0.0 <= float(r["detection"]) <= 100.0
    assert all(r["method"] == "mint" or r["w_mce"] == "" for r in rows)
    assert len(list(csv.DictReader((out / "results.csv").open()))) == 12
    assert "| Pong | ball | transporter | k4-g42-s20 | 1 |" in (out / "table.md").read_text()
    for method in ("mint-k4-g42-mce100", "transporter-k4-g42"):
        for steps in (10, 20):
            assert (out / "encoders" / "Pong" / f"{method}-seed0-s{steps}" / "encoder.pt").is_file()
    assert aod.main(tiny(out) + ["--steps", "20", "--sweep", "steps=10,20"]) == rows  # resumed: nothing to do
    with pytest.raises(SystemExit, match="another budget"):
        aod.main(tiny(out)[:-3] + ["--frames", "96", "--out", str(out)])


@pytest.mark.parametrize("flags,message", [
    (["--games", "Seaquest"], "supported games: Boxing, Breakout, Freeway, MsPacman, Pong"),
    (["--sweep", "depth=1,2"], "FACTOR one of k, grid, steps, w_mce, refine"),
    (["--refine", "4"], "--refine 4: refinement window must be an odd int >= 3"),
    (["--sweep", "refine=3,85"], "--refine 85: refinement window 85 px is larger than the 84×84 frames"),
    (["--refine-snap", "9"], "--refine-snap 9 snaps keypoints before the refinement: give --refine W too"),
    (["--refine", "5", "--refine-snap", "15", "--sweep", "refine=0"], r"k16-g42-s1500-mce100 \(refine 0\): --refine-snap 15"),
    (["--ship-seed", "1", "--seeds", "2"], "--ship-seed 1 chooses the seed --ship ships: give --ship too"),
    (["--refine", "5", "--refine-snap", "6"], "--refine-snap 6: snap window must be an odd int >= 3"),
    (["--sweep", "k=8,x"], "k takes int values"),
    (["--sweep", "grid=4"], "grid_size=.*>= 8"),
    (["--steps", "0"], "--steps must be >= 1"),
    (["--methods", "pixels"], "invalid choice"),
    (["--encoder", "missing.pt", "--games", "Pong"], "does not exist"),
    (["--encoder", "missing.pt"], "exactly one of --games"),
    (["--device", "tpu"], "--device"),
])
def test_bad_flags_are_refused_before_any_work(tmp_path: Path, capsys: pytest.CaptureFixture, flags: list[str],
                                                message: str) -> None:
    with pytest.raises(SystemExit) as error:
        aod.main(flags + ["--out", str(tmp_path / "out")])
    assert error.value.code == 2
    assert re.search(message, capsys.readouterr().err)
    assert not (tmp_path / "out").exists()


def test_detection_report_round_trips_and_averages_over_seeds(tmp_path: Path) -> None:
    """agents.atari_detection_report: results.csv written with its columns and read back as strings; the table
    averages over seeds per (game, category, method, setting), in run order."""
    budget = {"frames": 48, "eval_frames": 50, "image_size": 84}
    rows = [{"game": "Pong", "method": "mint", "setting": "k4-g42-s10-mce100", "k": 4, "grid": 42, "steps": 10,
             "w_mce": 100.0, "seed": seed, "category": "ball", "detection": detection, "DOP": 10.0, "TOP": float("nan"),
             "objects": 50, "UAK": 1.5, "active": 2.0, "frames": 50, "train_seconds": 1.0}
            for seed, detection in ((0, 40.0), (1, 60.0))]
    table = write_atari_detection_results(tmp_path, rows, budget)
    assert (tmp_path / "table.md").read_text() == table + "\n"
    back = read_results(tmp_path / "results.csv")
    assert list(back[0]) == COLUMNS and [r["seed"] for r in back] == ["0", "1"] and back[1]["detection"] == "60.0"
    assert markdown_table(back, budget) == table
    line = next(line for line in table.splitlines() if line.startswith("| Pong |"))
    assert line.startswith("| Pong | ball | mint | k4-g42-s10-mce100 | 2 | 50.0 ± ") and "| – |" in line  # TOP nan
    assert line.endswith("| 1.50 ± 0.00 | 2.00 ± 0.00 |")
    assert read_results(tmp_path / "missing.csv") == []
