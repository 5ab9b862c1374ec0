"""The command line as an operator uses it: ask, kb import/export, db upgrade, bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml


@pytest.fixture(autouse=True)
def _prepared(sqlite_prepared: str) -> None:
    """Every command runs on a copy of the prepared sample city (tmp_path/c.db)."""


def civic311(*args: str, cwd: Path, stdin: str | None = None, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", *args],
        cwd=cwd,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "DATABASE_URL": f"sqlite+aiosqlite:///{cwd}/c.db", **env},
    )


def in_process(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, *args: str, **env: str
) -> tuple[int, str, str]:
    """`civic311 ARGS` through the same `main`, in this process: for what the command line
    says before any work starts (help, versions, bad arguments), where a process of its
    own would only add a second of start-up. The commands that work run as processes."""
    from bot.cli import main

    for name, value in env.items():
        monkeypatch.setenv(name, value)
    try:
        code = main(list(args))
    except SystemExit as exit:  # argparse's help and usage errors
        code = exit.code if isinstance(exit.code, int) else 1
    out, err = capsys.readouterr()
    return code, out, err


def test_ask_json_reads_one_message_a_line(tmp_path: Path) -> None:
    out = civic311("ask", "--json", "-", cwd=tmp_path, stdin="when is 311 open?\n\nhello\n")
    assert out.returncode == 0, out.stderr
    lines = [json.loads(x) for x in out.stdout.splitlines()]
    assert [x["intent"] for x in lines] == ["faq", "fallback", "smalltalk"]
    assert lines[0]["entry"] == "311-hours" and "24 hours" in lines[0]["text"]
    assert all(0 <= x["score"] <= 1 for x in lines)


def test_kb_export_then_import_round_trips(tmp_path: Path) -> None:
    assert civic311("kb", "export", "kb.yaml", cwd=tmp_path).returncode == 0
    data = yaml.safe_load((tmp_path / "kb.yaml").read_text())
    data["entries"][0]["answer"] = "Edited answer."
    (tmp_path / "kb.yaml").write_text(yaml.safe_dump(data))
    out = civic311("kb", "import", "kb.yaml", cwd=tmp_path)
    assert out.returncode == 0 and "1 updated" in out.stdout, out.stderr
    assert civic311("kb", "export", "again.yaml", cwd=tmp_path).returncode == 0
    assert yaml.safe_load((tmp_path / "again.yaml").read_text()) == data


def test_a_bad_kb_file_is_refused_whole(tmp_path: Path) -> None:
    civic311("kb", "export", "kb.yaml", cwd=tmp_path)
    data = yaml.safe_load((tmp_path / "kb.yaml").read_text())
    data["entries"][0]["answer"] = "Changed, but the file is bad."
    data["entries"][1]["id"] = "Not A Slug"
    (tmp_path / "kb.yaml").write_text(yaml.safe_dump(data))
    out = civic311("kb", "import", "kb.yaml", cwd=tmp_path)
    assert out.returncode == 1
    assert "nothing imported" in out.stderr and "kb.yaml:" in out.stderr and "slug" in out.stderr
    civic311("kb", "export", "after.yaml", cwd=tmp_path)
    after = yaml.safe_load((tmp_path / "after.yaml").read_text())
    assert after["entries"][0]["answer"] != "Changed, but the file is bad."


def test_a_bad_setting_stops_with_one_line(tmp_path: Path) -> None:
    out = civic311("ask", "hi", cwd=tmp_path, PUBLIC_URL="not a url")
    assert out.returncode == 2
    assert out.stderr.strip().count("\n") == 0 and "PUBLIC_URL" in out.stderr


def test_db_upgrade(tmp_path: Path) -> None:
    out = civic311("db", "upgrade", cwd=tmp_path)
    assert out.returncode == 0 and "up to date" in out.stdout


def test_piped_chat_greets_and_answers(tmp_path: Path) -> None:
    out = civic311("chat", cwd=tmp_path, stdin="hi\nwhen is 311 open?\n")
    assert out.returncode == 0, out.stderr
    assert "311 assistant" in out.stdout and "24 hours" in out.stdout


def test_report_set_status_refuses_an_unknown_number(tmp_path: Path) -> None:
    out = civic311("report", "set-status", "10999", "in_progress", cwd=tmp_path)
    assert out.returncode == 1 and "There is no report 10999" in out.stderr
    out = civic311("report", "set-status", "10999", "someday", cwd=tmp_path)
    assert out.returncode == 1 and "not a status" in out.stderr


def test_kb_export_and_import_of_the_service_catalogue(tmp_path: Path) -> None:
    out = civic311("kb", "export", "city", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "city" / "faq.yaml").exists() and "23 services" in out.stdout
    data = yaml.safe_load((tmp_path / "city" / "services.yaml").read_text())
    pothole = next(s for s in data["services"] if s["code"] == "pothole")
    pothole["typical_days"] = 4
    (tmp_path / "city" / "services.yaml").write_text(yaml.safe_dump(data))
    out = civic311("kb", "import", "city/services.yaml", cwd=tmp_path)
    assert out.returncode == 0 and "service catalogue: 0 added, 1 updated" in out.stdout, out.stdout
    assert civic311("kb", "export", "--services", "s.yaml", cwd=tmp_path).returncode == 0
    again = yaml.safe_load((tmp_path / "s.yaml").read_text())
    assert next(s for s in again["services"] if s["code"] == "pothole")["typical_days"] == 4
    pothole["questions"][0]["datatype"] = "colour"
    (tmp_path / "city" / "services.yaml").write_text(yaml.safe_dump(data))
    out = civic311("kb", "import", "city", cwd=tmp_path)  # the folder: both files, refused whole
    assert out.returncode == 1 and "nothing imported" in out.stderr and "datatype 'colour'" in out.stderr


def test_bare_civic311_prints_the_help_and_version_works(tmp_path: Path) -> None:
    out = civic311(cwd=tmp_path)  # the real entry point, once
    assert out.returncode == 0 and "COMMAND" in out.stdout and "serve" in out.stdout, out.stderr
    version = civic311("--version", cwd=tmp_path)
    assert version.returncode == 0 and version.stdout.startswith("civic311 ")


def test_a_command_without_its_action_prints_that_commands_help(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for command, actions in (("kb", ("import", "export")), ("db", ("upgrade",)), ("report", ("set-status",))):
        code, out, _ = in_process(capsys, monkeypatch, command)
        assert code == 0 and all(a in out for a in actions), out


def test_every_positional_argument_says_what_it_is(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for command in (["ask"], ["kb", "import"], ["kb", "export"], ["report", "set-status"]):
        code, out, err = in_process(capsys, monkeypatch, *command, "--help")
        assert code == 0, err
        positional = out.split("positional arguments:")[1].split("options:")[0]
        lines = positional.splitlines()
        named = [line.split() for line in lines if line.startswith("  ") and not line.startswith("   ")]
        assert named and all(len(words) > 1 for words in named), out  # a name, then its help


def test_a_bad_port_is_one_line_and_never_breaks_help(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert in_process(capsys, monkeypatch, "--help", PORT="abc")[0] == 0
    for args, env in ((["--port", "99999"], {}), (["--port", "http"], {})):
        code, _, err = in_process(capsys, monkeypatch, "serve", *args, **env)
        assert code == 2 and "Traceback" not in err
        assert "1 to 65535" in err.strip().splitlines()[-1]
    out = civic311("serve", cwd=tmp_path, PORT="abc")  # from the environment, in a real process
    assert out.returncode == 1 and "Traceback" not in out.stderr
    said = out.stderr.strip().splitlines()
    assert said == ["civic311: PORT='abc' is not a port: use a number from 1 to 65535"]


def test_a_port_in_use_is_said_at_once_in_one_line(tmp_path: Path) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        out = civic311("serve", "--port", str(port), cwd=tmp_path)
    assert out.returncode == 1 and out.stderr.strip() == (
        f"civic311: cannot listen on 127.0.0.1:{port}: the port is in use (try --port)"
    )


def test_an_unwritable_media_dir_stops_serve_at_start(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("not a folder")
    from tests.servers import free_port

    media = tmp_path / "a-file" / "media"
    out = civic311("serve", "--port", str(free_port()), cwd=tmp_path, MEDIA_DIR=str(media))
    assert out.returncode == 1 and out.stderr.strip().count("\n") == 0
    assert out.stderr.startswith(f"civic311: MEDIA_DIR {media} is not a writable folder")


def test_without_public_url_links_point_where_serve_listens(tmp_path: Path) -> None:
    import time
    import urllib.request

    from tests.servers import free_port

    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "PUBLIC_URL"}
    env.update(DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path}/c.db", MEDIA_DIR=str(tmp_path / "media"))
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "serve", "--port", str(port)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        body = None
        while time.monotonic() < deadline and body is None:
            try:
                url = f"http://127.0.0.1:{port}/open311/v2/discovery.json"
                with urllib.request.urlopen(url, timeout=5) as response:
                    body = json.load(response)
            except OSError:
                assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
                time.sleep(0.3)
        assert body is not None
        assert body["endpoints"][0]["url"] == f"http://127.0.0.1:{port}/open311/v2"
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_a_closed_pipe_ends_a_command_quietly(tmp_path: Path) -> None:
    """`civic311 stats --csv | head`: the reader goes away; no BrokenPipeError traceback."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "stats", "--csv"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/c.db"},
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # before the command has written anything
    error = proc.stderr.read()
    proc.wait(timeout=120)
    assert "Traceback" not in error and "BrokenPipe" not in error, error


def test_chat_shows_updates_that_arrived_between_two_runs(tmp_path: Path) -> None:
    import asyncio

    from bot.db import Database
    from bot.delivery.transcript import TranscriptChannel
    from bot.messages import Capabilities, Outgoing

    first = civic311("chat", "--as", "ann", cwd=tmp_path, stdin="hi\n")
    assert first.returncode == 0 and "While you were away" not in first.stdout

    async def deliver() -> None:  # as the outbox worker does while ann is not running chat
        db = Database(f"sqlite+aiosqlite:///{tmp_path}/c.db")
        try:
            channel = TranscriptChannel("console", db, Capabilities())
            await channel.send("ann", Outgoing("Report 10001 is now in progress."))
        finally:
            await db.dispose()

    asyncio.run(deliver())
    second = civic311("chat", "--as", "ann", cwd=tmp_path, stdin="")
    assert second.returncode == 0, second.stderr
    assert "While you were away:" in second.stdout and "Report 10001 is now in progress." in second.stdout
    third = civic311("chat", "--as", "ann", cwd=tmp_path, stdin="thanks\n")
    assert "While you were away" in third.stdout  # still unseen: ann has not written since
    fourth = civic311("chat", "--as", "ann", cwd=tmp_path, stdin="")
    assert "While you were away" not in fourth.stdout  # shown before her last message
