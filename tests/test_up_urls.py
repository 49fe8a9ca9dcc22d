"""`nexus up` (make run) prints where everything is, the operator console included."""

from __future__ import annotations

from nexus_assets import cli, stack


def test_up_prints_the_console_url(monkeypatch, capsys):
    monkeypatch.setattr(stack, "start", lambda config: None)
    assert cli.main(["up", "--serving-port", "8123", "--no-materialize"]) == 0
    printed = capsys.readouterr().out
    assert "Operator console:   http://127.0.0.1:8123/console" in printed
    assert "Decision service:   http://127.0.0.1:8123/docs" in printed
