from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_readme_opens_with_the_two_commands_and_ci_runs_the_test_one() -> None:
    lines = (ROOT / "README.md").read_text().splitlines()
    commands = [ln for ln in lines[:10] if ln.startswith("pip install")]
    assert len(commands) == 2
    main, tests = commands
    assert "modelprint bench run quick" in main and "pytest" in tests
    assert tests in (ROOT / ".ci" / "run").read_text().splitlines()
