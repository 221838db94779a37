//! The Avro converter's configuration, from the flat properties Kafka Connect passes
//! to `io.confluent.connect.avro.AvroConverter` (after the worker strips the
//! `key.converter.` / `value.converter.` prefix). Read once, every problem reported
//! with its property name, then passed around typed.
//!
//! | property | default | |
//! | --- | --- | --- |
//! | `schema.registry.url` | (required) | comma-separated; tried in order when one is unreachable |
//! | `basic.auth.credentials.source` | `URL` | `URL` (the URL's user info) or `USER_INFO`; `SASL_INHERIT` is not supported |
//! | `basic.auth.user.info` | | `user:password`, for `USER_INFO` (`schema.registry.basic.auth.user.info` is read first, as Confluent does) |
//! | `auto.register.schemas` | `true` | register unknown schemas; when false, look them up |
//! | `use.latest.version` | `false` | with `auto.register.schemas=false`: use the subject's latest schema |
//! | `key.subject.name.strategy` | `TopicNameStrategy` | see [`super::subject`] |
//! | `value.subject.name.strategy` | `TopicNameStrategy` | |
//! | `connect.meta.data` | `true` | write the `connect.*` schema properties |
//! | `ignore.default.for.nullables` | `false` | write a null as null even when the field has a default |
//! | `http.connect.timeout.ms` | `60000` | |
//! | `http.read.timeout.ms` | `60000` | |
//!
//! `enhanced.avro.schema.support`, `generalized.sum.type.support` and
//! `scrub.invalid.names` change the schemas in ways pgcdc does not implement; setting
//! them to `true` is an error rather than silently different schemas. Other
//! properties are ignored, as Kafka Connect passes many.

use std::fmt;
use std::time::Duration;

use super::encode::DatumWriter;
use super::from_connect::AvroData;
use super::subject::SubjectNameStrategy;
use super::AvroError;

/// One unusable property.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigProblem {
    pub property: String,
    pub reason: String,
}

impl fmt::Display for ConfigProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.property, self.reason)
    }
}

/// HTTP basic credentials, `user:password` as Confluent's client sends them. Debug
/// output shows the user only.
#[derive(Clone, PartialEq, Eq)]
pub struct BasicAuth {
    user_info: String,
}

impl BasicAuth {
    pub fn new(user_info: impl Into<String>) -> BasicAuth {
        BasicAuth {
            user_info: user_info.into(),
        }
    }

    /// The `Authorization` header value: `Basic ` and the base64 of `user:password`.
    pub fn header(&self) -> String {
        format!(
            "Basic {}",
            crate::encoding::base64(self.user_info.as_bytes())
        )
    }
}

impl fmt::Debug for BasicAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let user = self.user_info.split(':').next().unwrap_or_default();
        write!(f, "BasicAuth({user}:****)")
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct AvroConverterConfig {
    /// `schema.registry.url`, without any user info.
    pub registry_urls: Vec<String>,
    pub basic_auth: Option<BasicAuth>,
    pub auto_register_schemas: bool,
    pub use_latest_version: bool,
    pub key_subject_name_strategy: SubjectNameStrategy,
    pub value_subject_name_strategy: SubjectNameStrategy,
    pub avro_data: AvroData,
    pub datum_writer: DatumWriter,
    pub connect_timeout: Duration,
    pub read_timeout: Duration,
}

impl AvroConverterConfig {
    /// The defaults, with one registry URL.
    pub fn new(registry_url: impl Into<String>) -> AvroConverterConfig {
        AvroConverterConfig {
            registry_urls: vec![registry_url.into()],
            basic_auth: None,
            auto_register_schemas: true,
            use_latest_version: false,
            key_subject_name_strategy: SubjectNameStrategy::TopicName,
            value_subject_name_strategy: SubjectNameStrategy::TopicName,
            avro_data: AvroData::default(),
            datum_writer: DatumWriter::default(),
            connect_timeout: Duration::from_millis(60_000),
            read_timeout: Duration::from_millis(60_000),
        }
    }

    pub fn subject_name_strategy(&self, is_key: bool) -> SubjectNameStrategy {
        if is_key {
            self.key_subject_name_strategy
        } else {
            self.value_subject_name_strategy
        }
    }

    /// Reads the converter's properties.
    pub fn from_properties<'a>(
        properties: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<AvroConverterConfig, AvroError> {
        let properties: Vec<(&str, &str)> = properties.into_iter().collect();
        let get = |key: &str| {
            properties
                .iter()
                .rev()
                .find(|(k, _)| *k == key)
                .map(|(_, v)| v.trim())
        };
        let mut problems = Vec::new();
        let mut problem = |property: &str, reason: String| {
            problems.push(ConfigProblem {
                property: property.to_owned(),
                reason,
            })
        };

        let mut config = AvroConverterConfig::new("");
        config.registry_urls.clear();
        let mut url_user_info = None;
        match get("schema.registry.url").filter(|v| !v.is_empty()) {
            None => problem("schema.registry.url", "is required".to_owned()),
            Some(urls) => {
                for url in urls.split(',').map(str::trim).filter(|u| !u.is_empty()) {
                    match split_user_info(url) {
                        Ok((plain, user_info)) => {
                            config.registry_urls.push(plain);
                            url_user_info = url_user_info.or(user_info);
                        }
                        Err(reason) => problem("schema.registry.url", reason),
                    }
                }
            }
        }

        let mut boolean = |key: &str, default: bool| match get(key) {
            None => default,
            Some(v) if v.eq_ignore_ascii_case("true") => true,
            Some(v) if v.eq_ignore_ascii_case("false") => false,
            Some(v) => {
                problem(key, format!("{v:?} is not true or false"));
                default
            }
        };
        config.auto_register_schemas = boolean("auto.register.schemas", true);
        config.use_latest_version = boolean("use.latest.version", false);
        config.avro_data.connect_meta_data = boolean("connect.meta.data", true);
        config.datum_writer.ignore_default_for_nullables =
            boolean("ignore.default.for.nullables", false);
        let unsupported: Vec<&str> = [
            "enhanced.avro.schema.support",
            "generalized.sum.type.support",
            "scrub.invalid.names",
        ]
        .into_iter()
        .filter(|key| boolean(key, false))
        .collect();
        let mut millis = |key: &str, default: u64| match get(key) {
            None => Duration::from_millis(default),
            Some(v) => match v.parse::<u32>() {
                Ok(ms) => Duration::from_millis(u64::from(ms)),
                Err(_) => {
                    problem(key, format!("{v:?} is not a number of milliseconds"));
                    Duration::from_millis(default)
                }
            },
        };
        config.connect_timeout = millis("http.connect.timeout.ms", 60_000);
        config.read_timeout = millis("http.read.timeout.ms", 60_000);
        for key in unsupported {
            problem(key, "only false is supported by pgcdc".to_owned());
        }

        for (key, is_key) in [
            ("key.subject.name.strategy", true),
            ("value.subject.name.strategy", false),
        ] {
            if let Some(class) = get(key) {
                match SubjectNameStrategy::from_class_name(class) {
                    Some(strategy) if is_key => config.key_subject_name_strategy = strategy,
                    Some(strategy) => config.value_subject_name_strategy = strategy,
                    None => problem(
                        key,
                        format!("{class:?} is not TopicNameStrategy, RecordNameStrategy or TopicRecordNameStrategy"),
                    ),
                }
            }
        }

        match get("basic.auth.credentials.source").unwrap_or("URL") {
            "URL" => config.basic_auth = url_user_info.map(BasicAuth::new),
            "USER_INFO" => {
                let user_info = get("schema.registry.basic.auth.user.info")
                    .filter(|v| !v.is_empty())
                    .or_else(|| get("basic.auth.user.info").filter(|v| !v.is_empty()));
                match user_info {
                    Some(user_info) => config.basic_auth = Some(BasicAuth::new(user_info)),
                    None => problem(
                        "basic.auth.user.info",
                        "UserInfo must be provided when basic.auth.credentials.source is set to USER_INFO".to_owned(),
                    ),
                }
            }
            other => problem(
                "basic.auth.credentials.source",
                format!("{other:?} is not supported (URL or USER_INFO)"),
            ),
        }

        if problems.is_empty() {
            Ok(config)
        } else {
            Err(AvroError::Config { problems })
        }
    }
}

/// Splits `scheme://user:password@host/...` into the URL without user info and the
/// user info as written (Java's `URL.getUserInfo()`, not decoded).
fn split_user_info(url: &str) -> Result<(String, Option<String>), String> {
    let Some((scheme, rest)) = url.split_once("://") else {
        return Err(format!("{url:?} is not an http(s) URL"));
    };
    if !scheme.eq_ignore_ascii_case("http") && !scheme.eq_ignore_ascii_case("https") {
        return Err(format!("{url:?} is not an http(s) URL"));
    }
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    let path = path.trim_end_matches('/');
    match authority.rsplit_once('@') {
        Some((user_info, host)) => Ok((
            format!("{scheme}://{host}{path}"),
            Some(user_info.to_owned()),
        )),
        None => Ok((format!("{scheme}://{authority}{path}"), None)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(properties: &[(&str, &str)]) -> Result<AvroConverterConfig, AvroError> {
        AvroConverterConfig::from_properties(properties.iter().copied())
    }

    #[test]
    fn defaults_are_confluents() {
        let c = config(&[("schema.registry.url", "http://sr:8081/")]).expect("valid");
        assert_eq!(c, AvroConverterConfig::new("http://sr:8081"));
        assert!(c.auto_register_schemas && !c.use_latest_version);
        assert!(c.avro_data.connect_meta_data);
        assert!(!c.datum_writer.ignore_default_for_nullables);
        assert_eq!(
            c.subject_name_strategy(true),
            SubjectNameStrategy::TopicName
        );
        assert_eq!(c.read_timeout, Duration::from_secs(60));
    }

    #[test]
    fn every_property() {
        let c = config(&[
            ("schema.registry.url", "http://a:1, https://b:2/base"),
            ("basic.auth.credentials.source", "USER_INFO"),
            ("basic.auth.user.info", "fred:s3cret"),
            ("auto.register.schemas", "FALSE"),
            ("use.latest.version", "true"),
            (
                "key.subject.name.strategy",
                "io.confluent.kafka.serializers.subject.RecordNameStrategy",
            ),
            ("value.subject.name.strategy", "TopicRecordNameStrategy"),
            ("connect.meta.data", "false"),
            ("ignore.default.for.nullables", "true"),
            ("http.read.timeout.ms", "1500"),
            ("converter.type", "value"),
        ])
        .expect("valid");
        assert_eq!(c.registry_urls, ["http://a:1", "https://b:2/base"]);
        assert_eq!(c.basic_auth, Some(BasicAuth::new("fred:s3cret")));
        assert_eq!(format!("{:?}", c.basic_auth), "Some(BasicAuth(fred:****))");
        assert_eq!(
            c.basic_auth.map(|a| a.header()).as_deref(),
            Some("Basic ZnJlZDpzM2NyZXQ=")
        );
        assert!(!c.auto_register_schemas && c.use_latest_version);
        assert_eq!(c.key_subject_name_strategy, SubjectNameStrategy::RecordName);
        assert_eq!(
            c.value_subject_name_strategy,
            SubjectNameStrategy::TopicRecordName
        );
        assert!(!c.avro_data.connect_meta_data);
        assert!(c.datum_writer.ignore_default_for_nullables);
        assert_eq!(c.read_timeout, Duration::from_millis(1500));
    }

    #[test]
    fn user_info_from_the_url_by_default() {
        let c = config(&[("schema.registry.url", "http://u:p%40ss@sr:8081")]).expect("valid");
        assert_eq!(c.registry_urls, ["http://sr:8081"]);
        assert_eq!(c.basic_auth, Some(BasicAuth::new("u:p%40ss")));
    }

    #[test]
    fn every_problem_names_its_property() {
        let Err(AvroError::Config { problems }) = config(&[
            ("auto.register.schemas", "yes"),
            ("scrub.invalid.names", "true"),
            ("value.subject.name.strategy", "Mine"),
            ("basic.auth.credentials.source", "USER_INFO"),
            ("http.connect.timeout.ms", "soon"),
        ]) else {
            panic!("invalid");
        };
        let properties: Vec<&str> = problems.iter().map(|p| p.property.as_str()).collect();
        assert_eq!(
            properties,
            [
                "schema.registry.url",
                "auto.register.schemas",
                "http.connect.timeout.ms",
                "scrub.invalid.names",
                "value.subject.name.strategy",
                "basic.auth.user.info"
            ]
        );
        assert!(config(&[("schema.registry.url", "ftp://x")]).is_err());
        assert!(config(&[
            ("schema.registry.url", "http://x"),
            ("basic.auth.credentials.source", "SASL_INHERIT")
        ])
        .is_err());
    }
}
