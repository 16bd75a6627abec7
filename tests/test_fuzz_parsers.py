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

from effv2nb.formats import build_config as config, cross_check, result_file as results, vdsp
from effv2nb.device import evaluate, preprocess
from effv2nb.data import labels
from effv2nb.core.errors import Effv2nbError
from effv2nb.core.settings import DATA_DIR

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
    cross_check.preprocessing(data)
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


BUILD_CORPUS = {   # known-nasty input -> the words its refusal must hold (each one is refused)
    b"": "empty file", b"\x00": "NUL bytes", b"\xff\xfe": "UTF-16", b"[" * 10000: "nested too deeply",
    b"{" * 10000: "nested too deeply", b"a: 2001-13-14": "a value cannot be read", b"a: &a [*a]": "name: missing",
    b"!!python/object/apply:os.system ['true']": "could not determine a constructor",
    b"? [a]\n: 1": "unhashable key", b"a: !!binary '@@'": "name: missing", b"a: 1e999999": "name: missing",
    b"name: " + b"9" * 6000: "a value cannot be read", b"- - - -": "not a list",
    b"%YAML 9.9\n---\na: 1": "incompatible YAML document", b"\t\tname: x": "cannot start any token",
    b"name: x\nfrontend: {shape: {input: [1, 3, .nan, 64]}}": "frontend.shape.input[2]: nan is not a finite",
}


@pytest.mark.parametrize("data", BUILD_CORPUS, ids=range(len(BUILD_CORPUS)))
def test_build_yaml_corpus(data, tmp_path):
    """Known-nasty inputs, through the file reader too: each is refused, for the reason it has."""
    p = tmp_path / "c.yaml"
    p.write_bytes(data)
    with pytest.raises(Effv2nbError) as exc:
        config.load_build_config(p)
    _one_line(exc.value)
    assert str(exc.value).startswith(str(p)) and BUILD_CORPUS[data] in str(exc.value), str(exc.value)


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


VDSP_CORPUS = {   # known-nasty input -> (words of the validator's refusal, of the host preprocessing's)
    "": ("not valid JSON", "not valid JSON"),
    "[" * 100000: ("nested too deeply", "nested too deeply"),
    '{"OpConfig": ' * 5000: ("not valid JSON", "not valid JSON"),
    '{"OpConfig": {"OimageWidth": 1' + "0" * 5000 + "}}": ("not valid JSON", "not valid JSON"),
    '{"OpConfig": {"OimageWidth": 1e999}}': ("OpConfig.OimageWidth: inf is not a finite number", "OimageWidth"),
    '{"OpConfig": {"OimageWidth": NaN}}': ("OpConfig.OimageWidth: nan is not a finite number", "OimageWidth"),
    '{"OpConfig": {"OimageWidth": -Infinity}}': ("OpConfig.OimageWidth: -inf is not a finite number", "OimageWidth"),
    '{"OpType": null, "OpConfig": null}': ("OpType: None is not allowed", "'OpConfig' must be an object"),
    "null": ("is a JSON object, not NoneType", "must be a JSON object"),
    "7": ("is a JSON object, not int", "must be a JSON object"),
}


@pytest.mark.parametrize("text", VDSP_CORPUS, ids=range(len(VDSP_CORPUS)))
def test_vdsp_corpus(text, tmp_path):
    """Each entry is refused by the validator and by the host preprocessing alike, for the reason it has."""
    p = tmp_path / "c.json"
    p.write_text(text)
    for fn, words in zip((vdsp.load_vdsp, lambda q: preprocess.resolve(vdsp.read_json(q), 64)), VDSP_CORPUS[text]):
        with pytest.raises(Effv2nbError) as exc:
            fn(p)
        _one_line(exc.value)
        assert words in str(exc.value), str(exc.value)


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


RESULT_CORPUS = {   # name -> (bytes, the words of its refusal, or None: read with the clean file's figures)
    "empty": (b"", "holds no results"),
    "utf16_bom_and_nul": (b"\xff\xfe\x00", "UTF-16"),
    "crlf": (RESULT_TEXT.encode().replace(b"\n", b"\r\n"), None),
    "bom_crlf": (b"\xef\xbb\xbf" + RESULT_TEXT.encode().replace(b"\n", b"\r\n"), None),
    "cut_short": (RESULT_TEXT.encode()[:-40], "line 15: not a result line"),
    "prob_1e400": (b"a: Relay top-0 id: 1, prob: 1e400, class name: x", "prob '1e400' is not a finite number"),
    "prob_nan": (b"a: Relay top-0 id: 1, prob: nan, class name: x", "prob 'nan' is not a finite number"),
}


@pytest.mark.parametrize("name", RESULT_CORPUS)
def test_result_file_corpus(name, tmp_path):
    data, words = RESULT_CORPUS[name]
    p = tmp_path / f"{name}.txt"
    p.write_bytes(data)
    if words is None:
        clean = evaluate.evaluate_records(results.parse_text(RESULT_TEXT), DIGITS)
        assert evaluate.evaluate_records(results.read(p), DIGITS, p) == clean
        return
    with pytest.raises(Effv2nbError) as exc:
        evaluate.evaluate_records(results.read(p), DIGITS, p)
    _one_line(exc.value)
    assert words in str(exc.value), str(exc.value)


@pytest.mark.parametrize("parser", [build_parser, vdsp_parser, result_parser],
                         ids=["build_yaml", "vdsp", "results"])
@settings(max_examples=N["bytes"], **FUZZ)
@given(st.binary(max_size=300))
def test_fuzz_bytes(parser, data):
    text = _decode(data)
    if text is not None:
        check(parser, text)
