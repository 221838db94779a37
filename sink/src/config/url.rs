//! `connection.url`: the PostgreSQL JDBC driver's URL,
//! `jdbc:postgresql://host1[:port1][,host2[:port2]…][/database][?property=value&…]`,
//! read into what a tokio-postgres connection needs. The driver's `user`, `password`,
//! `sslmode`, `ApplicationName`, `currentSchema` and `connectTimeout` properties are
//! understood; other driver properties are ignored with a warning by the caller.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

/// A password that never reaches a log.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("****")
    }
}

/// libpq's `sslmode` values the sink connects with. TLS is not built into the sink
/// yet: `disable` and `prefer` (which then connects in clear text) are accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SslMode {
    Disable,
    Prefer,
}

/// Where the warehouse is and how to log in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WarehouseUrl {
    pub hosts: Vec<(String, u16)>,
    pub database: String,
    pub user: Option<String>,
    pub password: Option<Secret>,
    pub sslmode: SslMode,
    pub application_name: Option<String>,
    /// `currentSchema`: the schema unqualified table names resolve in.
    pub current_schema: Option<String>,
    pub connect_timeout: Option<Duration>,
    /// Driver properties this reader does not use.
    pub ignored: Vec<String>,
}

impl WarehouseUrl {
    /// tokio-postgres settings; `application_name` unless the URL names one.
    pub fn postgres_config(&self, application_name: &str) -> tokio_postgres::Config {
        let mut config = tokio_postgres::Config::new();
        for (host, port) in &self.hosts {
            config.host(host);
            config.port(*port);
        }
        config.dbname(&self.database);
        if let Some(user) = &self.user {
            config.user(user);
        }
        if let Some(password) = &self.password {
            config.password(password.expose());
        }
        config.ssl_mode(match self.sslmode {
            SslMode::Disable => tokio_postgres::config::SslMode::Disable,
            SslMode::Prefer => tokio_postgres::config::SslMode::Prefer,
        });
        config.application_name(self.application_name.as_deref().unwrap_or(application_name));
        if let Some(schema) = &self.current_schema {
            config.options(format!("-c search_path={schema}"));
        }
        config.connect_timeout(self.connect_timeout.unwrap_or(Duration::from_secs(10)));
        config
    }
}

/// Reads a `jdbc:postgresql:` URL; the error says what is wrong with it.
pub fn parse_jdbc_url(url: &str) -> Result<WarehouseUrl, String> {
    let rest = url.strip_prefix("jdbc:postgresql:").ok_or_else(|| {
        format!("{url:?} is not a PostgreSQL JDBC URL (jdbc:postgresql://host:port/database)")
    })?;
    let (location, query) = rest.split_once('?').unwrap_or((rest, ""));
    let (hosts, database) = match location.strip_prefix("//") {
        Some(authority_and_path) => {
            let (authority, path) = authority_and_path
                .split_once('/')
                .unwrap_or((authority_and_path, ""));
            (parse_hosts(authority)?, percent_decode(path)?)
        }
        // `jdbc:postgresql:database` and `jdbc:postgresql:/`: localhost.
        None => (
            vec![("localhost".to_owned(), 5432)],
            percent_decode(location.trim_start_matches('/'))?,
        ),
    };
    let mut properties = BTreeMap::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        properties.insert(percent_decode(key)?, percent_decode(value)?);
    }
    let mut parsed = WarehouseUrl {
        hosts,
        database,
        user: None,
        password: None,
        sslmode: SslMode::Prefer,
        application_name: None,
        current_schema: None,
        connect_timeout: None,
        ignored: Vec::new(),
    };
    for (key, value) in properties {
        match key.as_str() {
            "user" => parsed.user = Some(value),
            "password" => parsed.password = Some(Secret::new(value)),
            "sslmode" => {
                parsed.sslmode = match value.as_str() {
                    "disable" | "allow" => SslMode::Disable,
                    "prefer" => SslMode::Prefer,
                    "require" | "verify-ca" | "verify-full" => {
                        return Err(format!(
                    "sslmode={value}: TLS to the warehouse is not supported by the pgcdc sink yet"
                ))
                    }
                    other => return Err(format!("sslmode={other} is not a libpq sslmode")),
                }
            }
            "ssl" if value == "true" => {
                return Err(
                    "ssl=true: TLS to the warehouse is not supported by the pgcdc sink yet"
                        .to_owned(),
                )
            }
            "ApplicationName" => parsed.application_name = Some(value),
            "currentSchema" => parsed.current_schema = Some(value),
            "connectTimeout" => {
                let seconds: u64 = value
                    .parse()
                    .map_err(|_| format!("connectTimeout={value} is not a number of seconds"))?;
                parsed.connect_timeout = Some(Duration::from_secs(seconds));
            }
            _ => parsed.ignored.push(key),
        }
    }
    if parsed.database.is_empty() {
        return Err(format!("{url:?} names no database"));
    }
    Ok(parsed)
}

fn parse_hosts(authority: &str) -> Result<Vec<(String, u16)>, String> {
    if authority.is_empty() {
        return Ok(vec![("localhost".to_owned(), 5432)]);
    }
    authority
        .split(',')
        .map(|spec| {
            // `[::1]:5432` for IPv6 literals.
            let (host, port) = if let Some(v6) = spec.strip_prefix('[') {
                let (host, after) = v6
                    .split_once(']')
                    .ok_or_else(|| format!("unclosed [ in host {spec:?}"))?;
                (host, after.strip_prefix(':'))
            } else {
                match spec.rsplit_once(':') {
                    Some((host, port)) => (host, Some(port)),
                    None => (spec, None),
                }
            };
            let port = match port {
                None | Some("") => 5432,
                Some(port) => port
                    .parse()
                    .map_err(|_| format!("port {port:?} of {spec:?} is not a port number"))?,
            };
            if host.is_empty() {
                return Err(format!("empty host in {authority:?}"));
            }
            Ok((host.to_owned(), port))
        })
        .collect()
}

fn percent_decode(text: &str) -> Result<String, String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = text
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| format!("bad percent escape in {text:?}"))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| format!("{text:?} is not UTF-8 once decoded"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_url() {
        let url = parse_jdbc_url(
            "jdbc:postgresql://db.example:6543/ware%20house?user=sink&password=p%26w&currentSchema=dw&sslmode=disable&loggerLevel=OFF",
        )
        .expect("parses");
        assert_eq!(url.hosts, vec![("db.example".to_owned(), 6543)]);
        assert_eq!(url.database, "ware house");
        assert_eq!(url.user.as_deref(), Some("sink"));
        assert_eq!(url.password.as_ref().map(Secret::expose), Some("p&w"));
        assert_eq!(url.current_schema.as_deref(), Some("dw"));
        assert_eq!(url.sslmode, SslMode::Disable);
        assert_eq!(url.ignored, vec!["loggerLevel".to_owned()]);
        assert_eq!(format!("{:?}", url.password), "Some(****)");
    }

    #[test]
    fn hosts_and_defaults() {
        let url = parse_jdbc_url("jdbc:postgresql://a,b:5433,[::1]:5434/db").expect("parses");
        assert_eq!(
            url.hosts,
            vec![
                ("a".to_owned(), 5432),
                ("b".to_owned(), 5433),
                ("::1".to_owned(), 5434)
            ]
        );
        let short = parse_jdbc_url("jdbc:postgresql:shop").expect("parses");
        assert_eq!(short.hosts, vec![("localhost".to_owned(), 5432)]);
        assert_eq!(short.database, "shop");
    }

    #[test]
    fn errors_say_what_is_wrong() {
        assert!(parse_jdbc_url("jdbc:mysql://h/db")
            .unwrap_err()
            .contains("not a PostgreSQL JDBC URL"));
        assert!(parse_jdbc_url("jdbc:postgresql://h:x/db")
            .unwrap_err()
            .contains("not a port"));
        assert!(parse_jdbc_url("jdbc:postgresql://h/")
            .unwrap_err()
            .contains("names no database"));
        assert!(parse_jdbc_url("jdbc:postgresql://h/db?sslmode=require")
            .unwrap_err()
            .contains("not supported"));
    }
}
