"""The vendor's model page, run: every command of its deploy steps with only the program replaced (issue 19).

The commands come from the code blocks of the vendor's model page (``../shared/seed/efficientnet_v2.md``
beside the checkout; skipped with a reason when it is absent, a failure under ``CI=true``). Each vendor
program is swapped for its command here by the package's own table (``effv2nb.cli.vendor_steps``);
the inputs the page names (``xxx.pth``, ``path/to/ILSVRC2012_img_val``, the build YAML, the vdsp JSON,
``imagenet.txt``) are pointed at files this test makes: seeded random rw_t weights as a ``.pth``, a small
synset folder, the label list. Outputs go where the page's relative paths put them. Every command must
exit 0; ``eval-topk`` must read both the result of ``infer`` and that of the npz path.

What is not the page's text, and why:
- ``pip install timm==0.6.5`` is not run (no network; the suite pins its own timm);
- the page compiles once but runs an fp16 model in step 4 and an int8 one in step 5; its step 3 says to
  set ``backend.dtype`` for each, so the compile line runs twice, once per dtype (names ``..._fp16``,
  ``..._int8`` as the page's prefixes);
- the page exports at ``--size 224`` next to a 288 build YAML and vdsp JSON, as written: the build YAML is
  the shipped rw_t one (``frontend.shape`` 288), the compiler builds the model at that shape (as ``vamc``
  does), and ``infer``/``vamp`` take the shipped 288 vdsp JSON; ``vamp -s [3,224,224]`` then says in one
  line that it runs the compiled 288;
- step 4's ``eval_topk.py ./runmstream_output/mod.txt`` names a file the page's own infer line does not
  write (``--save_dir ./runstream_output --save_result_txt result.txt``): it is pointed at that one.
"""
import os
import re
import shlex
import time
from pathlib import Path

import pytest
import torch
import yaml

from effv2nb.cli.main import main
from effv2nb.cli.vendor_steps import STEPS
from effv2nb.core.settings import DATA_DIR
from effv2nb.data.labels import imagenet
from effv2nb.export.random_weights import save_seeded
from effv2nb.model.models import read_state_dict
from imagenet_path import MODEL, synset_folder

PAGE = Path(__file__).resolve().parents[1].parent / "shared" / "seed" / "efficientnet_v2.md"
TYPO = {"./runmstream_output/mod.txt": "./runstream_output/result.txt"}
SIZE = 224                      # the page's --size
BUILD_SIZE = 288                # the shipped build YAML's and vdsp JSON's (rw_t's test size)
SHIPPED_VDSP = DATA_DIR / "configs" / "timm-efficientnetv2_rw_t-vdsp_params.json"


def page_text() -> str:
    if not PAGE.is_file():
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"the vendor's model page is missing: {PAGE} (CI must have ../shared)")
        pytest.skip(f"the vendor's model page is not here ({PAGE}: ../shared is absent)")
    return PAGE.read_text(encoding="utf-8")


def code_lines(text: str) -> list:
    """Command lines of the code blocks from "Build_In Deploy" on, continuations joined."""
    text = text[text.index("## Build_In Deploy"):]
    lines, block, inside = [], [], False
    for raw in text.splitlines():
        if re.match(r"^\s*```", raw):
            if inside:
                joined = re.sub(r"\\\s*\n\s*", " ", "\n".join(block))
                lines += [ln.strip() for ln in joined.splitlines() if ln.strip()]
                block = []
            inside = not inside
        elif inside:
            block.append(raw)
    return lines


def programs() -> list:
    """(vendor program tokens, command here), longest first, from the package's table."""
    pairs = {tuple(shlex.split(s.vendor)): s.command for s in STEPS if s.vendor}
    return sorted(pairs.items(), key=lambda kv: -len(kv[0]))


def swap(line: str):
    """``(command here, arguments)`` for a vendor program line, else None."""
    tokens = shlex.split(line)
    for prog, command in programs():
        if tuple(tokens[:len(prog)]) == prog:
            return command, tokens[len(prog):]
    return None


def test_the_table_quotes_the_page():
    """Every vendor command line in the package's table is on the page, word for word."""
    page = {" ".join(line.split()) for line in code_lines(page_text())}
    quoted = [" ".join(s.example.split()) for s in STEPS if s.example]
    assert len(quoted) >= 9 and not [q for q in quoted if q not in page]


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    root = tmp_path_factory.mktemp("vendor_inputs")
    val = synset_folder(root / "ILSVRC2012_img_val", classes=4, per_class=2, size=(48, 40))
    safet = save_seeded(MODEL, root / "seeded.safetensors", seed=0, size=128)
    pth = root / "xxx.pth"
    torch.save({"state_dict": read_state_dict(safet)}, pth)            # a timm-style checkpoint
    labels = root / "imagenet.txt"
    labels.write_text("".join(n + "\n" for n in imagenet().names), encoding="utf-8")
    return {"root": root, "val": val, "pth": pth, "labels": labels, "vdsp": SHIPPED_VDSP}


def build_yaml(path, dtype, onnx_path, calib):
    cfg = yaml.safe_load((DATA_DIR / "configs" / f"{MODEL}_int8.yaml").read_text())
    cfg["name"] = f"timm_efficientnetv2_run_stream_{dtype}"
    assert cfg["frontend"]["shape"]["input"] == [1, 3, BUILD_SIZE, BUILD_SIZE]   # the shipped YAML, as it is
    cfg["frontend"]["checkpoint"] = str(onnx_path)
    cfg["backend"]["dtype"] = dtype
    cfg["dataset"]["path"] = str(calib)
    cfg["dataset"]["sampler"]["get_data_num"] = 4
    if dtype != "int8":
        cfg["backend"].pop("quantize", None)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))


def test_every_command_of_the_page_runs_with_the_program_swapped(inputs, tmp_path, monkeypatch, capsys):
    lines = code_lines(page_text())
    home = tmp_path / "classification"          # where the page's step 1 runs; step 3 cds below it
    (home / "efficientnet_v2").mkdir(parents=True)
    build = inputs["root"] / "build_in" / "build" / "timm_efficientnet.yaml"
    onnx_path = home / "onnx" / f"{MODEL}_{SIZE}.onnx"
    paths = {"xxx.pth": inputs["pth"], "path/to/ILSVRC2012_img_val": inputs["val"],
             "ILSVRC2012_img_val": inputs["val"], "path/to/imagenet.txt": inputs["labels"],
             "imagenet.txt": inputs["labels"], "../build_in/build/timm_efficientnet.yaml": build,
             "../build_in/vdsp_params/timm-efficientnetv2_rw_t-vdsp_params.json": inputs["vdsp"], **TYPO}
    used, ran, skipped, timings = set(), [], [], []
    cwd = home
    monkeypatch.chdir(cwd)
    for line in lines:
        tokens = shlex.split(line)
        if tokens[0] == "#" or line.startswith("#") or re.match(r"^top1_rate: [\d.]+ top5_rate: [\d.]+$", line):
            continue                             # the page's figures, not a command
        if tokens[:2] == ["pip", "install"]:
            skipped.append(line)
            continue
        if tokens[0] == "cd":
            cwd = (cwd / tokens[1]).resolve()
            monkeypatch.chdir(cwd)
            continue
        if tokens[0] == "mkdir":
            (cwd / tokens[1]).mkdir()            # as the shell does: fails if it is there already
            continue
        swapped = swap(line)
        assert swapped, f"a line of the page that is neither a command here nor output: {line}"
        command, args = swapped
        args = [str(paths[a]) if a in paths else a for a in args]
        used |= {a for a in swapped[1] if a in paths}
        runs = ("fp16", "int8") if command == "compile" else (None,)
        for dtype in runs:
            if dtype:
                build_yaml(build, dtype, onnx_path, inputs["val"])
            t0 = time.perf_counter()
            rc = main([command, *args, *(["--no-progress"] if command == "compile" else [])])
            out = capsys.readouterr()
            assert rc == 0, f"{line}\nexit {rc}\n{out.out}\n{out.err}"
            ran.append((command, line, out.out, out.err))
            timings.append(f"exit {rc} in {time.perf_counter() - t0:.1f} s: python -m effv2nb {command} {' '.join(args)}")
    with capsys.disabled():
        print("\n" + "\n".join(timings))        # seen with pytest -s
    assert used == set(paths), f"page paths this test meant to point but did not meet: {set(paths) - used}"
    assert [c for c, *_ in ran] == ["export", "compile", "compile", "infer", "eval-topk", "vamp", "image2npz",
                                    "vamp", "npz-decode", "eval-topk"]
    assert skipped == ["pip install timm==0.6.5"]
    evals = [(line, out) for c, line, out, _ in ran if c == "eval-topk"]
    n = len(list(Path(inputs["val"]).rglob("*.JPEG")))
    work = home / "efficientnet_v2" / "workspace"
    for result in (work / "runstream_output" / "result.txt", work / "imagenet_result.txt"):
        assert len(result.read_text().splitlines()) == 5 * n, result      # five lines per image, every image
    for line, out in evals:
        assert re.fullmatch(r"top1_rate: [\d.]+ top5_rate: [\d.]+\n", out), (line, out)
    assert "ignored by the ONNX Runtime stand-in" in next(err for c, _, _, err in ran if c == "infer")
    perf = next(out for c, line, out, _ in ran if c == "vamp" and "--datalist" not in line)
    assert "instances 8, processes 1, batch 2" in perf and re.search(r"throughput: [\d.]+ images/s", perf)
    compiles = [out for c, _, out, _ in ran if c == "compile"]
    assert all(f"compiling it at frontend.shape's {BUILD_SIZE}x{BUILD_SIZE}" in out for out in compiles), compiles
    notes = [err for c, _, _, err in ran if c == "vamp"]
    assert all(f"-s [3,224,224]" in err and f"[3,{BUILD_SIZE},{BUILD_SIZE}]" in err for err in notes), notes
    assert len(list((work / "output").glob("output_*.npz"))) == n
