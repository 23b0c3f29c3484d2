"""The docs/ pages are checked, not just written.

- Every ```yaml block goes through the matrix reader (`harness.matrix.parse_matrix`); a block marked
  `<!-- fragment -->` (a piece of a matrix) must at least be valid YAML.
- Every ```python block marked `<!-- runnable -->` runs in a subprocess with this checkout on
  PYTHONPATH: the "add your own" examples register their component and run it end to end.
- Every ```bash block marked `<!-- runnable -->` runs, with `thinkbench` replaced by
  `python -m harness.cli` (this checkout's code, not an installed script). Every `thinkbench X`
  written in any bash block must name a real command.
- docs/records.md's column table is the one generated from `Record` (docs/generate_records.py).
- A broken block of each kind is caught (the checks can fail).

The runnable blocks are started together (see `launched`), each in a scratch directory with THINKBENCH_CACHE pointing at a scratch cache whose
`testbed` is a tiny randomly initialised Llama (the real testbed takes minutes to train): the
docs' matrices resolve and run as written, and the numbers are not the point.
"""
from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
PAGES = sorted(DOCS.glob("*.md"))
FENCE = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```[ \t]*$", re.S | re.M)
MARK = re.compile(r"<!--\s*(runnable|fragment)\s*-->\s*$")


@dataclass(frozen=True)
class Block:
    page: str
    line: int
    lang: str
    mark: str | None  # "runnable", "fragment" or None
    text: str

    @property
    def where(self) -> str:
        return f"docs/{self.page}:{self.line}"


def blocks_of(text: str, page: str) -> list[Block]:
    """The fenced code blocks of a page with the marker on the last non-blank line before each."""
    out = []
    for m in FENCE.finditer(text):
        before = [ln for ln in text[:m.start()].splitlines() if ln.strip()]
        mark = MARK.search(before[-1]) if before else None
        out.append(Block(page, text[:m.start()].count("\n") + 1, m.group(1).lower(),
                         mark.group(1) if mark else None, m.group(2)))
    return out


def all_blocks(lang: str, mark: str | None = "any") -> list[Block]:
    found = [b for p in PAGES for b in blocks_of(p.read_text(encoding="utf-8"), p.name) if b.lang == lang]
    return [b for b in found if mark == "any" or b.mark == mark]


def ids(blocks: list[Block]) -> list[str]:
    return [b.where for b in blocks]


# ── the scratch cache: `testbed` is a tiny random model ──────────────────────────────────────

def _tiny_testbed(cache: Path) -> None:
    from baselines.train.testbed import TestbedConfig, build_model, build_tokenizer, default_dir
    from harness.checkpoint import save_checkpoint

    home = default_dir()  # under THINKBENCH_CACHE, which the caller has set
    tokenizer = build_tokenizer()
    import torch

    torch.manual_seed(0)
    model = build_model(TestbedConfig(hidden=16, layers=1, heads=2), len(tokenizer))
    save_checkpoint(model, tokenizer, home / "final", {"train_flops": 0.0})
    for alias in ("step-600", "prm", "orm"):  # resolvable names for the matrices on the pages
        (home / alias).symlink_to(home / "final", target_is_directory=True)
    assert str(home).startswith(str(cache))


@pytest.fixture(scope="session")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("docs-cache")
    old = os.environ.get("THINKBENCH_CACHE")
    os.environ["THINKBENCH_CACHE"] = str(root)
    try:
        _tiny_testbed(root)
    finally:
        if old is None:
            del os.environ["THINKBENCH_CACHE"]
        else:
            os.environ["THINKBENCH_CACHE"] = old
    return root


def env_for(cache: Path) -> dict[str, str]:
    env = dict(os.environ, THINKBENCH_CACHE=str(cache), PYTHONPATH=str(ROOT), HF_HUB_OFFLINE="1",
               TRANSFORMERS_OFFLINE="1", HF_DATASETS_OFFLINE="1", THINKBENCH_THREADS="1")
    env.pop("PYTHONSTARTUP", None)
    return env


# ── the checks (also used on deliberately broken blocks below) ───────────────────────────────

def check_yaml(block: Block) -> None:
    """A whole matrix passes the matrix reader; a fragment is valid YAML."""
    from harness.config import load_yaml
    from harness.matrix import parse_matrix

    data = load_yaml(block.text)
    if block.mark != "fragment":
        parse_matrix(data, block.where)


def command_of(block: Block, cwd: Path) -> list[str]:
    """How a runnable block is run: a python block as a script, a bash block with `thinkbench`
    replaced by this checkout's CLI."""
    if block.lang == "python":
        script = cwd / "example.py"
        script.write_text(block.text, encoding="utf-8")
        return [sys.executable, str(script)]
    return ["bash", "-euo", "pipefail", "-c", as_checkout_command(block.text)]


def as_checkout_command(script: str) -> str:
    """`thinkbench ...` lines become `python -m harness.cli ...` (this checkout's code)."""
    return re.sub(r"^(\s*)thinkbench\b", lambda m: f"{m.group(1)}{shlex.quote(sys.executable)} -m harness.cli",
                  script, flags=re.M)


class Launched:
    """A runnable block started in its own scratch directory; `result()` waits for it."""

    def __init__(self, block: Block, cache: Path, cwd: Path) -> None:
        self.block, self.cwd = block, cwd
        cwd.mkdir(parents=True, exist_ok=True)
        self.out, self.err = open(cwd / "stdout.txt", "w+"), open(cwd / "stderr.txt", "w+")
        self.proc = subprocess.Popen(command_of(block, cwd), cwd=cwd, env=env_for(cache), stdout=self.out,
                                     stderr=self.err, text=True)

    def result(self, timeout: float = 300) -> subprocess.CompletedProcess:
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait()
        self.out.seek(0)
        self.err.seek(0)
        return subprocess.CompletedProcess(self.proc.args, code, self.out.read(), self.err.read())


def run_block(block: Block, cache: Path, cwd: Path) -> subprocess.CompletedProcess:
    return Launched(block, cache, cwd).result()


RUNNABLE = all_blocks("python", "runnable") + all_blocks("bash", "runnable")


@pytest.fixture(scope="session")
def launched(cache: Path, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
             ) -> dict[str, Launched]:
    """Every selected runnable block, started at once: they are independent and mostly wait on
    imports, so with a few cores the docs test takes about as long as its slowest example.
    Under pytest-xdist each worker runs only the blocks it is given (see `result_of`)."""
    if os.environ.get("PYTEST_XDIST_WORKER"):
        return {}
    selected = {item.callspec.params["block"].where for item in request.session.items
                if getattr(item, "originalname", "") == "test_runnable_blocks_run"}
    root = tmp_path_factory.mktemp("blocks")
    return {b.where: Launched(b, cache, root / f"{i:02d}") for i, b in enumerate(RUNNABLE) if b.where in selected}


def result_of(block: Block, launched: dict[str, Launched], cache: Path, tmp_path: Path) -> subprocess.CompletedProcess:
    started = launched.get(block.where)
    return started.result() if started else run_block(block, cache, tmp_path)


def explain(block: Block, done: subprocess.CompletedProcess) -> str:
    return (f"{block.where}: exit {done.returncode}\n--- stdout ---\n{done.stdout[-3000:]}\n"
            f"--- stderr ---\n{done.stderr[-3000:]}")


# ── the pages ────────────────────────────────────────────────────────────────────────────────

def test_the_pages_exist_and_the_index_lists_each() -> None:
    names = {p.name for p in PAGES}
    wanted = {"index.md", "concepts.md", "matrix.md", "tasks.md", "methods.md", "verifiers.md", "backends.md",
              "trainers.md", "records.md", "report.md", "compare.md"}
    assert wanted <= names, f"missing pages: {sorted(wanted - names)}"
    index = (DOCS / "index.md").read_text(encoding="utf-8")
    for name in sorted(names - {"index.md"}):
        assert f"({name})" in index, f"docs/index.md does not link {name}"


def slug(heading: str) -> str:
    """GitHub's anchor for a heading."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_links_between_pages_resolve() -> None:
    anchors = {p.name: {slug(h) for h in re.findall(r"^#+ (.+)$", p.read_text(encoding="utf-8"), re.M)}
               for p in PAGES}
    for page in PAGES:
        for target, anchor in re.findall(r"\]\(([\w-]+\.md)(?:#([\w-]+))?\)", page.read_text(encoding="utf-8")):
            assert target in anchors, f"docs/{page.name} links to {target}, which does not exist"
            assert not anchor or anchor in anchors[target], f"docs/{page.name}: no heading #{anchor} in {target}"


@pytest.mark.parametrize("page", [p.name for p in PAGES if p.name != "index.md"])
def test_each_page_ends_with_add_your_own(page: str) -> None:
    headings = re.findall(r"^## (.+)$", (DOCS / page).read_text(encoding="utf-8"), re.M)
    assert headings and headings[-1].lower().startswith("add your own"), (
        f"docs/{page}: the last section must be 'Add your own ...' (found {headings[-1:]})")


def test_every_block_mark_is_known_and_fragments_are_yaml() -> None:
    for page in PAGES:
        for block in blocks_of(page.read_text(encoding="utf-8"), page.name):
            if block.mark == "fragment":
                assert block.lang == "yaml", f"{block.where}: only yaml blocks can be fragments"
            if block.mark == "runnable":
                assert block.lang in ("python", "bash"), f"{block.where}: runnable blocks are python or bash"


@pytest.mark.parametrize("block", all_blocks("yaml"), ids=ids(all_blocks("yaml")))
def test_yaml_blocks_pass_the_matrix_reader(block: Block, cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("THINKBENCH_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    check_yaml(block)


def test_the_docs_have_runnable_examples() -> None:
    assert len(all_blocks("python", "runnable")) >= 6 and all_blocks("bash", "runnable")


@pytest.mark.parametrize("block", RUNNABLE, ids=ids(RUNNABLE))
def test_runnable_blocks_run(block: Block, launched: dict[str, Launched], cache: Path, tmp_path: Path) -> None:
    done = result_of(block, launched, cache, tmp_path)
    assert done.returncode == 0, explain(block, done)


def test_every_thinkbench_command_named_in_the_docs_exists() -> None:
    from harness.cli import parser

    sub = next(a for a in parser()._actions if a.dest == "command")
    for block in all_blocks("bash"):
        for m in re.finditer(r"^\s*thinkbench\s+([\w-]+)", block.text, re.M):
            assert m.group(1) in sub.choices, f"{block.where}: `thinkbench {m.group(1)}` is not a command"


def test_records_page_is_generated_from_the_record_schema() -> None:
    done = subprocess.run([sys.executable, str(DOCS / "generate_records.py"), "--check"], capture_output=True,
                          text=True, env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert done.returncode == 0, done.stdout + done.stderr


# ── the checks can fail ──────────────────────────────────────────────────────────────────────

BROKEN = """\
# A page

```yaml
name: broken
tasks: [{name: addition, n_problems: 5}]
checkpoints: [testbed]
methods: [{name: majority, params: {expansion: 8}}]
```

<!-- fragment -->
```yaml
methods: [greedy
```

<!-- runnable -->
```python
raise SystemExit("this example is broken")
```

<!-- runnable -->
```bash
thinkbench no-such-command
```
"""


def test_broken_blocks_are_caught(cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import yaml

    from harness.registry import ConfigError

    monkeypatch.setenv("THINKBENCH_CACHE", str(cache))
    matrix, fragment, python, bash = blocks_of(BROKEN, "broken.md")
    assert (matrix.mark, fragment.mark, python.mark, bash.mark) == (None, "fragment", "runnable", "runnable")
    with pytest.raises(ConfigError, match="unknown field 'expansion'"):
        check_yaml(matrix)
    with pytest.raises(yaml.YAMLError):
        check_yaml(fragment)
    assert run_block(python, cache, tmp_path / "python").returncode != 0
    assert "harness.cli" in as_checkout_command(bash.text)
    assert run_block(bash, cache, tmp_path / "bash").returncode != 0


def test_a_stale_records_table_is_caught() -> None:
    sys.path.insert(0, str(DOCS))
    try:
        import generate_records as gen
    finally:
        sys.path.remove(str(DOCS))
    page = (DOCS / "records.md").read_text(encoding="utf-8")
    assert gen.current(page) == gen.table()
    stale = page.replace("| `flops` |", "| `flop_count` |")
    assert stale != page and gen.current(stale) != gen.table()
    assert gen.current(gen.regenerate(stale)) == gen.table()
