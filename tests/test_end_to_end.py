"""The three workflows chained through the real command lines, on tiny data:
`synth generate` -> `wakeword train` -> `synth stream` (held-out voices) -> `wakeword eval`."""

from __future__ import annotations

import json

import numpy as np
import yaml

from detect_fixtures import wakeword_here
from synth.cli import main as synth_main
from synth_fixtures import clip_folders, tiny_config  # noqa: F401 (fixture)
from test_eval import _check_against_scores, _eval
from wakeword.evaluation import Truth
from wakeword.modelfile import load_model


def test_eval_of_a_trained_model_on_a_synth_stream_reports_the_right_counts(clip_folders, tmp_path, capsys):  # noqa: F811
    config = tmp_path / "tiny.yaml"
    config.write_text(yaml.safe_dump(json.loads(json.dumps(tiny_config(n_examples=16).to_dict()))))
    clips = ["--positives", str(clip_folders["positives"]), "--negatives", str(clip_folders["negatives"])]

    assert synth_main(["generate", "--config", str(config), *clips, "--out", str(tmp_path / "data"), "--quiet"]) == 0
    trained = wakeword_here(capsys, "train", "--config", str(config), "--data", str(tmp_path / "data"), "--out", str(tmp_path / "run"))
    assert trained.returncode == 0, trained.stderr
    model = tmp_path / "run" / "model.npz"
    assert load_model(model).phrase == "activate"

    prefix = tmp_path / "stream"
    assert synth_main(["stream", "--config", str(config), *clips, "--minutes", "1.5", "--out", str(prefix), "--quiet"]) == 0
    truth_path = prefix.with_suffix(".json")
    truth = Truth.load(truth_path)
    meta = json.loads(truth_path.read_text())
    assert all(v.startswith("espeak-ng:en-gb-scotland") for v in meta["voices"]), "the stream must use held-out voices only"
    assert truth.positives and any(kind == "confusable" for *_, kind in truth.negatives)

    report, scores = _eval(capsys, model, prefix.with_suffix(".wav"), truth_path, tmp_path)
    assert report["positives"] == len(truth.positives)
    assert report["confusables"] == sum(kind == "confusable" for *_, kind in truth.negatives)
    assert report["hours"] == truth.duration_s / 3600
    assert np.all(np.diff(scores["times"]) > 0) and scores["times"][-1] <= truth.duration_s
    _check_against_scores(report, scores, truth_path)
