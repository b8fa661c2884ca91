"""`rbic refine` exit codes and messages on bad input; nothing is written to OUT when the input is bad."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from rbic_fast.cli import main

ROOT = Path(__file__).resolve().parents[1]
GOOD = [{"question": f"q{i}", "answer": f"step {i}\n#### {i}"} for i in range(20)]


def _write(path, recs):
    path.write_text("".join(json.dumps(r) + "\n" for r in recs), encoding="utf-8")
    return path


@pytest.fixture
def emb(tmp_path):
    path = tmp_path / "emb.npy"
    np.save(path, np.random.default_rng(0).standard_normal((20, 8)).astype(np.float32))
    return path


def _fails(capsys, args, match, out):
    rc = main(args)
    err = capsys.readouterr().err
    assert rc == 2, err
    assert match in err, err
    assert not out.exists(), "nothing may be written to OUT on bad input"
    return err


def test_malformed_jsonl_shows_first_five_lines(tmp_path, capsys, emb):
    lines = [json.dumps(r) for r in GOOD[:10]]
    for i in (1, 3, 4, 6, 7, 8, 9):
        lines[i] = lines[i][:-3]  # truncated JSON
    data = tmp_path / "d.jsonl"
    data.write_text("\n".join(lines) + "\n")
    out = tmp_path / "out"
    err = _fails(
        capsys,
        ["refine", str(data), "-o", str(out), "--count", "2", "--embeddings", str(emb)],
        "malformed JSON",
        out,
    )
    for lineno in (2, 4, 5, 7, 8):
        assert f"{data}:{lineno}:" in err
    assert f"{data}:9:" not in err and "--on-error skip" in err


def test_on_error_skip_leaves_bad_lines_out(tmp_path, capsys):
    data = tmp_path / "d.jsonl"
    data.write_text("\n".join([json.dumps(r) for r in GOOD] + ["{bad"]) + "\n")
    e = tmp_path / "emb.npy"
    np.save(e, np.random.default_rng(0).standard_normal((20, 8)).astype(np.float32))
    out = tmp_path / "out"
    assert (
        main(
            [
                "refine",
                str(data),
                "-o",
                str(out),
                "--count",
                "5",
                "--embeddings",
                str(e),
                "--on-error",
                "skip",
                "-q",
            ]
        )
        == 0
    )
    assert len((out / "selected.jsonl").read_text().splitlines()) == 5
    assert json.loads((out / "run.json").read_text())["bad_records_skipped"] == 1
    assert "skipped 1 bad record" in capsys.readouterr().err


@pytest.mark.parametrize(
    "recs, args, match",
    [
        ([{"question": "q", "answer": ""}] + GOOD[1:], [], "empty reasoning"),
        ([{"question": "q"}] + GOOD[1:], ["--format", "gsm8k"], "missing field 'answer'"),
        ([{"id": 1, **r} if i < 2 else {"id": i, **r} for i, r in enumerate(GOOD)], [], "duplicate ids"),
        ([], [], "empty"),
        (GOOD, ["--count", "21"], "larger than the dataset"),
        (GOOD, ["--ratio", "1.5"], "ratio must be in (0, 1]"),
        (GOOD, ["--embed-model", "/nonexistent/model"], "does not exist"),
        (GOOD, ["--accuracy-model", "/nonexistent/lm"], "does not exist"),
        (GOOD, ["--format", "nope"], None),
        (GOOD, ["--field", "questoin=q"], "unknown field"),
    ],
)
def test_bad_input_exit_code_and_message(tmp_path, capsys, emb, recs, args, match):
    data = _write(tmp_path / "d.jsonl", recs)
    out = tmp_path / "out"
    base = ["refine", str(data), "-o", str(out)]
    if not any(a in args for a in ("--count", "--ratio")):
        base += ["--count", "2"]
    if "--embed-model" not in args:
        base += ["--embeddings", str(emb)]
    if match is None:  # argparse rejects it
        with pytest.raises(SystemExit) as exc:
            main(base + args)
        assert exc.value.code == 2 and not out.exists()
        return
    _fails(capsys, base + args, match, out)


def test_non_utf8_and_row_mismatch(tmp_path, capsys, emb):
    data = tmp_path / "d.jsonl"
    data.write_bytes(
        b"".join(json.dumps(r).encode() + b"\n" for r in GOOD[:5])
        + b'{"question": "\xe9", "answer": "a #### 1"}\n'
    )
    out = tmp_path / "out"
    _fails(
        capsys,
        ["refine", str(data), "-o", str(out), "--count", "2", "--embeddings", str(emb)],
        "not UTF-8",
        out,
    )
    data2 = _write(tmp_path / "d2.jsonl", GOOD[:12])
    _fails(
        capsys,
        ["refine", str(data2), "-o", str(out), "--count", "2", "--embeddings", str(emb)],
        "20 rows but the dataset has 12 records",
        out,
    )


def test_missing_budget_and_missing_input(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["refine", str(ROOT / "examples" / "gsm8k_train_250.jsonl"), "-o", str(tmp_path / "o")])
    assert exc.value.code == 2
    rc = main(
        [
            "refine",
            str(tmp_path / "missing.jsonl"),
            "-o",
            str(tmp_path / "o"),
            "--ratio",
            "0.1",
            "--embeddings",
            str(tmp_path / "x.npy"),
        ]
    )
    assert rc == 2 and not (tmp_path / "o").exists()
    assert main(["refine", "--resume", "-o", str(tmp_path / "none")]) == 2
    assert "no previous run" in capsys.readouterr().err


def test_console_entry_point_runs_as_a_module(tmp_path):
    data = _write(tmp_path / "d.jsonl", [])
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "rbic_fast.cli",
            "refine",
            str(data),
            "-o",
            str(tmp_path / "o"),
            "--ratio",
            "0.5",
            "--embeddings",
            str(data),
        ],
        capture_output=True,
        text=True,
        check=False,
    )  # inherits the environment: the installed package, or PYTHONPATH=python in a development tree
    assert proc.returncode == 2 and "rbic: error:" in proc.stderr


def test_accuracy_field_missing_everywhere(tmp_path, capsys, emb):
    data = _write(tmp_path / "d.jsonl", GOOD)
    rc = main(
        [
            "refine",
            str(data),
            "-o",
            str(tmp_path / "o"),
            "--count",
            "2",
            "--embeddings",
            str(emb),
            "--accuracy-field",
            "acc",
            "-q",
        ]
    )
    assert rc == 2 and "no record has a value in the accuracy field 'acc'" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()
