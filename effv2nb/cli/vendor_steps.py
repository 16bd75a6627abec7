"""Notebooks 02-06 and README, ``python -m effv2nb --help``: the one table of the vendor's steps and their commands.

Each row maps a command line of the vendor's model page to the command here and its flags: the vendor's
spelling of every flag, the suite's own, and what the vendor's value means here. The rows feed README's
step table (``readme_table``, checked equal by ``tests/test_vendor_steps.py``) and the "the vendor's
command ↔ this suite" box in notebooks 02-06 (``box``). The commands accept every vendor spelling
listed here (checked against their parsers by the same test), so a line copied from the vendor's page
runs with only the program replaced (``tests/test_vendor_page.py`` runs the page).
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Step:
    step: str            # the vendor page's step ("step 1", ..., "eval_topk"); "" for the suite's own commands
    vendor: str          # the vendor's program, as the page writes it ("" when the vendor has none)
    command: str         # the command here: python -m effv2nb <command>
    example: str         # the vendor's command line, from the page (program included)
    flags: tuple = ()    # (vendor spelling, suite spelling or what it means here)
    notes: str = ""


STEPS = (
    Step("step 1", "python ../common/utils/export_timm_torchvision_model.py", "export",
         "python ../common/utils/export_timm_torchvision_model.py --model_library timm  --model_name "
         "efficientnetv2_rw_t --save_dir ./onnx  --size 224 --pretrained_weights xxx.pth",
         (("--model_library timm", "(timm only: torchvision is refused)"), ("--model_name", "--model"),
          ("--save_dir", "--save-dir"), ("--size", "--size"), ("--pretrained_weights", "--weights")),
         "writes `DIR/NAME_N.onnx` (input `input`, dynamic batch, opset 17) and prints the checks: `onnx.checker`, "
         "ORT vs PyTorch on 8 inputs (rel. L2 ≤ 10 × the graph's own fp32 noise floor, PyTorch fp32 against "
         "float64; top-1 100 %), op counts. Offline, rw models have random "
         "weights; their BatchNorm statistics are re-estimated on noise before export so the check tests the "
         "exporter, not the random draw."),
    Step("step 3", "", "config",
         "", (("edit timm_efficientnet.yaml", "config check FILE, config vdsp --model NAME, "
                                               "config cross-check BUILD.yaml VDSP.json"),),
         "validates a build YAML or a vdsp JSON (by content); unknown keys are kept and warned about with a "
         "did-you-mean; saving is atomic and keeps `FILE.bak`; the form in notebook 03."),
    Step("step 3", "vamc compile", "compile",
         "vamc compile ../build_in/build/timm_efficientnet.yaml",
         (("BUILD.yaml", "BUILD.yaml"),),
         "runs `vamc` when it is on `PATH`; otherwise ONNX Runtime: fp16 (float16 inside, float32 at the edges) "
         "or int8 static QDQ (max→MinMax, percentile→Percentile, kl_divergence→Entropy; `mse` is refused). "
         "Writes `<workspace>/<name>/mod.onnx` + `mod.json` atomically, skips unchanged inputs (`--force`). "
         "The model is built at `frontend.shape`: an export at another size (the page's 224 under a 288 YAML) "
         "is compiled at the YAML's, with a note. "
         "The YAML's input shape must be the ONNX file's (the stand-in does not reshape a model). Calibration "
         "is chunked: rw_t@288 with 500 images peaks at 2.1 GB. For int8 it also runs the model on a spread of "
         "calibration images twice — the **exact** QDQ arithmetic (as written; the suite assumes the accelerator computes it, the vendor does not document its int8 arithmetic) and this "
         "CPU's fused **host** kernels — and records both logit SQNRs and the CPU (AVX2 / AVX-512 / VNNI) in "
         "`mod.json`. Extra keys the vendor tool ignores: under `backend.quantize` `reduce_range` (`auto` by "
         "default: 8-bit weights unless this CPU's u8×s8 kernels saturate with them — x86 without VNNI — then "
         "7-bit; `true`/`false` are obeyed with a warning), `activation_type`, `weight_type`, "
         "`nodes_to_exclude`, `calib_chunk_size`, `calib_percentile`; under `dataset.sampler` `pick` (`first`, the vendor's "
         "first-N-sorted, or `spread`, which the shipped configs use so every class is seen)."),
    Step("step 4", "python ../../common/vsx/classification.py", "infer",
         "python ../../common/vsx/classification.py --infer_mode sync --file_path path/to/ILSVRC2012_img_val "
         "--model_prefix_path deploy_weights/timm_efficientnetv2_run_stream_fp16/mod --vdsp_params_info "
         "../build_in/vdsp_params/timm-efficientnetv2_rw_t-vdsp_params.json --label_txt path/to/imagenet.txt "
         "--save_dir ./runstream_output --save_result_txt result.txt --device 0",
         (("--infer_mode", "--infer-mode"), ("--file_path", "--file-path"),
          ("--model_prefix_path", "--model-prefix"), ("--vdsp_params_info", "--vdsp-params"),
          ("--label_txt", "--label-txt"), ("--save_dir", "--save-dir"),
          ("--save_result_txt", "--save-result-txt"),
          ("--device", "--device-id (ignored by the ONNX Runtime stand-in)")),
         "the device's preprocessing from the vdsp JSON, the vendor's result-file format; exit 1 when some "
         "images were skipped (listed on stderr), 2 on an error. Suite only: `--batch N`, "
         "`--backend ort|torch|vsx`, `--resume` (an interrupted run goes on; the final file is byte-identical), "
         "`--cluster local:N|tcp://HOST:PORT` (the same result on Dask workers)."),
    Step("eval_topk", "python ../../common/eval/eval_topk.py", "eval-topk",
         "python ../../common/eval/eval_topk.py ./runmstream_output/mod.txt",
         (("RESULT.txt", "RESULT.txt"), ("", "--label-txt F (suite only)")),
         "matches by class index / synset, not by name (the vendor's label list breaks class 480); synset "
         "folders stay synsets with any `--label-txt`. A file with fewer than 5 predictions per image prints "
         "the top-k it carries (`top3_rate`), with a note on stderr."),
    Step("step 5", "vamp", "vamp",
         "vamp -m deploy_weights/timm_efficientnetv2_run_stream_int8/mod --vdsp_params "
         "../build_in/vdsp_params/timm-efficientnetv2_rw_t-vdsp_params.json  -i 8 -p 1 -b 2 -s [3,224,224]",
         (("-m", "--model-prefix"), ("--vdsp_params", "--vdsp-params"), ("-i/--instance", "model instances"),
          ("-p/--processes", "processes"), ("-b/--batch_size", "batch"),
          ("--iterations", "batches per instance"), ("-s [3,H,W]", "input shape"),
          ("-d/--device", "device id (ignored by the ONNX Runtime stand-in)")),
         "throughput and latency percentiles. Instances are threads sharing one session per process; a `-s` "
         "that is not the compiled model's shape is named in one line and the model's shape is run."),
    Step("step 5", "python ../../common/utils/image2npz.py", "image2npz",
         "python ../../common/utils/image2npz.py --dataset_path ILSVRC2012_img_val --target_path  input_npz  "
         "--text_path imagenet_npz.txt",
         (("--dataset_path", "--dataset-path"), ("--target_path", "--target-path"), ("--text_path", "--text-path")),
         "uint8 CHW npz files (key `input_0`), one per image in a folder per class, and the datalist."),
    Step("step 5", "vamp", "vamp",
         "vamp -m deploy_weights/timm_efficientnetv2_run_stream_int8/mod --vdsp_params "
         "../build_in/vdsp_params/timm-efficientnetv2_rw_t-vdsp_params.json  -i 8 -p 1 -b 22 -s [3,224,224] "
         "--datalist imagenet_npz.txt --path_output output",
         (("--datalist", "--datalist"), ("--path_output", "--path-output")),
         "one `output_<line>.npz` (key `output_0`, the scores) per datalist line, for `npz-decode`."),
    Step("step 5", "python ../../common/eval/vamp_npz_decode.py", "npz-decode",
         "python  ../../common/eval/vamp_npz_decode.py imagenet_npz.txt output imagenet_result.txt imagenet.txt",
         (("DATALIST OUTPUT_DIR RESULT.txt [LABEL_TXT]", "the same four positionals"),),
         "writes the result file of step 4 (the npz paths as image paths, their folder the class); "
         "`eval-topk` scores it."),
    Step("step 5", "python ../../common/eval/eval_topk.py", "eval-topk",
         "python ../../common/eval/eval_topk.py imagenet_result.txt",
         (("RESULT.txt", "RESULT.txt"),), "as in step 4."),
    Step("", "", "int8-report",
         "", (("--model NAME [--val-dir DIR] [--calib-dir DIR] [--quick] [--cluster local:N|tcp://HOST:PORT]", ""),),
         "notebook 05, side by side: on one split (calibration, selection and test never share an image: "
         "`split: ... overlap 0`), builds `stock`, `nncf` (NNCF's defaults, same calibration images), `best_int8` "
         "(all ops int8, chosen on selection) and `best` (greedy float fallback on selection), plus `nncf_ac` for "
         "tiny, and prints per recipe `exact_sqnr_db`, `host_sqnr_db`, agreement, top-1 (test fold), images/s "
         "and compile seconds; `--cluster` scores the test fold shard by shard on Dask, with the same figures. "
         "`EFFV2NB_CALIBRATE_ON_TEST=1` allows a calibration folder holding test images."),
    Step("", "", "bench",
         "", (("--compare --model NAME [--size N]", ""),
              ("--model-prefix PREFIX --iterations N --instances P --batch B --shape 3,H,W", "")),
         "notebook 06: `--compare` times precisions and runtimes interleaved and prints `ratio` lines (median of "
         "per-round ratios, with their spread, next to the CPU line); its int8 variant uses `reduce_range` as "
         "`compile` decides for this CPU. Its `-i`/`-p` short options are gone (they meant iterations / "
         "instances, not the vendor's instances / processes): they are refused in one line pointing at `vamp`."),
)


def steps(key: str) -> list:
    """The rows of one vendor step (``"step 1"`` ... ``"step 5"``, ``"eval_topk"``)."""
    rows = [s for s in STEPS if s.step == key]
    if not rows:
        raise KeyError(f"no vendor step {key!r}; one of {', '.join(sorted({s.step for s in STEPS if s.step}))}")
    return rows


def here(s: Step) -> str:
    """The vendor's example with only the program replaced (what the vendor-page test runs)."""
    if not s.example:
        return ""
    example = " ".join(s.example.split())
    rest = example[len(s.vendor):].strip() if example.startswith(s.vendor) else example
    return f"python -m effv2nb {s.command} {rest}"


def _flags(s: Step) -> str:
    return "; ".join(f"{v} = {h}" if v and h and v != h else (v or h) for v, h in s.flags)


def box(key: str) -> str:
    """The "the vendor's command ↔ this suite" box of a notebook: the vendor's line, this suite's, the flags."""
    lines = [f"the vendor's command ↔ this suite ({key} of the vendor's model page)"]
    for s in steps(key):
        if s.example:
            lines.append(f"  vendor: {' '.join(s.example.split())}")
            lines.append(f"  here:   {here(s)}")
        else:
            lines.append(f"  here:   python -m effv2nb {s.command} (the vendor has no command for this)")
        lines.append(f"  flags:  {_flags(s)}")
    return "\n".join(lines)


def _code(text: str) -> str:
    return f"`{text}`" if text.startswith("-") and " (" not in text else text


def readme_table() -> str:
    """README's table "The vendor's steps, as commands" (tests/test_vendor_steps.py checks README holds it)."""
    out = ["| vendor step (the vendor's model page) | here | vendor flag = flag here | notes |",
           "| --- | --- | --- | --- |"]
    for s in STEPS:
        step = f"{s.step}, `{s.vendor}`" if s.vendor else (f"{s.step}, edit the build YAML" if s.step
                                                            else "the suite's own")
        flags = "; ".join(f"`{v}` = {_code(h)}" if v and h and v != h else f"`{v or h}`" for v, h in s.flags)
        out.append(f"| {step} | `python -m effv2nb {s.command}` | {flags} | {s.notes} |")
    return "\n".join(out) + "\n"
