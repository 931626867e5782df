"""Schema migrations: a track per plugin, adopted old databases, refusals, one run per deploy.

Each test installs a throwaway plugin whose migrations create ``<ns>_notes`` (0001) and then
rename its ``body`` column to ``text`` while trimming the values (0002), runs against SQLite
and, with ``PLUGHOST_TEST_DATABASE_URL``, PostgreSQL (through the test kit's databases), and
looks at the database directly.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from types import SimpleNamespace

import anyio
import pytest
from sqlalchemy import Integer, MetaData, Table, inspect, select, text

from plughost import __version__
from plughost.core import lifecycle, migrations
from plughost.core.database import build_engine
from plughost.core.discovery import discover
from plughost.core.migration_lock import locked
from plughost.ops.audit import audit_table

PLUGIN = """
from sqlalchemy import Column, Integer, Text
from plughost import Plugin, ToolContext

plugin = Plugin(scopes={"{ns}:read": "Read notes"}, migrations="{package}")
notes = plugin.table(
    "{ns}_notes",
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("text", Text, nullable=False),
)

@plugin.tool(scopes=["{ns}:read"], read_only=True)
def texts(ctx: ToolContext) -> list[str]:
    \"\"\"Every note's text.\"\"\"
    with ctx.storage.transaction() as db:
        return [row.text for row in db.execute(ctx.storage.select(notes).order_by(notes.c.id))]
"""

FIRST = '''"""Notes with a body."""
import time

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None


def upgrade():
    op.create_table(
        "{ns}_notes",
        sa.Column("tenant_id", sa.String(255), nullable=False, index=True),
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("body", sa.Text(), nullable=False),
    )
    op.create_table("{ns}_runs", sa.Column("revision", sa.String(8)))
    time.sleep(0.3)  # a window for a second replica to try the same
    op.execute("INSERT INTO {ns}_runs (revision) VALUES ('0001')")


def downgrade():
    op.drop_table("{ns}_runs")
    op.drop_table("{ns}_notes")
'''

SECOND = '''"""The body becomes the text, without surrounding spaces."""
import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"


def upgrade():
    with op.batch_alter_table("{ns}_notes") as batch:
        batch.alter_column("body", new_column_name="text", existing_type=sa.Text())
    notes = sa.table("{ns}_notes", sa.column("text", sa.Text()))
    op.execute(notes.update().values(text=sa.func.trim(notes.c.text)))
    op.execute("INSERT INTO {ns}_runs (revision) VALUES ('0002')")


def downgrade():
    with op.batch_alter_table("{ns}_notes") as batch:
        batch.alter_column("text", new_column_name="body", existing_type=sa.Text())
'''


@pytest.fixture
def notes_plugin(make_dist):
    """Install the plugin with both revisions; returns (namespace, migrations directory)."""
    namespace = f"n{uuid.uuid4().hex[:8]}"
    package = f"{namespace}_migrations"
    directory = make_dist.root / package
    directory.mkdir()
    (directory / "__init__.py").write_text("")
    for name, source in (("0001_notes.py", FIRST), ("0002_text.py", SECOND)):
        (directory / name).write_text(source.replace("{ns}", namespace))
    source = PLUGIN.replace("{ns}", namespace).replace("{package}", package)
    make_dist(f"acme-{namespace}", source, namespace=namespace)
    return namespace, directory


def track(namespace: str) -> migrations.Track:
    report = discover(host_version=__version__, enabled=[namespace])
    return migrations.plugin_track(report.loaded[0])


def runs(db, namespace: str) -> list[str]:
    with db.engine.connect() as conn:
        return list(conn.execute(text(f"SELECT revision FROM {namespace}_runs")).scalars())


def test_a_plugin_is_migrated_to_its_newest_revision_with_its_data(
    notes_plugin, plughost_database, plughost_factory
):
    namespace, _ = notes_plugin
    db = plughost_database
    db.upgrade(namespace, "0001")
    with db.engine.begin() as conn:
        conn.execute(
            text(f"INSERT INTO {namespace}_notes (tenant_id, body) VALUES ('tenant-a', ' hi ')")
        )
    host = plughost_factory(
        plugins=[namespace], data_dir=db.data_dir, settings=db.settings, in_process=True
    )
    assert db.revision(namespace) == "0002"
    assert host.client().call(f"{namespace}_texts").data == {"result": ["hi"]}
    tables = inspect(db.engine).get_table_names()
    assert f"{namespace}_alembic_version" in tables and "plughost_alembic_version" in tables
    assert runs(db, namespace) == ["0001", "0002"]


def test_refuse_mode_withdraws_a_plugin_that_is_behind_and_serves_the_others(
    notes_plugin, plughost_database, plughost_factory
):
    namespace, _ = notes_plugin
    db = plughost_database
    db.upgrade("plughost")
    db.upgrade("todo")
    db.upgrade(namespace, "0001")
    host = plughost_factory(
        plugins=[namespace, "todo"],
        data_dir=db.data_dir,
        settings={**db.settings, "migrate_on_start": "refuse"},
        allow_failures=True,
        in_process=True,
    )
    record = next(r for r in host.host.report.records if r.namespace == namespace)
    assert record.status == "failed"
    assert "SchemaBehind" in record.error and "at 0001" in record.error and "0002" in record.error
    assert f"plughost db upgrade --plugin {namespace}" in record.error
    assert host.client().call("todo_list").ok
    assert db.revision(namespace) == "0001"


def test_a_migrations_package_with_no_revision_yet_is_current(make_dist, plughost_database):
    """An author who has made the package but not written 0001 yet: nothing is pending."""
    namespace = f"n{uuid.uuid4().hex[:8]}"
    package = f"{namespace}_migrations"
    (make_dist.root / package).mkdir()
    (make_dist.root / package / "__init__.py").write_text("")
    make_dist(
        f"acme-{namespace}",
        PLUGIN.replace("{ns}", namespace).replace("{package}", package),
        namespace=namespace,
    )
    found = migrations.status(plughost_database.engine, track(namespace))
    assert found.state is migrations.SchemaState.CURRENT, found.detail
    assert migrations.make_ready(plughost_database.engine, track(namespace), migrate=False) == []


def test_a_database_ahead_of_the_installed_plugin_is_refused_naming_both_revisions(
    notes_plugin, plughost_database, plughost_factory
):
    namespace, _ = notes_plugin
    db = plughost_database
    db.upgrade(namespace)
    with db.engine.begin() as conn:
        conn.execute(text(f"UPDATE {namespace}_alembic_version SET version_num = '0007'"))
    host = plughost_factory(
        plugins=[namespace, "todo"],
        data_dir=db.data_dir,
        settings=db.settings,
        allow_failures=True,
        in_process=True,
    )
    record = next(r for r in host.host.report.records if r.namespace == namespace)
    assert "SchemaAhead" in record.error
    assert "revision 0007" in record.error and "its newest is 0002" in record.error
    assert host.client().call("todo_list").ok


def test_replicas_migrating_together_run_each_migration_once(notes_plugin, plughost_database):
    namespace, _ = notes_plugin
    db = plughost_database
    errors: list[BaseException] = []

    def replica() -> None:
        engine = build_engine(db.url)
        try:
            migrations.upgrade(engine, track(namespace))
        except BaseException as exc:
            errors.append(exc)
        finally:
            engine.dispose()

    threads = [threading.Thread(target=replica) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors
    assert runs(db, namespace) == ["0001", "0002"]
    assert db.revision(namespace) == "0002"


def test_tables_made_before_migrations_are_adopted_at_the_baseline(plughost_database):
    """The host's audit table as `ensure_schema` made it, with its rows: stamped, not rebuilt."""
    db = plughost_database
    audit_table.create(db.engine)
    with db.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO plughost_audit (time, outcome, required_scopes, arguments) "
                "VALUES (CURRENT_TIMESTAMP, 'ok', '[]', '[]')"
            )
        )
    steps = db.upgrade("plughost", "0001")
    assert steps == ["adopted existing tables at baseline 0001"]
    assert db.revision("plughost") == "0001"
    with db.engine.connect() as conn:
        assert conn.execute(select(audit_table.c.outcome)).scalars().all() == ["ok"]


def test_a_later_revisions_table_made_early_is_no_sign_of_an_old_database(plughost_database):
    """The dev issuer makes its tables on first use, maybe before the host migrates: a fresh
    database with them still gets every revision (the baseline's audit table included)."""
    from plughost.devissuer.store import oauth_metadata

    db = plughost_database
    oauth_metadata.create_all(db.engine)
    steps = db.upgrade("plughost")
    assert [step.split()[2] for step in steps] == ["0001", "0002", "0003", "0004", "0005", "0006"]
    assert "plughost_audit" in inspect(db.engine).get_table_names()


def test_0004_gives_the_audit_trail_a_trace_id_and_keeps_its_rows(plughost_database):
    """A database at 0003 (plughost before tracing): its records keep, with no trace id."""
    from plughost.ops.audit import AuditRecord, AuditTrail, Outcome
    from plughost.ops.audit_query import read_database

    db = plughost_database
    db.upgrade("plughost", "0003")
    with db.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO plughost_audit (time, tool, outcome, required_scopes, arguments) "
                "VALUES (CURRENT_TIMESTAMP, 'todo_list', 'ok', '[]', '[]')"
            )
        )
    steps = db.upgrade("plughost")
    assert [step.split()[2] for step in steps] == ["0004", "0005", "0006"]
    trail = AuditTrail(engine=db.engine)
    trail.start()
    trail.record(
        AuditRecord(kind="prompt", tool="todo_plan", outcome=Outcome.OK, trace_id="ab" * 16)
    )
    trail.close()
    assert [(r.kind, r.tool, r.trace_id) for r in read_database(db.engine)] == [
        (None, "todo_list", None),
        ("prompt", "todo_plan", "ab" * 16),
    ]
    db.downgrade("plughost", "0003")
    columns = {c["name"] for c in inspect(db.engine).get_columns("plughost_audit")}
    assert "trace_id" not in columns and "tool" in columns
    with db.engine.connect() as conn:
        assert len(conn.execute(text("SELECT tool FROM plughost_audit")).all()) == 2


def test_0006_adds_the_revocation_list_and_keeps_registered_clients(plughost_database):
    """A database at 0005 with a registered client: it keeps it, and gains the columns that
    bound registrations and the table of revocations; the downgrade takes them away again."""
    db = plughost_database
    db.upgrade("plughost", "0005")
    with db.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO plughost_oauth_clients (client_id, registration, created_at) "
                "VALUES ('c-1', '{}', 1)"
            )
        )
    assert [step.split()[2] for step in db.upgrade("plughost")] == ["0006"]
    columns = {c["name"] for c in inspect(db.engine).get_columns("plughost_oauth_clients")}
    assert {"registered_from", "used_at"} <= columns
    assert "plughost_revocations" in inspect(db.engine).get_table_names()
    db.downgrade("plughost", "0005")
    columns = {c["name"] for c in inspect(db.engine).get_columns("plughost_oauth_clients")}
    assert "used_at" not in columns
    assert "plughost_revocations" not in inspect(db.engine).get_table_names()
    with db.engine.connect() as conn:
        assert conn.execute(text("SELECT client_id FROM plughost_oauth_clients")).all() == [
            ("c-1",)
        ]


def test_a_downgrade_undoes_the_rename(notes_plugin, plughost_database):
    namespace, _ = notes_plugin
    db = plughost_database
    db.upgrade(namespace)
    assert db.downgrade(namespace, "0001") == [
        "downgraded from 0002 The body becomes the text, without surrounding spaces."
    ]
    columns = {c["name"] for c in inspect(db.engine).get_columns(f"{namespace}_notes")}
    assert columns == {"tenant_id", "id", "body"}


def test_a_migration_waiting_past_its_deadline_gives_up_then(notes_plugin, plughost_database):
    """Another replica holds the migration lock for longer than start-up will wait for it.

    The host withdraws a plugin whose schema is not ready in time (the test of refuse mode
    shows the withdrawal); here, that the wait ends at the deadline, not at the database's.
    """
    namespace, _ = notes_plugin
    db = plughost_database
    held, release = threading.Event(), threading.Event()

    def hold_the_lock() -> None:
        with locked(db.engine):
            held.set()
            release.wait(60)

    holder = threading.Thread(target=hold_the_lock)
    holder.start()
    assert held.wait(10)
    settings = SimpleNamespace(migrate_on_start="upgrade", migration_timeout_seconds=1)
    starting = SimpleNamespace(settings=settings, engine=build_engine(db.url))
    began = time.monotonic()
    try:
        with pytest.raises(migrations.MigrationTimeout, match="not ready within 1 s"):
            anyio.run(lifecycle.ready_schema, starting, track(namespace))
        assert time.monotonic() - began < 5
    finally:
        release.set()
        holder.join(30)
        starting.engine.dispose()


def cli(data_dir: Path, url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {"PLUGHOST_DATA_DIR": str(data_dir), "PLUGHOST_DATABASE_URL": url}
    return subprocess.run(
        [sys.executable, "-m", "plughost", "db", *args],
        env={**os.environ, **env, "PYTHONPATH": os.pathsep.join(sys.path)},
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )


def test_the_db_commands(notes_plugin, plughost_database):
    namespace, _ = notes_plugin
    db = plughost_database
    status = cli(db.data_dir, db.url, "status")
    assert status.returncode == 0, status.stderr
    line = next(line for line in status.stdout.splitlines() if line.startswith(namespace))
    assert "behind" in line and "newest 0002" in line
    assert cli(db.data_dir, db.url, "status", "--check").returncode == 1

    upgraded = cli(db.data_dir, db.url, "upgrade", "--plugin", namespace)
    assert upgraded.returncode == 0, upgraded.stderr
    assert f"{namespace}: upgraded to 0002" in upgraded.stdout

    down = cli(db.data_dir, db.url, "downgrade", "--plugin", namespace, "0001")
    assert down.returncode == 0 and f"{namespace}: downgraded from 0002" in down.stdout
    assert cli(db.data_dir, db.url, "upgrade").returncode == 0
    assert cli(db.data_dir, db.url, "status", "--check").returncode == 0

    refused = cli(db.data_dir, db.url, "upgrade", "--plugin", "nosuch")
    assert refused.returncode == 2 and "no loaded plugin 'nosuch'" in refused.stderr


def test_revision_autogenerate_writes_what_the_tables_now_declare(notes_plugin, plughost_database):
    namespace, directory = notes_plugin
    db = plughost_database
    assert cli(db.data_dir, db.url, "upgrade").returncode == 0
    plugin_module = next(make for make in directory.parent.glob("acme_*.py"))
    plugin_module.write_text(
        plugin_module.read_text().replace(
            'Column("text", Text, nullable=False),',
            'Column("text", Text, nullable=False),\n    Column("pinned", Integer),',
        )
    )
    made = cli(
        db.data_dir, db.url, "revision", "--plugin", namespace, "-m", "pin notes", "--autogenerate"
    )
    assert made.returncode == 0, made.stderr
    written = directory / "0003_pin_notes.py"
    assert made.stdout.strip() == f"wrote {written}"
    source = written.read_text()
    assert 'revision = "0003"' in source and 'down_revision = "0002"' in source
    assert "batch_op.add_column(sa.Column('pinned', sa.Integer(), nullable=True))" in source
    # Only the plugin's own tables are compared: the host's and other plugins' are not its to
    # change, while its undeclared table is proposed for dropping (hence: review the file).
    assert "plughost_" not in source and "todo_" not in source
    assert f"op.drop_table('{namespace}_runs')" in source
    compile(source, str(written), "exec")
    assert "import sqlalchemy as sa\nfrom alembic import op\n" in source
    assert "import plughost" not in source  # no plughost type in this change: no unused import
    assert cli(db.data_dir, db.url, "upgrade").returncode == 0
    table = Table(f"{namespace}_notes", MetaData(), autoload_with=db.engine)
    assert isinstance(table.c.pinned.type, Integer)
