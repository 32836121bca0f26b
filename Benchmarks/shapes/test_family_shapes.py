"""The family shape files match their models (family_shapes.py --check), and are well formed.

    pytest Benchmarks/shapes/test_family_shapes.py                  # timm models; official ones skipped
    DWBENCH_MODEL_CODE=DIR pytest Benchmarks/shapes/test_family_shapes.py
        # DIR holds the official clones at the pinned commits as SLaK/, LSKNet/, UniRepLKNet/, e.g. made by
        # python3 Benchmarks/shapes/family_shapes.py --check --fetch --code DIR

Needs torch and timm (model building runs on the meta device: no arithmetic).
"""
import os
import re
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import family_shapes as fs  # noqa: E402

CODE = os.environ.get("DWBENCH_MODEL_CODE")
TIMM = [name for name, m in fs.MODELS.items() if m.repo == "timm"]
OFFICIAL = [name for name, m in fs.MODELS.items() if m.repo != "timm"]


def check(*args):
    return fs.main(["--check", *args])


@pytest.mark.parametrize("name", TIMM)
def test_timm_model_matches_its_file(name, capsys):
    assert check("--models", name) == 0, capsys.readouterr().out


@pytest.mark.parametrize("name", OFFICIAL)
def test_official_model_matches_its_file(name, capsys):
    if not CODE:
        pytest.skip("DWBENCH_MODEL_CODE is not set (a directory holding the SLaK, LSKNet and UniRepLKNet clones)")
    assert check("--models", name, "--code", CODE) == 0, capsys.readouterr().out


def test_a_changed_file_fails_with_one_line_per_difference(tmp_path, capsys):
    original = open(os.path.join(HERE, "convnext-t.txt"), encoding="utf-8").read()
    changed = original.replace("n1c96h56w56k7s1p3   3", "n1c96h56w56k7s1p3   4")
    changed = changed.replace("stages.3.blocks.conv_dw  n1c768h7w7k7s1p3", "stages.3.blocks.conv_dw  n1c768h7w7k7x5s1p3")
    changed += "extra  n1c8h8w8k3s1p1\n"
    assert changed.count("\n") == original.count("\n") + 1
    (tmp_path / "convnext-t.txt").write_text(changed, encoding="utf-8")
    assert check("--models", "convnext-t", "--dir", str(tmp_path)) == 1
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 3, out
    assert out[0] == "convnext-t.txt: stages.0.blocks.conv_dw: file n1c96h56w56k7s1p3 ×4, model n1c96h56w56k7s1p3 ×3"
    assert out[1].startswith("convnext-t.txt: stages.3.blocks.conv_dw: file n1c768h7w7k7x5s1p3")
    assert out[2] == "convnext-t.txt: extra: file has n1c8h8w8k3s1p1 ×1, the model has no such layer"
    os.remove(tmp_path / "convnext-t.txt")
    assert check("--models", "convnext-t", "--dir", str(tmp_path)) == 1
    assert capsys.readouterr().out.strip() == "convnext-t.txt: missing (run --write)"


def test_other_code_is_refused(tmp_path):
    (tmp_path / "UniRepLKNet").mkdir()
    (tmp_path / "UniRepLKNet" / "unireplknet.py").write_text("# not the pinned file\n")
    with pytest.raises(SystemExit, match="not the pinned"):
        check("--models", "unireplknet-t", "--code", str(tmp_path))


def test_problem_text_is_canonical():
    P = fs.DWProblem
    assert str(P(1, 124, 56, 56, (51, 5), (1, 1), (25, 2))) == "n1c124h56w56k51x5s1p25x2"
    assert str(P(1, 64, 56, 56, (7, 7), (1, 1), (9, 9), (3, 3))) == "n1c64h56w56k7s1p9d3"
    assert str(P(1, 128, 56, 56, (31, 31), (1, 1), (15, 15), (1, 1))) == "n1c128h56w56k31s1p15"
    assert str(P(1, 8, 9, 10, (3, 3), (2, 1), (1, 1), (1, 2))) == "n1c8h9w10k3s2x1p1d1x2"
    for text in ["n1c124h56w56k51x5s1p25x2", "n1c64h56w56k7s1p9d3", "n1c8h9w10k3s2x1p1d1x2"]:
        assert str(fs.parse_problem(text)) == text
    for text in ["n1c8h8w8k7x7s1p3", "n1c8h8w8k3s1p1d1", "n1c8h8w8k3s1", "n1c8h8w8k3s1p1x"]:
        problem = fs.parse_problem(text)
        assert problem is None or str(problem) != text, text


@pytest.mark.parametrize("name", list(fs.MODELS))
def test_committed_file_is_well_formed(name):
    """Without building anything: every line parses in canonical spelling, keeps its output map, names are
    unique, and the header names the model's source (for an official repository, the pinned commit)."""
    text = open(os.path.join(HERE, f"{name}.txt"), encoding="utf-8").read()
    rows, header = fs.parse_rows(text)
    assert rows and len({r[0] for r in rows}) == len(rows)
    for layer, problem_text, count in rows:
        problem = fs.parse_problem(problem_text)
        assert problem is not None and str(problem) == problem_text, problem_text
        assert count >= 1 and problem.n == 1
        assert problem.output() == (-(-problem.h // problem.s[0]), -(-problem.w // problem.s[1])), problem_text
    model = fs.MODELS[name]
    assert fs.source_line(model) in header
    if model.repo != "timm":
        assert re.search(rf"\b{fs.PINNED[model.repo]['commit']}\b", fs.source_line(model))
    summary = [line for line in header if line.startswith("# Every depthwise Conv2d")]
    assert summary == [f"# Every depthwise Conv2d at 224×224, batch 1: {sum(r[2] for r in rows)} layers, "
                       f"{len({r[1] for r in rows})} distinct problems."]
