"""Migration files: naming, ordering and checksums (no database)."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.core.errors import ConfigInvalid
from services.store.migrate import MIGRATIONS_DIR, checksum, discover, order, parse_filename


def test_parse_filename() -> None:
    assert parse_filename("0001_init.sql") == (1, "init")
    assert parse_filename("0042_add_node_index.sql") == (42, "add_node_index")
    assert parse_filename("12345_big.sql") == (12345, "big")


@pytest.mark.parametrize(
    "bad",
    [
        "1_init.sql",
        "0001-init.sql",
        "0001_Init.sql",
        "0001_.sql",
        "0001_init.SQL",
        "init.sql",
        "0001_init.sql.bak",
    ],
)
def test_badly_named_files_are_refused_with_the_pattern(bad: str) -> None:
    with pytest.raises(ConfigInvalid) as info:
        parse_filename(bad)
    assert info.value.hint and "0002_add_column.sql" in info.value.hint


def test_order_is_numeric_not_lexical() -> None:
    got = order(["0010_ten.sql", "0002_two.sql", "10000_big.sql", "0001_one.sql"])
    assert [v for v, _, _ in got] == [1, 2, 10, 10000]


def test_duplicate_versions_are_refused() -> None:
    with pytest.raises(ConfigInvalid, match="share version 3"):
        order(["0003_a.sql", "0003_b.sql"])


def test_checksum_ignores_line_endings_but_not_content() -> None:
    assert checksum("SELECT 1;\r\nSELECT 2;\r\n") == checksum("SELECT 1;\nSELECT 2;\n")
    assert checksum("SELECT 1;\n") != checksum("SELECT 2;\n")


def test_packaged_migrations_start_at_0001_and_are_named_well() -> None:
    migrations = discover()
    assert migrations[0].filename == "0001_init.sql"
    assert [m.version for m in migrations] == sorted({m.version for m in migrations})
    assert all((MIGRATIONS_DIR / m.filename).is_file() for m in migrations)


def test_discover_ignores_other_files_and_refuses_bad_sql_names(tmp_path: Path) -> None:
    (tmp_path / "0002_second.sql").write_text("SELECT 2;")
    (tmp_path / "0001_first.sql").write_text("SELECT 1;")
    (tmp_path / "README.md").write_text("notes")
    found = discover(tmp_path)
    assert [(m.version, m.name, m.sql) for m in found] == [
        (1, "first", "SELECT 1;"),
        (2, "second", "SELECT 2;"),
    ]
    (tmp_path / "3_third.sql").write_text("SELECT 3;")
    with pytest.raises(ConfigInvalid, match="3_third.sql"):
        discover(tmp_path)
