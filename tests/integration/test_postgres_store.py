"""The PostgreSQL store from an operator's side: where the password comes from, what a node
says when the server is not there, and the operators' commands on a shared store."""

from __future__ import annotations

from tests.conftest import RULES_ANY_QUAKE, need_postgres, run_to_exit, write_config
from warnd.cli import main
from warnd.store.postgres import conninfo
from warnd.testing import postgres as pg

FEEDS = """  - id: gempa
    format: bmkg-tews
    url: /nonexistent.json
"""


def test_a_password_in_the_dsn_is_refused_without_being_shown(tmp_path, capsys):
    store = "store:\n  dsn: postgresql://warnd:s3cret-pw@db1:5432/warnd\n"
    cfg = write_config(tmp_path, feeds=FEEDS, rules=RULES_ANY_QUAKE, extra=store)
    assert main(["check", "-c", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert "store.dsn: Value error, holds a password" in err and "pg-password" in err
    assert "s3cret-pw" not in err


def test_the_password_comes_from_the_credential_and_the_operators_settings_win():
    info = conninfo("postgresql://warnd@db1/warnd?connect_timeout=2&options=-c%20work_mem%3D8MB", "pw", "warnd:a")
    parts = dict(p.split("=", 1) for p in info.split(" ") if "=" in p and not p.startswith("-c"))
    assert parts["password"] == "pw" and parts["connect_timeout"] == "2"
    assert parts["application_name"] == "warnd:a" and parts["keepalives"] == "1"
    assert "work_mem=8MB" in info and "statement_timeout=5000" in info


def test_a_node_whose_server_is_down_exits_1_for_a_restart_and_never_shows_the_password(tmp_path):
    store = "store:\n  dsn: postgresql://warnd@127.0.0.1:9/warnd\n  node: a\n"
    cfg = write_config(tmp_path, feeds=FEEDS, rules=RULES_ANY_QUAKE, extra=store)
    env = {"WARND_SECRET_PG_PASSWORD": "hunter2-secret", "PATH": "/usr/bin:/bin"}
    proc = run_to_exit(cfg, env=env)
    assert proc.returncode == 1, proc.stderr
    assert "store.unavailable" in proc.stderr and "127.0.0.1:9/warnd" in proc.stderr
    assert "hunter2-secret" not in proc.stderr + proc.stdout


def test_operators_commands_work_on_the_shared_store(tmp_path, capsys):
    need_postgres()
    with pg.schema() as schema:

        def store(node: str) -> str:
            return f"store:\n  dsn: {pg.DSN}\n  schema: {schema}\n  node: {node}\n"

        cfg = write_config(tmp_path, feeds=FEEDS, rules=RULES_ANY_QUAKE, extra=store("a"))
        other = write_config(tmp_path / "b", feeds=FEEDS, rules=RULES_ANY_QUAKE, extra=store("b"))
        assert main(["silence", "add", "-c", str(cfg), "--region", "32", "--for", "2h", "--reason", "drill"]) == 0
        capsys.readouterr()
        # Another node's operator sees it: silences are shared state.
        assert main(["silence", "list", "-c", str(other)]) == 0
        listed = capsys.readouterr().out
        assert "(region 32)" in listed and "drill" in listed
        assert main(["status", "-c", str(other), "--format", "table"]) == 3  # no daemon: the store's view
        out = capsys.readouterr().out
        assert f"schema {schema}" in out and "NOT RUNNING" in out
