import json
import math
from pathlib import Path

import numpy as np
import pytest
from rbic_fast import io as rio

DATA = Path(__file__).parent / "data"


def _records(name):
    return [
        json.loads(line)
        for line in (DATA / "formats" / f"{name}.jsonl").read_text(encoding="utf-8").splitlines()
    ]


def _norm(name, **kw):
    norm = rio.Normalizer(**kw)
    return [norm(r, i) for i, r in enumerate(_records(name))], norm


# ---------------------------------------------------------------------------------------------------------------
# real records of every format in /work/shared/data (fixtures are verbatim excerpts)
# ---------------------------------------------------------------------------------------------------------------


def test_gsm8k():
    recs, norm = _norm("gsm8k")
    assert norm.format.name == "gsm8k"
    r = recs[0]
    assert r.question.startswith("Natalia sold clips") and r.final_answer == "72"
    assert "<<" not in r.reasoning and "####" not in r.reasoning and "48/2 = 24" in r.reasoning
    assert r.id == "0"


def test_gsm8k_model_solutions_gives_accuracy_labels():
    recs, norm = _norm("gsm8k_model_solutions")
    assert norm.format.name == "gsm8k_model_solutions"
    raw = _records("gsm8k_model_solutions")[0]
    labels = [v["is_correct"] for v in raw.values() if isinstance(v, dict)]
    assert recs[0].accuracy == pytest.approx(np.mean(labels)) and recs[0].final_answer == "18"


def test_aqua_options_in_question():
    recs, norm = _norm("aqua")
    assert norm.format.name == "aqua"
    assert "A)" in recs[0].question and "E)" in recs[0].question and recs[0].final_answer == "A"


def test_math_boxed_answer():
    recs, norm = _norm("math")
    assert norm.format.name == "math"
    raw = _records("math")[0]
    assert recs[0].final_answer == rio.last_boxed(raw["solution"]) and recs[0].final_answer


def test_r1_zero_sft_splits_think_and_answer():
    recs, norm = _norm("r1_zero_sft")
    assert norm.format.name == "r1_zero_sft"
    r = recs[0]
    assert r.question.startswith("Chandra has four bowls") and "Assistant" not in r.question
    assert "</think>" not in r.reasoning and "Total pairings" in r.reasoning
    assert r.response == "16" and r.final_answer == "16"


def test_r1_mmlupro():
    recs, norm = _norm("r1_mmlupro")
    raw = _records("r1_mmlupro")[0]
    assert norm.format.name == "r1_mmlupro"
    assert recs[0].reasoning == raw["reasoning"] and recs[0].domain_hint == raw["subject"]
    assert recs[0].id == raw["id"] and recs[0].tokens == raw["total_tokens"]
    assert recs[0].answer_verified == int(raw["predicted_letter"] == raw["answer_letter"])


def test_r1_bangla_strips_think_tags():
    recs, norm = _norm("r1_bangla_mmlu")
    assert norm.format.name == "r1_bangla_mmlu"
    assert "<think>" not in recs[0].reasoning and "</think>" not in recs[0].reasoning
    assert recs[0].final_answer == "C" and recs[0].answer_verified == 1


@pytest.mark.parametrize("name", ["ape210k", "math23k"])
def test_chinese_mwp(name):
    recs, norm = _norm(name)
    raw = _records(name)[0]
    assert norm.format.name == "mwp_zh"
    assert recs[0].question == raw["original_text"] and recs[0].reasoning == raw["equation"]
    assert recs[0].final_answer == raw["ans"] and recs[0].id == raw["id"]
    assert rio.detect_lang(recs[0].question) == "zh"


def test_svamp_and_asdiv():
    (s, *_), ns = _norm("svamp")
    assert ns.format.name == "svamp" and s.final_answer == "51" and s.question.startswith("Each pack of dvds")
    (a, *_), na = _norm("asdiv")
    assert (
        na.format.name == "asdiv"
        and a.final_answer == "9"
        and a.reasoning == "7+2=9"
        and a.id == "nluds-0001"
    )


# ---------------------------------------------------------------------------------------------------------------
# formats named in DESIGN §5 without a copy here: records built from the documented schemas
# ---------------------------------------------------------------------------------------------------------------

THINK = "<think>\n首先，设x为苹果数。因此 x=3。\n</think>\n\n所以答案是 \\boxed{3}。"


@pytest.mark.parametrize(
    "raw, fmt, question, reasoning_has, answer",
    [
        ({"question": "Q?", "solution": "work \\boxed{5}", "answer": "5"}, "limo", "Q?", "work", "5"),
        (
            {
                "question": "Q?",
                "solution": "42",
                "thinking_trajectories": ["a", "b"],
                "attempt": "Answer: 42",
                "cot_type": "math",
                "source_type": "x",
            },
            "s1k",
            "Q?",
            "a\nb",
            "42",
        ),
        (
            {
                "question": "Q?",
                "solution": "\\boxed{7}",
                "deepseek_thinking_trajectory": "think",
                "deepseek_attempt": "7",
                "deepseek_grade": "Yes",
                "cot_type": "math",
            },
            "s1k_1.1",
            "Q?",
            "think",
            "7",
        ),
        (
            {
                "input": "题目",
                "reasoning_content": "推理",
                "content": "答案 \\boxed{3}",
                "repo_name": "meta-math/GSM8K_zh",
                "score": 10,
                "prompt_tokens_len": 5,
                "reasoning_content_tokens_len": 7,
                "content_tokens_len": 3,
            },
            "r1_distill_raw",
            "题目",
            "推理",
            "3",
        ),
        (
            {"instruction": "题目", "input": "", "output": THINK, "repo_name": "EduChat-Math", "score": 10},
            "r1_distill_sft",
            "题目",
            "设x为苹果数",
            "3",
        ),
        (
            {"instruction": "Add", "input": "2 and 3", "output": "<think>2+3=5</think> \\boxed{5}"},
            "alpaca",
            "Add\n\n2 and 3",
            "2+3=5",
            "5",
        ),
        (
            {
                "messages": [
                    {"role": "user", "content": "Q?"},
                    {"role": "assistant", "content": "<think>r</think>\\boxed{1}"},
                ]
            },
            "messages",
            "Q?",
            "r",
            "1",
        ),
        (
            {
                "conversations": [
                    {"from": "human", "value": "Q?"},
                    {"from": "gpt", "value": "<think>r</think>\\boxed{2}"},
                ]
            },
            "sharegpt",
            "Q?",
            "r",
            "2",
        ),
    ],
)
def test_documented_formats(raw, fmt, question, reasoning_has, answer):
    rec = rio.Normalizer()(raw, 0)
    assert rio.detect_format(raw).name == fmt
    assert rec.question == question and reasoning_has in rec.reasoning and rec.final_answer == answer
    assert "</think>" not in rec.reasoning


def test_r1_distill_fields():
    raw = {
        "input": "q",
        "reasoning_content": "r",
        "content": "\\boxed{3}",
        "repo_name": "hfl/stem_zh_instruction",
        "score": 8,
        "prompt_tokens_len": 5,
        "reasoning_content_tokens_len": 7,
        "content_tokens_len": 3,
    }
    rec = rio.Normalizer()(raw, 0)
    assert rec.domain_hint == "stem" and rec.tokens == 15 and rec.quality_score == 8
    assert rec.final_answer is None and rec.answer_verified == 0  # score != 10: R1's answer is not verified


def test_field_overrides_and_custom_format():
    raw = {"q": {"text": "What?"}, "trace": "because", "gold": "4", "key": "abc"}
    rec = rio.Normalizer(fields="question=q.text,reasoning=trace,answer=gold,id=key")(raw, 7)
    assert (rec.question, rec.reasoning, rec.final_answer, rec.id) == ("What?", "because", "4", "abc")
    # overriding one field of a detected format
    rec2 = rio.Normalizer(fields="answer=ans")({"question": "Q", "answer": "x #### 1", "ans": "9"}, 0)
    assert rec2.final_answer == "9"
    with pytest.raises(ValueError, match="unknown field"):
        rio.Normalizer(fields="questoin=q")
    with pytest.raises(ValueError, match="custom"):
        rio.Normalizer(format="custom", fields="question=q")
    with pytest.raises(ValueError, match="unknown format"):
        rio.Normalizer(format="nope")


def test_detection_failure_and_empty_fields_are_clear():
    with pytest.raises(rio.DataError, match="cannot detect the record format.*--format"):
        rio.Normalizer()({"foo": 1}, 0)
    with pytest.raises(rio.DataError, match="empty reasoning"):
        rio.Normalizer()({"question": "Q", "answer": "  "}, 0)
    with pytest.raises(rio.DataError, match="empty question"):
        rio.Normalizer()({"question": "", "answer": "r #### 1"}, 0)
    with pytest.raises(KeyError):
        rio.Normalizer(format="gsm8k")({"question": "Q"}, 0)


def test_accuracy_field_values():
    norm = rio.Normalizer(accuracy_field="acc")
    assert norm({"question": "Q", "answer": "r #### 1", "acc": 0.25}, 0).accuracy == 0.25
    assert norm({"question": "Q", "answer": "r #### 1", "acc": [True, False]}, 0).accuracy == 0.5
    assert math.isnan(norm({"question": "Q", "answer": "r #### 1"}, 0).accuracy)
    with pytest.raises(rio.DataError, match="outside"):
        norm({"question": "Q", "answer": "r #### 1", "acc": 3}, 0)


# ---------------------------------------------------------------------------------------------------------------
# sources: streaming reads, bad lines, writers
# ---------------------------------------------------------------------------------------------------------------


def test_jsonl_bad_lines_reported_with_location(tmp_path):
    p = tmp_path / "d.jsonl"
    p.write_bytes(
        b'{"question": "a", "answer": "x #### 1"}\n{oops\n\n"just a string"\n'
        b'{"question": "b\xff", "answer": "y #### 2"}\n{"question": "c", "answer": "z #### 3"}\n'
    )
    bad = rio.BadRecords()
    got = list(rio.iter_raw(rio.open_source(p), bad))
    assert [pos for pos, _, _ in got] == [0, 3, 5]  # line indexes survive skipped lines
    assert bad.count == 2
    assert bad.items[0][0] == f"{p}:2" and "malformed JSON" in bad.items[0][1]
    assert bad.items[1][0] == f"{p}:5" and "UTF-8" in bad.items[1][1]
    with pytest.raises(rio.DataError, match="JSON object"):
        rio.Normalizer()(got[1][2], 1)


def test_open_source_kinds(tmp_path):
    (tmp_path / "a.json").write_text('[{"question": "q", "answer": "r #### 1"}]')
    (tmp_path / "b.json").write_text('{"question": "q", "answer": "r #### 1"}\n')
    assert rio.open_source(tmp_path / "a.json").kind == "json"
    assert rio.open_source(tmp_path / "b.json").kind == "jsonl"
    with pytest.raises(FileNotFoundError, match="does not exist"):
        rio.open_source(tmp_path / "missing.jsonl")
    (tmp_path / "c.txt").write_text("x")
    with pytest.raises(rio.DataError, match="unsupported input file type"):
        rio.open_source(tmp_path / "c.txt")
    with pytest.raises(rio.DataError, match="not a Hugging Face dataset"):
        rio.open_source(tmp_path)
    bad = rio.BadRecords()
    assert next(r for _, _, r in rio.iter_raw(rio.open_source(tmp_path / "a.json"), bad))["question"] == "q"


def _extra(n):
    return {"rbic_rank": np.arange(n, dtype=np.int64), "rbic_contribution": np.linspace(0, 1, n)}


def test_jsonl_writer_keeps_original_bytes(tmp_path):
    src = DATA / "formats" / "svamp.jsonl"
    lines = src.read_bytes().splitlines()
    keep = np.array([True, False, True, False])
    out = tmp_path / "sel.jsonl"
    rio.write_selected(rio.open_source(src), out, keep, _extra(4), np.arange(4))
    got = out.read_bytes().splitlines()
    assert len(got) == 2
    for line, orig, j in zip(got, [lines[0], lines[2]], [0, 2]):
        assert line.startswith(
            orig[:-1]
        )  # original bytes untouched, fields appended before the closing brace
        rec = json.loads(line)
        assert rec["rbic_rank"] == j and rec["Answer"] == json.loads(orig)["Answer"]


@pytest.mark.parametrize("kind", ["parquet", "csv", "json", "hf_disk"])
def test_columnar_round_trip(tmp_path, kind):
    pa = pytest.importorskip("pyarrow")
    recs = _records("gsm8k")
    if kind == "parquet":
        import pyarrow.parquet as pq

        path = tmp_path / "d.parquet"
        pq.write_table(pa.Table.from_pylist(recs), path)
    elif kind == "csv":
        import csv

        path = tmp_path / "d.csv"
        with open(path, "w", newline="", encoding="utf-8") as fh:
            w = csv.DictWriter(fh, fieldnames=["question", "answer"])
            w.writeheader()
            w.writerows(recs)
    elif kind == "json":
        path = tmp_path / "d.json"
        path.write_text(json.dumps(recs), encoding="utf-8")
    else:
        datasets = pytest.importorskip("datasets")
        path = tmp_path / "hf"
        datasets.Dataset.from_list(recs).save_to_disk(str(path))
    src = rio.open_source(path)
    assert src.kind == kind
    got = [r for _, _, r in rio.iter_raw(src, rio.BadRecords())]
    assert got == recs
    out = tmp_path / rio.selected_name(src)
    keep = np.array([False, True, True, False])
    rio.write_selected(src, out, keep, _extra(4), np.arange(4))
    back = [r for _, _, r in rio.iter_raw(rio.open_source(out), rio.BadRecords())]
    assert [b["question"] for b in back] == [recs[1]["question"], recs[2]["question"]]
    assert [int(b["rbic_rank"]) for b in back] == [1, 2]


def test_memory_sources_keep_their_type():
    pd = pytest.importorskip("pandas")
    pa = pytest.importorskip("pyarrow")
    recs = _records("gsm8k")
    keep = np.array([True, False, False, True])
    for obj in (recs, pd.DataFrame(recs), pa.Table.from_pylist(recs)):
        got = [r for _, _, r in rio.iter_raw(rio.open_source(obj), rio.BadRecords())]
        assert got == recs
        sel = rio.select_memory(obj, keep, _extra(4), np.arange(4))
        assert type(sel) is type(obj)
        rows = (
            sel
            if isinstance(sel, list)
            else (sel.to_dict("records") if hasattr(sel, "iloc") else sel.to_pylist())
        )
        assert [r["question"] for r in rows] == [recs[0]["question"], recs[3]["question"]]
        assert [int(r["rbic_rank"]) for r in rows] == [0, 3]
    with pytest.raises(TypeError, match="unsupported data"):
        list(rio.iter_raw(rio.open_source(42), rio.BadRecords()))


def test_atomic_path_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "out" / "f.txt"
    with pytest.raises(RuntimeError), rio.atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("boom")
    assert not target.exists() and list(target.parent.iterdir()) == []
    rio.write_text_atomic(target, "done")
    assert target.read_text() == "done" and len(list(target.parent.iterdir())) == 1


def test_last_boxed_and_split_think():
    assert rio.last_boxed(r"a \boxed{1} b \boxed{\frac{1}{2}}") == r"\frac{1}{2}"
    assert rio.last_boxed("none") is None
    assert rio.split_think("<think>r</think>a") == ("r", "a")
    assert rio.split_think("no tags") is None
