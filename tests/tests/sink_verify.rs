//! `pgcdc verify` reconciles a source table with its copy: equal tables are reported
//! equal; a changed, a deleted and an extra row are narrowed down to exactly their
//! keys, and the command exits non-zero.

#![allow(clippy::unwrap_used)] // a test that cannot unwrap has failed

use pgcdc_sink::verify::{verify, KeyDifference, VerifyOptions};
use pgcdc_tests::TestDb;

const TABLE: &str = "
CREATE TABLE parts (
    region text, id bigint, name varchar(40), price numeric(10,2), tags text[],
    doc jsonb, seen timestamptz, PRIMARY KEY (region, id));
INSERT INTO parts
SELECT r, g, 'part ' || g, g * 1.25, ARRAY['t' || g % 7],
       jsonb_build_object('g', g), timestamptz '2024-01-01 00:00:00+00' + g * interval '1 minute'
FROM generate_series(1, 6000) g, unnest(ARRAY['eu', 'us']) r;
";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_narrows_differences_to_their_keys() {
    let source = TestDb::create("verify_src").await.unwrap();
    let copy = TestDb::create("verify_copy").await.unwrap();
    let mut source_sql = source.client().await.unwrap();
    let mut copy_sql = copy.client().await.unwrap();
    source_sql.batch_execute(TABLE).await.unwrap();
    // The copy's types differ where a sink's may (json for jsonb, text for varchar).
    copy_sql
        .batch_execute(
            &TABLE
                .replace("jsonb,", "json,")
                .replace("varchar(40)", "text"),
        )
        .await
        .unwrap();
    let options = VerifyOptions {
        ranges: 8,
        row_by_row: 200,
        max_keys: 50,
    };
    let equal = verify(
        &mut source_sql,
        "parts",
        &mut copy_sql,
        "public.parts",
        None,
        options,
    )
    .await
    .unwrap();
    assert!(equal.is_equal(), "{equal}");
    assert_eq!(equal.source_rows, 12_000);
    assert_eq!(equal.key, ["region", "id"]);

    copy_sql
        .batch_execute(
            "UPDATE parts SET price = price + 0.01 WHERE region = 'eu' AND id = 4321; \
             DELETE FROM parts WHERE region = 'us' AND id = 17; \
             INSERT INTO parts (region, id, name) VALUES ('zz', 1, 'extra')",
        )
        .await
        .unwrap();
    let report = verify(
        &mut source_sql,
        "parts",
        &mut copy_sql,
        "parts",
        None,
        options,
    )
    .await
    .unwrap();
    assert!(!report.is_equal());
    assert_eq!(
        report.differences,
        vec![
            KeyDifference::Different("eu,4321".to_owned()),
            KeyDifference::MissingInCopy("us,17".to_owned()),
            KeyDifference::OnlyInCopy("zz,1".to_owned()),
        ],
        "{report}"
    );
    assert!(
        report.ranges_compared > 3,
        "narrowed down by ranges: {report}"
    );

    // The command: the report on stdout, exit status 1 on a difference, 0 when equal.
    let binary = tokio::task::spawn_blocking(pgcdc_tests::process::pgcdc_binary)
        .await
        .unwrap()
        .unwrap();
    let run = |copy_table: &'static str| {
        let (binary, source, copy) = (binary.clone(), source.conninfo(), copy.conninfo());
        std::process::Command::new(binary)
            .args(["verify", "--source", &source, "--source-table", "parts"])
            .args([
                "--copy",
                &copy,
                "--copy-table",
                copy_table,
                "--row-by-row",
                "200",
            ])
            .output()
            .unwrap()
    };
    let output = run("parts");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("eu,4321: differs"), "{stdout}");
    assert!(stdout.contains("us,17: missing in the copy"), "{stdout}");
    assert!(stdout.contains("zz,1: only in the copy"), "{stdout}");
    copy_sql
        .batch_execute("CREATE TABLE same AS SELECT * FROM parts WHERE false; ALTER TABLE same ADD PRIMARY KEY (region, id)")
        .await
        .unwrap();
    source_sql.batch_execute("DELETE FROM parts").await.unwrap();
    let output = run("same");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stdout)
    );
    assert!(String::from_utf8_lossy(&output.stdout).contains("EQUAL"));
}
