//! The recorded scenario: the captured tables, the changes made to them, and the
//! connector configurations (one fixture file each).

use super::rows::{insert, ROW_MAX, ROW_MIN, ROW_NULLS, ROW_SEED, ROW_TYPICAL, TOAST_ROW};

// ---------------------------------------------------------------------------------
// The captured tables
// ---------------------------------------------------------------------------------

pub(crate) const SETUP: &str = r#"
CREATE EXTENSION hstore;
CREATE EXTENSION ltree;
CREATE EXTENSION citext;
CREATE EXTENSION postgis;
CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
-- A label added later sorts before 'ok' while its OID is the largest: Debezium's
-- `allowed` parameter follows enumsortorder.
ALTER TYPE mood ADD VALUE 'meh' BEFORE 'ok';
CREATE DOMAIN amount AS numeric(10,2);
"#;

/// Every type the capture layer parses; `all_types` (REPLICA IDENTITY DEFAULT) and
/// `all_types_full` (FULL) have these columns.
pub(crate) const ALL_TYPES_COLUMNS: &str = r#"
    id integer PRIMARY KEY,
    c_bool boolean,
    c_int2 smallint,
    c_int4 integer NOT NULL DEFAULT 42,
    c_int8 bigint,
    c_float4 real,
    c_float8 double precision,
    c_numeric_10_2 numeric(10,2),
    c_numeric_5 numeric(5),
    c_numeric_neg numeric(3,-2),
    c_numeric numeric,
    c_money money,
    c_domain amount,
    c_text text DEFAULT 'hello',
    c_varchar varchar(10) DEFAULT 'dflt',
    c_char char(5),
    c_name name,
    c_qchar "char",
    c_bytea bytea,
    c_uuid uuid,
    c_json json,
    c_jsonb jsonb,
    c_xml xml,
    c_date date,
    c_time time,
    c_time3 time(3),
    c_time0 time(0),
    c_timetz timetz,
    c_timestamp timestamp,
    c_timestamp3 timestamp(3),
    c_timestamp0 timestamp(0),
    c_timestamptz timestamptz,
    c_timestamptz3 timestamptz(3),
    c_timestamptz0 timestamptz(0),
    c_interval interval,
    c_bit1 bit(1),
    c_bit10 bit(10),
    c_varbit varbit(20),
    c_varbit_any varbit,
    c_inet inet,
    c_cidr cidr,
    c_macaddr macaddr,
    c_macaddr8 macaddr8,
    c_point point,
    c_line line,
    c_lseg lseg,
    c_box box,
    c_path path,
    c_polygon polygon,
    c_circle circle,
    c_oid oid,
    c_xid xid,
    c_xid8 xid8,
    c_pg_lsn pg_lsn,
    c_tsvector tsvector,
    c_tsquery tsquery,
    c_int4range int4range,
    c_int8range int8range,
    c_numrange numrange,
    c_tsrange tsrange,
    c_tstzrange tstzrange,
    c_daterange daterange,
    c_int4multirange int4multirange,
    c_enum mood,
    c_hstore hstore,
    c_ltree ltree,
    c_citext citext,
    c_geometry geometry,
    c_geography geography,
    c_bool_array boolean[],
    c_int2_array smallint[],
    c_int4_array integer[],
    c_int8_array bigint[],
    c_float4_array real[],
    c_float8_array double precision[],
    c_numeric_array numeric[],
    c_numeric_10_2_array numeric(10,2)[],
    c_text_array text[],
    c_varchar_array varchar(5)[],
    c_char_array char(2)[],
    c_bytea_array bytea[],
    c_uuid_array uuid[],
    c_json_array json[],
    c_jsonb_array jsonb[],
    c_date_array date[],
    c_time_array time[],
    c_timetz_array timetz[],
    c_timestamp_array timestamp[],
    c_timestamptz_array timestamptz[],
    c_inet_array inet[],
    c_int4range_array int4range[],
    c_enum_array mood[],
    c_hstore_array hstore[],
    c_citext_array citext[],
    c_ltree_array ltree[],
    c_money_array money[],
    c_interval_array interval[],
    c_nn_text text NOT NULL,
    c_nn_ts timestamptz NOT NULL DEFAULT now(),
    c_nn_numeric numeric(8,3) NOT NULL DEFAULT 1.5
"#;

/// Columns whose unchanged TOASTed values Debezium replaces with a placeholder; each
/// type has its own placeholder shape. `toast_tuple_target = 128` and EXTERNAL
/// storage push every value of more than a few dozen bytes out of line once a row is
/// over the 2 kB threshold, without compression, so the shapes are deterministic.
pub(crate) const TOAST_COLUMNS: &str = r#"
    id integer PRIMARY KEY,
    c_int integer,
    big_text text,
    big_varchar varchar(3000),
    big_bytea bytea,
    big_jsonb jsonb,
    big_xml xml,
    big_int4_array integer[],
    big_int8_array bigint[],
    big_text_array text[],
    big_uuid_array uuid[],
    big_date_array date[],
    big_numeric_array numeric[],
    big_hstore hstore,
    big_citext citext,
    big_numeric numeric,
    big_bpchar char(100),
    big_varbit varbit,
    big_tsvector tsvector,
    big_geometry geometry,
    big_path path,
    big_polygon polygon,
    big_varchar_array varchar[],
    big_bytea_array bytea[],
    big_int2_array smallint[],
    big_float8_array double precision[],
    big_bool_array boolean[],
    big_timestamptz_array timestamptz[],
    big_json_array json[]
"#;

pub(crate) const TOAST_STORAGE: &str = "SET (toast_tuple_target = 128), \
    ALTER big_text SET STORAGE EXTERNAL, ALTER big_varchar SET STORAGE EXTERNAL, \
    ALTER big_bytea SET STORAGE EXTERNAL, ALTER big_jsonb SET STORAGE EXTERNAL, \
    ALTER big_xml SET STORAGE EXTERNAL, ALTER big_int4_array SET STORAGE EXTERNAL, \
    ALTER big_int8_array SET STORAGE EXTERNAL, ALTER big_text_array SET STORAGE EXTERNAL, \
    ALTER big_uuid_array SET STORAGE EXTERNAL, ALTER big_date_array SET STORAGE EXTERNAL, \
    ALTER big_numeric_array SET STORAGE EXTERNAL, ALTER big_hstore SET STORAGE EXTERNAL, \
    ALTER big_citext SET STORAGE EXTERNAL, ALTER big_numeric SET STORAGE EXTERNAL, \
    ALTER big_bpchar SET STORAGE EXTERNAL, ALTER big_varbit SET STORAGE EXTERNAL, \
    ALTER big_tsvector SET STORAGE EXTERNAL, ALTER big_geometry SET STORAGE EXTERNAL, \
    ALTER big_path SET STORAGE EXTERNAL, ALTER big_polygon SET STORAGE EXTERNAL, \
    ALTER big_varchar_array SET STORAGE EXTERNAL, ALTER big_bytea_array SET STORAGE EXTERNAL, \
    ALTER big_int2_array SET STORAGE EXTERNAL, ALTER big_float8_array SET STORAGE EXTERNAL, \
    ALTER big_bool_array SET STORAGE EXTERNAL, \
    ALTER big_timestamptz_array SET STORAGE EXTERNAL, ALTER big_json_array SET STORAGE EXTERNAL";

/// Key fields in primary-key order, which here is not column order.
pub(crate) const COMPOSITE_KEY_COLUMNS: &str =
    "a text DEFAULT 'k', b integer, v text, PRIMARY KEY (b, a)";

pub(crate) fn setup_sql() -> String {
    format!(
        "{SETUP}
        CREATE TABLE all_types ({ALL_TYPES_COLUMNS});
        CREATE TABLE all_types_full ({ALL_TYPES_COLUMNS});
        ALTER TABLE all_types_full REPLICA IDENTITY FULL;
        CREATE TABLE toast_types ({TOAST_COLUMNS});
        ALTER TABLE toast_types {TOAST_STORAGE};
        CREATE TABLE toast_types_full ({TOAST_COLUMNS});
        ALTER TABLE toast_types_full {TOAST_STORAGE};
        ALTER TABLE toast_types_full REPLICA IDENTITY FULL;
        CREATE TABLE composite_key ({COMPOSITE_KEY_COLUMNS});
        {seed_all}
        {seed_full}",
        seed_all = insert("all_types", ROW_SEED),
        seed_full = insert("all_types_full", ROW_SEED),
    )
}

// ---------------------------------------------------------------------------------
// The changes, in order; `{t}` is each table of the group in turn, in one transaction.
// ---------------------------------------------------------------------------------

pub(crate) struct Step {
    pub(crate) label: &'static str,
    pub(crate) tables: &'static [&'static str],
    pub(crate) sql: String,
}

pub(crate) const ALL_TYPES_TABLES: &[&str] = &["all_types", "all_types_full"];
pub(crate) const TOAST_TABLES: &[&str] = &["toast_types", "toast_types_full"];
pub(crate) const KEY_TABLES: &[&str] = &["composite_key"];

pub(crate) fn steps() -> Vec<Step> {
    let row = |label, row| Step {
        label,
        tables: ALL_TYPES_TABLES,
        sql: insert("{t}", row),
    };
    let step = |label, tables, sql: &str| Step {
        label,
        tables,
        sql: sql.to_owned(),
    };
    vec![
        row("insert typical values", ROW_TYPICAL),
        row("insert minimums, negatives and empties", ROW_MIN),
        row("insert maximums, special values and escapes", ROW_MAX),
        row("insert nulls", ROW_NULLS),
        step(
            "update without key change",
            ALL_TYPES_TABLES,
            "UPDATE {t} SET c_int2 = 99, c_text = 'updated', c_numeric = 0.000 WHERE id = 2;",
        ),
        step(
            "update of the primary key",
            ALL_TYPES_TABLES,
            "UPDATE {t} SET id = 30 WHERE id = 3;",
        ),
        step("delete", ALL_TYPES_TABLES, "DELETE FROM {t} WHERE id = 4;"),
        step("insert TOASTed values", TOAST_TABLES, TOAST_ROW),
        step(
            "update leaving TOASTed values unchanged",
            TOAST_TABLES,
            "UPDATE {t} SET c_int = 2 WHERE id = 1;",
        ),
        step(
            "update of one TOASTed value",
            TOAST_TABLES,
            "UPDATE {t} SET big_text = 'short now' WHERE id = 1;",
        ),
        step(
            "update of the key of a row with TOASTed values",
            TOAST_TABLES,
            "UPDATE {t} SET id = 2 WHERE id = 1;",
        ),
        step(
            "delete of a row with TOASTed values",
            TOAST_TABLES,
            "DELETE FROM {t} WHERE id = 2;",
        ),
        step(
            "insert",
            KEY_TABLES,
            "INSERT INTO {t} VALUES ('x', 1, 'one'), ('y', 2, 'two');",
        ),
        step(
            "update without key change",
            KEY_TABLES,
            "UPDATE {t} SET v = 'uno' WHERE b = 1;",
        ),
        step(
            "update of a key column",
            KEY_TABLES,
            "UPDATE {t} SET b = 3 WHERE b = 2;",
        ),
        step("delete", KEY_TABLES, "DELETE FROM {t} WHERE b = 1;"),
        Step {
            label: "truncate",
            tables: &[],
            sql: "TRUNCATE all_types, all_types_full, toast_types, toast_types_full, \
                  composite_key;"
                .to_owned(),
        },
    ]
}

// ---------------------------------------------------------------------------------
// The mode combinations: one connector and one fixture file each
// ---------------------------------------------------------------------------------

pub(crate) struct Mode {
    /// The fixture's file stem.
    pub(crate) name: &'static str,
    pub(crate) properties: &'static [(&'static str, &'static str)],
    /// (table, captured columns; empty = all).
    pub(crate) tables: &'static [(&'static str, &'static [&'static str])],
    /// The steps whose records are kept (empty = all): a mode that only changes
    /// schemas needs a few payloads, not every one.
    pub(crate) keep: &'static [&'static str],
}

pub(crate) const NUMERIC_COLUMNS: &[&str] = &[
    "id",
    "c_numeric_10_2",
    "c_numeric_5",
    "c_numeric_neg",
    "c_numeric",
    "c_money",
    "c_domain",
    "c_numeric_array",
    "c_numeric_10_2_array",
    "c_nn_numeric",
];

pub(crate) const TEMPORAL_COLUMNS: &[&str] = &[
    "id",
    "c_date",
    "c_time",
    "c_time3",
    "c_timetz",
    "c_timestamp",
    "c_timestamp3",
    "c_timestamptz",
    "c_timestamptz3",
    "c_time0",
    "c_timestamp0",
    "c_timestamptz0",
    "c_interval",
    "c_date_array",
    "c_time_array",
    "c_timetz_array",
    "c_timestamp_array",
    "c_timestamptz_array",
    "c_nn_ts",
];

pub(crate) const BINARY_COLUMNS: &[&str] =
    &["id", "c_bytea", "c_bytea_array", "c_bit10", "c_varbit"];
pub(crate) const TOAST_BINARY_COLUMNS: &[&str] = &["id", "c_int", "big_bytea", "big_bytea_array"];
pub(crate) const INTERVAL_COLUMNS: &[&str] = &["id", "c_interval", "c_interval_array"];
pub(crate) const HSTORE_COLUMNS: &[&str] = &["id", "c_hstore", "c_hstore_array"];
pub(crate) const TOAST_HSTORE_COLUMNS: &[&str] = &["id", "c_int", "big_hstore"];
pub(crate) const TOAST_NUMERIC_COLUMNS: &[&str] =
    &["id", "c_int", "big_numeric", "big_numeric_array"];
pub(crate) const TOAST_TEMPORAL_COLUMNS: &[&str] =
    &["id", "c_int", "big_date_array", "big_timestamptz_array"];
/// Types Debezium has no mapping for: left out of events unless
/// `include.unknown.datatypes`.
pub(crate) const UNKNOWN_TYPE_COLUMNS: &[&str] = &[
    "id",
    "c_name",
    "c_qchar",
    "c_xml",
    "c_xid",
    "c_xid8",
    "c_pg_lsn",
    "c_tsquery",
    "c_int4multirange",
    "c_money_array",
    "c_interval_array",
];
pub(crate) const TRANSACTION_COLUMNS: &[&str] = &["id", "c_text"];

pub(crate) const ALL: &[&str] = &[];

pub(crate) const MODES: &[Mode] = &[
    Mode {
        name: "defaults",
        properties: &[],
        tables: &[
            ("all_types", ALL),
            ("toast_types", ALL),
            ("composite_key", ALL),
        ],
        keep: &[],
    },
    Mode {
        name: "replica_identity_full",
        properties: &[],
        tables: &[("all_types_full", ALL), ("toast_types_full", ALL)],
        keep: &[],
    },
    Mode {
        name: "decimal_double",
        properties: &[("decimal.handling.mode", "double")],
        tables: &[
            ("all_types", NUMERIC_COLUMNS),
            ("toast_types", TOAST_NUMERIC_COLUMNS),
        ],
        keep: &[],
    },
    Mode {
        name: "decimal_string",
        properties: &[("decimal.handling.mode", "string")],
        tables: &[
            ("all_types", NUMERIC_COLUMNS),
            ("toast_types", TOAST_NUMERIC_COLUMNS),
        ],
        keep: &[],
    },
    Mode {
        name: "time_adaptive_time_microseconds",
        properties: &[("time.precision.mode", "adaptive_time_microseconds")],
        tables: &[
            ("all_types", TEMPORAL_COLUMNS),
            ("toast_types", TOAST_TEMPORAL_COLUMNS),
        ],
        keep: &[],
    },
    Mode {
        name: "time_connect",
        properties: &[("time.precision.mode", "connect")],
        tables: &[
            ("all_types", TEMPORAL_COLUMNS),
            ("toast_types", TOAST_TEMPORAL_COLUMNS),
        ],
        keep: &[],
    },
    Mode {
        name: "binary_base64",
        properties: &[("binary.handling.mode", "base64")],
        tables: &[
            ("all_types", BINARY_COLUMNS),
            ("toast_types", TOAST_BINARY_COLUMNS),
        ],
        keep: &[],
    },
    Mode {
        name: "binary_base64_url_safe",
        properties: &[("binary.handling.mode", "base64-url-safe")],
        tables: &[
            ("all_types", BINARY_COLUMNS),
            ("toast_types", TOAST_BINARY_COLUMNS),
        ],
        keep: &[],
    },
    Mode {
        name: "binary_hex",
        properties: &[("binary.handling.mode", "hex")],
        tables: &[
            ("all_types", BINARY_COLUMNS),
            ("toast_types", TOAST_BINARY_COLUMNS),
        ],
        keep: &[],
    },
    Mode {
        name: "interval_string",
        properties: &[("interval.handling.mode", "string")],
        tables: &[("all_types", INTERVAL_COLUMNS)],
        keep: &[],
    },
    Mode {
        name: "hstore_map",
        properties: &[("hstore.handling.mode", "map")],
        tables: &[
            ("all_types", HSTORE_COLUMNS),
            ("toast_types", TOAST_HSTORE_COLUMNS),
        ],
        keep: &[],
    },
    Mode {
        name: "propagate_source_type",
        properties: &[("column.propagate.source.type", ".*")],
        tables: &[("all_types", ALL)],
        keep: &[
            "snapshot of the seed row",
            "insert typical values",
            "insert nulls",
        ],
    },
    Mode {
        name: "include_unknown_datatypes",
        properties: &[("include.unknown.datatypes", "true")],
        tables: &[("all_types", UNKNOWN_TYPE_COLUMNS)],
        keep: &[],
    },
    Mode {
        name: "transaction_metadata",
        properties: &[("provide.transaction.metadata", "true")],
        tables: &[("all_types", TRANSACTION_COLUMNS)],
        keep: &[],
    },
];
