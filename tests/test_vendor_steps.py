"""The one table of the vendor's steps (effv2nb.cli.vendor_steps): README holds it, the commands accept its
vendor spellings, and a vendor flag with a bad value gets the suite's one-line error naming the flag as written."""
import re
import subprocess
import sys
from pathlib import Path

import pytest

from effv2nb.cli import vendor_steps
from effv2nb.cli.main import build_parser, main
from effv2nb.core.settings import DATA_DIR

REPO = Path(__file__).resolve().parents[1]


def test_readme_table_is_the_package_table():
    assert vendor_steps.readme_table() in (REPO / "README.md").read_text(encoding="utf-8")
    rc = subprocess.call([sys.executable, str(REPO / "tools" / "vendor_table.py"), "--check"])
    assert rc == 0, "README's table differs: python tools/vendor_table.py"


def _actions(command):
    parser = build_parser(command)
    sub = next(a for a in parser._actions if hasattr(a, "choices") and isinstance(a.choices, dict))
    return {opt: a for a in sub.choices[command]._actions for opt in a.option_strings}


def test_every_vendor_flag_of_the_table_is_accepted_with_the_suite_meaning():
    checked = 0
    for s in vendor_steps.STEPS:
        if not s.vendor:
            continue
        actions = _actions(s.command)
        for vendor, ours in s.flags:
            for spelling in vendor.split(" ")[0].split("/"):
                if not spelling.startswith("-"):
                    continue
                assert spelling in actions, f"{s.command} does not take the vendor's {spelling}"
                if ours.startswith("--") and " " not in ours:
                    assert actions[spelling] is actions[ours], f"{s.command}: {spelling} is not {ours}"
                checked += 1
    assert checked >= 25


@pytest.mark.parametrize("key", ["step 1", "step 3", "step 4", "eval_topk", "step 5"])
def test_box_of_each_notebook_step(key):
    box = vendor_steps.box(key)
    assert box.startswith("the vendor's command ↔ this suite") and "python -m effv2nb" in box


def _one_line_error(argv, capsys):
    try:
        rc = main(argv)
    except SystemExit as exc:                 # argparse's errors: exit status 2, as from the shell
        rc = exc.code
    err = capsys.readouterr().err.strip()
    assert rc == 2 and len(err.splitlines()) == 1 and err.startswith("error:"), err
    return err


@pytest.mark.parametrize("vendor,suite", [("--infer_mode", "--infer-mode"), ("--save_result_txt", "--save-result-txt")])
def test_bad_value_same_error_naming_the_flag_as_written(tmp_path, capsys, vendor, suite):
    base = ["infer", "--file_path", str(tmp_path), "--model_prefix_path", str(tmp_path / "mod"),
            "--vdsp_params_info", str(DATA_DIR / "configs" / "tiny-vdsp_params.json")]
    bad = "fast" if "mode" in vendor else "a/b.txt"
    errs = [_one_line_error(base + [flag, bad], capsys) for flag in (vendor, suite)]
    assert vendor in errs[0] and suite not in errs[0]
    assert suite in errs[1] and vendor not in errs[1]
    assert errs[0].replace(vendor, suite) == errs[1]


def test_argparse_errors_are_one_line_naming_the_spelling(capsys):
    err = _one_line_error(["export", "--model_name", "tiny", "--size", "big"], capsys)
    assert "argument --size: invalid int value: 'big'" in err
    err = _one_line_error(["image2npz", "--dataset_path", "x", "--target_path"], capsys)
    assert "argument --target_path: expected one argument" in err


def test_model_library_torchvision_is_refused(tmp_path, capsys):
    err = _one_line_error(["export", "--model_library", "torchvision", "--model_name", "tiny",
                           "--save_dir", str(tmp_path)], capsys)
    assert "--model_library" in err and "torchvision" in err and "timm" in err
    assert not list(tmp_path.iterdir())


def test_infer_device_is_said_to_be_ignored(tmp_path, capsys):
    from effv2nb.device.vendor_tools import vendor_tools

    if vendor_tools()["vaststreamx"]:
        pytest.skip("the vendor runtime is installed here: --device is used")
    main(["infer", "--file_path", str(tmp_path), "--model_prefix_path", str(tmp_path / "mod"),
          "--vdsp_params_info", str(DATA_DIR / "configs" / "tiny-vdsp_params.json"), "--device", "3"])
    assert re.search(r"note: --device 3: ignored by the ONNX Runtime stand-in", capsys.readouterr().err)
