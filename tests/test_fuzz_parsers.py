"""Issue 7, hostile-input fuzzing of the three parsers: build YAML, vdsp JSON, result file.

Each parser, fed random text/bytes and structure-aware mutations of valid documents (keys deleted,
values retyped, characters inserted), may only return a value or raise ``Effv2nbError`` — never any
other exception — and its messages are one line. Example counts are set so the whole file stays
well under 60 s on a loaded 2-core machine (see ``N``); hypothesis keeps no database (CI-clean).
"""
import copy
import json
import os

import pytest
import yaml
from hypothesis import HealthCheck, given, settings, strategies as st

from effv2nb import config, evaluate, labels, preprocess, results, vdsp
from effv2nb.errors import Effv2nbError
from effv2nb.settings import DATA_DIR

CONFIGS = DATA_DIR / "configs"
N = {"random": 700, "mutate": 1200, "bytes": 300}    # per parser: ~2,200 inputs each, ~6,600 in all
# Deterministic by default, so CI never fails on a draw no one has seen; EFFV2NB_FUZZ_RANDOM=1 explores
# fresh inputs on every run (run it that way when you change a parser).
FUZZ = dict(deadline=None, database=None, suppress_health_check=list(HealthCheck),
            derandomize=os.environ.get("EFFV2NB_FUZZ_RANDOM") != "1")

BUILD_RAW = yaml.safe_load((CONFIGS / "tiny_int8.yaml").read_text())
BUILD_TEXT = (CONFIGS / "tiny_int8.yaml").read_text()
VDSP_RAW = json.loads((CONFIGS / "tiny-vdsp_params.json").read_text())
VDSP_TEXT = (CONFIGS / "tiny-vdsp_params.json").read_text()
RESULT_TEXT = "".join(
    results.format_record(f"/val/{c}/img_{i}.png", [c, (c + 1) % 10, (c + 2) % 10, (c + 3) % 10, (c + 4) % 10],
                          [0.6, 0.2, 0.1, 0.05, 0.05], [str(c), "a: b", "x", "y", "z"])
    for i, c in enumerate((3, 7, 1)))
DIGITS = labels.Labels(names=tuple(str(i) for i in range(10)), source="digits")


def _one_line(exc):
    assert isinstance(exc, Effv2nbError) and "\n" not in str(exc), repr(exc)
    assert len(str(exc)) < 2000, str(exc)[:300]


# ---------------------------------------------------------------- the three parsers, as the suite runs them
def build_parser(text):
    raw = config.parse_yaml(text, "fuzz.yaml")
    errors, warnings = config.validate_build(raw, "fuzz.yaml")
    for e in errors:
        _one_line(e)
    assert all(isinstance(w, str) and "\n" not in w for w in warnings)
    if errors:
        config.raise_problems(errors)
    cfg, _ = config.config_from_dict(raw, "fuzz.yaml")
    config.to_yaml(cfg)                                  # what save writes
    config.validate_build(config.merge_into_raw(cfg), "fuzz.yaml")
    return cfg


def vdsp_parser(text):
    data = vdsp.parse_json(text, "fuzz.json")
    errors, warnings = vdsp.validate_vdsp(data, "fuzz.json")
    for e in errors:
        _one_line(e)
    if errors:
        config.raise_problems(errors)
    vdsp.preprocessing(data)
    op = preprocess.resolve(data, 64)                   # what infer does with a valid file
    return op


def vdsp_resolve_unvalidated(text):
    """``preprocess.resolve`` is public too: on any JSON it must also only raise our error."""
    return preprocess.resolve(vdsp.parse_json(text, "fuzz.json"), 64)


def result_parser(text):
    recs = results.parse_text(text, "fuzz.txt")
    if recs:
        evaluate.evaluate_records(recs, DIGITS, "fuzz.txt")
    return recs


def check(parser, text):
    try:
        parser(text)
    except Effv2nbError as exc:
        _one_line(exc)


# ---------------------------------------------------------------- generators
_scalar = st.one_of(
    st.none(), st.booleans(), st.integers(-10**6, 10**6), st.integers(), st.floats(allow_nan=True),
    st.text(max_size=12), st.sampled_from(["int8", "fp16", "onnx", "Resize", "max", "", "input", "tvm_vacc",
                                           "DIV255_MINUSMEAN_DIVSTD", "FUSION_OP_RGB_RESIZE_CVTCOLOR_CROP_NORM_TENSOR"]))
_value = st.recursive(_scalar, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                      st.dictionaries(st.text(max_size=8), inner, max_size=4)),
                      max_leaves=8)


def _paths(obj, prefix=()):
    out = [prefix] if prefix else []
    if isinstance(obj, dict):
        for k, v in obj.items():
            out += _paths(v, prefix + (k,))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            out += _paths(v, prefix + (i,))
    return out


@st.composite
def mutated(draw, base):
    """A valid document with a few keys deleted, retyped or added."""
    doc = copy.deepcopy(base)
    for _ in range(draw(st.integers(1, 3))):
        paths = _paths(doc)
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent = doc
        for k in path[:-1]:
            parent = parent[k]
        action = draw(st.sampled_from(["delete", "retype", "retype", "add"]))
        if action == "delete":
            del parent[path[-1]]
        elif action == "retype":
            parent[path[-1]] = draw(_value)
        elif isinstance(parent, dict):
            parent[draw(st.text(max_size=8))] = draw(_value)
    return doc


@st.composite
def char_mutated(draw, text):
    """A valid text with a few characters deleted, inserted or replaced."""
    s = list(text)
    for _ in range(draw(st.integers(1, 4))):
        i = draw(st.integers(0, max(0, len(s) - 1)))
        action = draw(st.sampled_from(["del", "ins", "rep"]))
        ch = draw(st.sampled_from(list(":-[]{},#&*!|>'\"\n\t 0123456789.eE-+%@`") + [draw(st.characters())]))
        if action == "del" and s:
            del s[i]
        elif action == "ins":
            s.insert(i, ch)
        elif s:
            s[i] = ch
    return "".join(s)


def _dump_yaml(doc):
    return yaml.safe_dump(doc, sort_keys=False, allow_unicode=True)


def _dump_json(doc):
    return json.dumps(doc, indent=4, allow_nan=True)


def _decode(b):
    """What reading a file does: bytes that are not UTF-8 never reach the parser (a read error)."""
    try:
        return b.decode("utf-8")
    except UnicodeDecodeError:
        return None


# ---------------------------------------------------------------- build YAML
@settings(max_examples=N["random"], **FUZZ)
@given(st.text(alphabet=st.sampled_from(list("abc :-[]{},#&*!|>'\"\n\t 0123456789.?%@`~\\")) | st.characters(),
               max_size=200))
def test_fuzz_build_yaml_random_text(text):
    check(build_parser, text)


@settings(max_examples=N["mutate"], **FUZZ)
@given(st.one_of(mutated(BUILD_RAW).map(_dump_yaml), char_mutated(BUILD_TEXT)))
def test_fuzz_build_yaml_mutations(text):
    check(build_parser, text)


def test_build_yaml_corpus(tmp_path):
    """Known-nasty inputs, through the file reader too."""
    corpus = [b"", b"\x00", b"\xff\xfe", b"[" * 10000, b"{" * 10000, b"a: 2001-13-14", b"a: &a [*a]",
              b"!!python/object/apply:os.system ['true']", b"? [a]\n: 1", b"a: !!binary '@@'",
              b"a: 1e999999", b"name: " + b"9" * 6000, b"- - - -", b"%YAML 9.9\n---\na: 1", b"\t\tname: x"]
    for i, data in enumerate(corpus):
        p = tmp_path / f"{i}.yaml"
        p.write_bytes(data)
        try:
            config.load_build_config(p)
        except Effv2nbError as exc:
            _one_line(exc)
            assert str(p) in str(exc)


# ---------------------------------------------------------------- vdsp JSON
@settings(max_examples=N["random"], **FUZZ)
@given(st.one_of(st.text(alphabet=st.sampled_from(list('{}[]":,0123456789.eE-+ \ntruefalsnNIa')), max_size=200),
                 st.text(max_size=100)))
def test_fuzz_vdsp_random_text(text):
    check(vdsp_parser, text)
    check(vdsp_resolve_unvalidated, text)


@settings(max_examples=N["mutate"], **FUZZ)
@given(st.one_of(mutated(VDSP_RAW).map(_dump_json), char_mutated(VDSP_TEXT)))
def test_fuzz_vdsp_mutations(text):
    check(vdsp_parser, text)
    check(vdsp_resolve_unvalidated, text)


def test_vdsp_corpus(tmp_path):
    corpus = ["", "[" * 100000, '{"OpConfig": ' * 5000, '{"OpConfig": {"OimageWidth": 1' + "0" * 5000 + "}}",
              '{"OpConfig": {"OimageWidth": 1e999}}', '{"OpConfig": {"OimageWidth": NaN}}',
              '{"OpConfig": {"OimageWidth": -Infinity}}', '{"OpType": null, "OpConfig": null}', "null", "7"]
    for i, text in enumerate(corpus):
        p = tmp_path / f"{i}.json"
        p.write_text(text)
        for fn in (vdsp.load_vdsp, lambda q: preprocess.resolve(vdsp.read_json(q), 64)):
            try:
                fn(p)
            except Effv2nbError as exc:
                _one_line(exc)


# ---------------------------------------------------------------- result file
@settings(max_examples=N["random"], **FUZZ)
@given(st.one_of(
    st.text(max_size=200),
    st.lists(st.builds(lambda p, k, i, pr, n: f"{p}: Relay top-{k} id: {i}, prob: {pr}, class name: {n}",
                       st.sampled_from(["/v/1/a.png", "/v/2/b.png", "x", "C:/a: b/3/c.png"]),
                       st.sampled_from(["0", "1", "2", "3", "4", "5", "-1", "x", "9" * 30]),
                       st.sampled_from(["0", "3", "9", "10", "-1", "one", "1e3", "9" * 5000]),
                       st.sampled_from(["0.5", "1", "nan", "inf", "-inf", "1.2.3", "e", "+", "1e400"]),
                       st.text(max_size=6)), max_size=12).map("\n".join)))
def test_fuzz_results_random(text):
    check(result_parser, text)


@st.composite
def line_mutated(draw, text):
    lines = text.splitlines()
    for _ in range(draw(st.integers(1, 3))):
        i = draw(st.integers(0, len(lines) - 1))
        action = draw(st.sampled_from(["del", "dup", "swap", "chars"]))
        if action == "del" and len(lines) > 1:
            del lines[i]
        elif action == "dup":
            lines.insert(i, lines[i])
        elif action == "swap":
            j = draw(st.integers(0, len(lines) - 1))
            lines[i], lines[j] = lines[j], lines[i]
        else:
            lines[i] = draw(char_mutated(lines[i]))
    return "\n".join(lines) + "\n"


@settings(max_examples=N["mutate"], **FUZZ)
@given(line_mutated(RESULT_TEXT))
def test_fuzz_results_mutations(text):
    check(result_parser, text)


def test_result_file_corpus(tmp_path):
    corpus = [b"", b"\xff\xfe\x00", RESULT_TEXT.encode().replace(b"\n", b"\r\n"), RESULT_TEXT.encode()[:-40],
              b"a: Relay top-0 id: 1, prob: 1e400, class name: x", b"a: Relay top-0 id: 1, prob: nan, class name: x"]
    for i, data in enumerate(corpus):
        p = tmp_path / f"{i}.txt"
        p.write_bytes(data)
        try:
            evaluate.evaluate_records(results.read(p), DIGITS, p)
        except Effv2nbError as exc:
            _one_line(exc)


@pytest.mark.parametrize("parser", [build_parser, vdsp_parser, result_parser],
                         ids=["build_yaml", "vdsp", "results"])
@settings(max_examples=N["bytes"], **FUZZ)
@given(st.binary(max_size=300))
def test_fuzz_bytes(parser, data):
    text = _decode(data)
    if text is not None:
        check(parser, text)
