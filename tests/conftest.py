import os

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED_DATASETS = os.path.join(os.path.dirname(REPO), "shared", "datasets")


def shared_dataset(name: str) -> str:
    """Path to ../shared/datasets/<name>, or skip the test with the reason."""
    path = os.path.join(SHARED_DATASETS, name)
    if not os.path.isdir(path):
        pytest.skip(f"real dataset not available: {path} is absent (development/CI machines only)")
    return path


INTENTS_CONFIG = os.path.join(REPO, "configs", "assistant_intents.py")
ACTIONS_CONFIG = os.path.join(REPO, "configs", "assistant_actions.py")
# Fixtures that train or convert a model: a test that uses one is in the slow tier.
_SLOW_FIXTURES = {"small_workdir", "small_export", "action_workdir", "action_export"}


def pytest_collection_modifyitems(items):
    """`-m "not slow"` is the fast tier: tests marked slow, or needing a trained model."""
    for item in items:
        if _SLOW_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


def run(*args, timeout=600):
    """`python -m <args>` from the repository root, output captured."""
    import subprocess
    import sys
    return subprocess.run([sys.executable, "-m", *args], cwd=REPO, capture_output=True,
                          text=True, timeout=timeout)


def assert_one_line_error(result, *needles):
    """Exit code 2, exactly one `error:` line containing each needle, no traceback."""
    assert result.returncode == 2, result.stderr[-3000:]
    lines = [l for l in result.stderr.splitlines() if l.startswith("error:")]
    assert len(lines) == 1, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


@pytest.fixture(scope="session")
def small_workdir(tmp_path_factory):
    """A small student that learned something (accuracy ~0.8, about 25 s), shared by tests."""
    path = tmp_path_factory.mktemp("small") / "intents"
    r = run("pipeline.train", f"--config={INTENTS_CONFIG}:tiny", f"--workdir={path}")
    assert r.returncode == 0, r.stderr[-3000:]
    return path


@pytest.fixture(scope="session")
def small_export(small_workdir):
    """`python -m export.convert` run once on `small_workdir`: (export dir, its stdout)."""
    r = run("export.convert", f"--workdir={small_workdir}", "--representative_examples=100")
    assert r.returncode == 0, r.stderr[-3000:]
    return small_workdir / "export", r.stdout


@pytest.fixture(scope="session")
def action_workdir(tmp_path_factory):
    """The action task's `:tiny` causal LM (one small layer, about 15 s), shared by tests."""
    path = tmp_path_factory.mktemp("action") / "actions"
    r = run("pipeline.train", f"--config={ACTIONS_CONFIG}:tiny", f"--workdir={path}")
    assert r.returncode == 0, r.stderr[-3000:]
    return path


@pytest.fixture(scope="session")
def action_export(action_workdir):
    """`python -m export.convert` run once on `action_workdir`: (export dir, its stdout)."""
    r = run("export.convert", f"--workdir={action_workdir}")
    assert r.returncode == 0, r.stderr[-3000:]
    return action_workdir / "export", r.stdout
