use super::*;
use crate::plan::{reduce, Change};

fn text(s: &str) -> Cell {
    Cell::Text(s.to_owned())
}

fn target() -> TableName {
    TableName::parse("dw.orders", false).expect("name")
}

fn columns() -> Vec<Ident> {
    ["id", "note", "big"]
        .iter()
        .map(|c| Ident::exact(*c))
        .collect()
}

fn upsert(id: &str, note: Cell, big: Cell) -> Change {
    Change::Upsert {
        key: Some(vec![id.to_owned()]),
        cells: vec![text(id), note, big],
    }
}

#[test]
fn upserts_deletes_and_toast_signatures() {
    let plan = reduce([
        upsert("1", text("a\tb\\c\nd"), text("x")),
        upsert("2", text("n"), Cell::Absent),
        Change::Delete {
            key: vec!["3".to_owned()],
            cells: vec![text("3"), Cell::Absent, Cell::Absent],
        },
        upsert("4", Cell::Null, text("y")),
    ]);
    let stage = Ident::exact("pgcdc_stage_1");
    let merge = merge(
        &target(),
        &stage,
        &columns(),
        &[0],
        InsertMode::Upsert,
        &plan,
    );
    assert_eq!(
        merge.copy_sql,
        r#"COPY "pgcdc_stage_1" ("__pgcdc_op", "__pgcdc_sig", "id", "note", "big") FROM STDIN"#
    );
    assert_eq!(
        String::from_utf8(merge.copy_data).expect("utf8"),
        "w\t1\t1\ta\\tb\\\\c\\nd\tx\n\
         w\t2\t2\tn\t\\N\n\
         d\t0\t3\t\\N\t\\N\n\
         w\t1\t4\t\\N\ty\n"
    );
    assert_eq!(
        merge.statements,
        vec![
            r#"DELETE FROM "dw"."orders" AS t USING "pgcdc_stage_1" AS s WHERE s."__pgcdc_op" IN ('d', 'r') AND t."id" = s."id""#.to_owned(),
            r#"INSERT INTO "dw"."orders" ("id", "note", "big") SELECT "id", "note", "big" FROM "pgcdc_stage_1" WHERE "__pgcdc_op" IN ('w', 'r') AND "__pgcdc_sig" = 1 ON CONFLICT ("id") DO UPDATE SET "note" = EXCLUDED."note", "big" = EXCLUDED."big""#.to_owned(),
            r#"INSERT INTO "dw"."orders" ("id", "note") SELECT "id", "note" FROM "pgcdc_stage_1" WHERE "__pgcdc_op" IN ('w', 'r') AND "__pgcdc_sig" = 2 ON CONFLICT ("id") DO UPDATE SET "note" = EXCLUDED."note""#.to_owned(),
        ]
    );
}

#[test]
fn insert_update_and_truncate() {
    let plan = reduce([Change::Truncate, upsert("1", text("a"), text("b"))]);
    let stage = Ident::exact("s1");
    let insert = merge(
        &target(),
        &stage,
        &columns(),
        &[0],
        InsertMode::Insert,
        &plan,
    );
    assert_eq!(insert.statements[0], r#"TRUNCATE "dw"."orders""#);
    assert_eq!(
        insert.statements[1],
        r#"INSERT INTO "dw"."orders" ("id", "note", "big") SELECT "id", "note", "big" FROM "s1" WHERE "__pgcdc_op" IN ('w', 'r') AND "__pgcdc_sig" = 1"#
    );
    let update = merge(
        &target(),
        &stage,
        &columns(),
        &[0],
        InsertMode::Update,
        &plan,
    );
    assert_eq!(
        update.statements[1],
        r#"UPDATE "dw"."orders" AS t SET "note" = s."note", "big" = s."big" FROM "s1" AS s WHERE s."__pgcdc_op" IN ('w', 'r') AND s."__pgcdc_sig" = 1 AND t."id" = s."id""#
    );
}

#[test]
fn replaces_delete_first_and_keyless_rows_append() {
    let plan = reduce([
        Change::Delete {
            key: vec!["1".to_owned()],
            cells: vec![text("1"), Cell::Absent, Cell::Absent],
        },
        upsert("1", text("again"), text("b")),
    ]);
    let stage = Ident::exact("s");
    let m = merge(
        &target(),
        &stage,
        &columns(),
        &[0],
        InsertMode::Upsert,
        &plan,
    );
    assert!(m.statements[0].starts_with(r#"DELETE FROM "dw"."orders""#));
    assert!(String::from_utf8_lossy(&m.copy_data).starts_with("r\t1\t"));

    let appends = reduce([
        Change::Upsert {
            key: None,
            cells: vec![text("1"), text("a"), Cell::Null],
        },
        Change::Upsert {
            key: None,
            cells: vec![text("1"), text("a"), Cell::Null],
        },
    ]);
    let m = merge(
        &target(),
        &stage,
        &columns(),
        &[],
        InsertMode::Insert,
        &appends,
    );
    assert_eq!(
        m.statements,
        vec![r#"INSERT INTO "dw"."orders" ("id", "note", "big") SELECT "id", "note", "big" FROM "s" WHERE "__pgcdc_op" = 'a' AND "__pgcdc_sig" = 1"#.to_owned()]
    );
    assert_eq!(String::from_utf8_lossy(&m.copy_data).lines().count(), 2);
}

#[test]
fn stage_table() {
    assert_eq!(
        create_stage_sql(
            &Ident::exact("s"),
            &[
                (Ident::exact("id"), "integer".to_owned()),
                (Ident::exact("n"), "numeric(12,3)".to_owned())
            ]
        ),
        r#"CREATE TEMP TABLE "s" ("__pgcdc_op" text, "__pgcdc_sig" integer, "id" integer, "n" numeric(12,3)) ON COMMIT DELETE ROWS"#
    );
}

#[test]
fn new_rows_are_copied_straight_into_the_target() {
    let plan = reduce([
        upsert("1", text("a\tb"), text("x")),
        upsert("2", Cell::Null, text("y")),
        // The last change of a key is the row written.
        upsert("1", text("again"), text("z")),
    ]);
    let direct = direct_copy(&target(), &columns(), InsertMode::Upsert, &plan).expect("direct");
    assert_eq!(
        direct.copy_sql,
        r#"COPY "dw"."orders" ("id", "note", "big") FROM STDIN"#
    );
    assert_eq!(
        String::from_utf8(direct.copy_data).expect("utf8"),
        "1\tagain\tz\n2\t\\N\ty\n"
    );
    assert!(
        direct.fallback_on_conflict,
        "an upsert merges when a key exists"
    );
    let insert = direct_copy(&target(), &columns(), InsertMode::Insert, &plan).expect("direct");
    assert!(
        !insert.fallback_on_conflict,
        "insert.mode=insert fails on an existing key, as its INSERT does"
    );
}

#[test]
fn appends_are_copied_without_a_fallback() {
    let plan = reduce([
        Change::Upsert {
            key: None,
            cells: vec![text("1"), text("a"), text("b")],
        },
        Change::Upsert {
            key: None,
            cells: vec![text("1"), text("a"), text("b")],
        },
    ]);
    let direct = direct_copy(&target(), &columns(), InsertMode::Upsert, &plan).expect("direct");
    assert_eq!(
        String::from_utf8(direct.copy_data).expect("utf8"),
        "1\ta\tb\n1\ta\tb\n"
    );
    assert!(!direct.fallback_on_conflict);
}

#[test]
fn anything_but_complete_new_rows_is_merged() {
    let cases = [
        (
            "a delete",
            vec![
                upsert("1", text("a"), text("x")),
                Change::Delete {
                    key: vec!["2".to_owned()],
                    cells: vec![text("2"), Cell::Absent, Cell::Absent],
                },
            ],
        ),
        (
            "a truncate",
            vec![Change::Truncate, upsert("1", text("a"), text("x"))],
        ),
        (
            "an unchanged TOASTed value",
            vec![upsert("1", text("a"), Cell::Absent)],
        ),
        (
            "a delete then a write of one key",
            vec![
                Change::Delete {
                    key: vec!["1".to_owned()],
                    cells: vec![text("1"), Cell::Absent, Cell::Absent],
                },
                upsert("1", text("a"), text("x")),
            ],
        ),
        ("nothing", vec![]),
    ];
    for (what, changes) in cases {
        let plan = reduce(changes);
        assert_eq!(
            direct_copy(&target(), &columns(), InsertMode::Upsert, &plan),
            None,
            "{what}"
        );
    }
    let plan = reduce([upsert("1", text("a"), text("x"))]);
    assert_eq!(
        direct_copy(&target(), &columns(), InsertMode::Update, &plan),
        None,
        "insert.mode=update never inserts"
    );
}

#[test]
fn copy_text_escapes_what_delimits() {
    let escaped = |text: &str| {
        let mut out = Vec::new();
        super::push_copy_text(&mut out, text);
        String::from_utf8(out).expect("utf-8")
    };
    assert_eq!(escaped(""), "");
    assert_eq!(escaped("plain é ✓"), "plain é ✓");
    assert_eq!(escaped("a\tb\\c\nd\re"), "a\\tb\\\\c\\nd\\re");
    assert_eq!(escaped("\t\t"), "\\t\\t");
    assert_eq!(escaped("end\\"), "end\\\\");
    assert_eq!(escaped("\nstart"), "\\nstart");
}
