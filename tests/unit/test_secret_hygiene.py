"""The LTI secret never shows: not in output, logs, exceptions, reprs or any written file."""

from __future__ import annotations

from tests.testkit import SECRET, csv_bytes, run_file, valid_rows
from zoomops import cli

assert SECRET == "S3CRET-xyzzy-42"


def assert_no_secret_in_dir(directory) -> int:
    files = [p for p in directory.rglob("*") if p.is_file()]
    for path in files:
        assert SECRET.encode() not in path.read_bytes(), path
    return len(files)


def test_cli_missing_env_names_variable_not_secret(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("ZOOMOPS_LTI_KEY", raising=False)
    monkeypatch.setenv("ZOOMOPS_LTI_BASE_URL", "http://127.0.0.1:9/x")
    monkeypatch.setenv("ZOOMOPS_LTI_SECRET", SECRET)
    source = tmp_path / "m.csv"
    source.write_bytes(csv_bytes(*valid_rows(1)))
    code = cli.main(["disassociate", str(source), "--out", str(tmp_path / "o")])
    out, err = capsys.readouterr()
    assert code == 2
    assert "ZOOMOPS_LTI_KEY" in err
    assert SECRET not in out + err


def test_dry_run_files_have_signatures_but_no_secret(tmp_path):
    result = run_file(tmp_path, csv_bytes(*valid_rows(5)), batch_size=2)
    assert len(result.requests) == 3
    assert all(len(r["headers"]["X-Lti-Signature"]) == 27 for r in result.requests)
    assert assert_no_secret_in_dir(result.dir) == 4
