//! Secrets in connector configurations: masked wherever a configuration is shown (REST
//! responses, logs), and resolved from config providers only when a connector starts,
//! so that the stored configuration may hold a reference instead of the secret.
//!
//! Providers, with Kafka Connect's syntax: `${env:VAR}` (an environment variable of
//! the worker) and `${file:/path/to/file.properties:key}` (a key of a Java-style
//! properties file, as Connect's `FileConfigProvider` reads it). As in Connect, a
//! reference is `${provider:…}`: `${topic}` (the JDBC sink's
//! `collection.name.format`) names no provider and is left as it is.

use std::collections::BTreeMap;

/// What a masked value reads as.
pub const MASK: &str = "********";

/// Whether a property holds a secret: `*.password`, anything with `secret`, and the
/// usual credential names.
pub fn is_secret(property: &str) -> bool {
    let p = property.to_ascii_lowercase();
    p.ends_with("password")
        || p.contains("secret")
        || p.ends_with("sasl.jaas.config")
        || p.ends_with("basic.auth.user.info")
        || p.ends_with(".token")
}

/// The configuration with every secret replaced by [`MASK`] (provider references are
/// not secrets and stay visible).
pub fn masked(config: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    config
        .iter()
        .map(|(k, v)| {
            let shown = if is_secret(k) && !v.is_empty() && !is_reference(v) {
                MASK.to_owned()
            } else {
                v.clone()
            };
            (k.clone(), shown)
        })
        .collect()
}

fn is_reference(value: &str) -> bool {
    value.starts_with("${") && value.ends_with('}')
}

/// A client that writes back a masked configuration (GET, edit, PUT) keeps the stored
/// secrets: every value that is exactly [`MASK`] takes the stored value.
pub fn unmask(
    new: BTreeMap<String, String>,
    stored: Option<&BTreeMap<String, String>>,
) -> BTreeMap<String, String> {
    new.into_iter()
        .map(|(k, v)| {
            if v == MASK {
                let kept = stored.and_then(|s| s.get(&k)).cloned().unwrap_or(v);
                (k, kept)
            } else {
                (k, v)
            }
        })
        .collect()
}

/// A provider reference that cannot be resolved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{property}: {reason}")]
pub struct ResolveError {
    pub property: String,
    pub reason: String,
}

/// The configuration with every `${provider:…}` reference replaced by its value.
pub fn resolve(
    config: &BTreeMap<String, String>,
) -> Result<BTreeMap<String, String>, ResolveError> {
    config
        .iter()
        .map(|(k, v)| {
            resolve_value(v)
                .map(|value| (k.clone(), value))
                .map_err(|reason| ResolveError {
                    property: k.clone(),
                    reason,
                })
        })
        .collect()
}

fn resolve_value(value: &str) -> Result<String, String> {
    let mut out = String::with_capacity(value.len());
    let mut rest = value;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after
            .find('}')
            .ok_or_else(|| format!("unterminated reference in {value:?}"))?;
        let reference = &after[..end];
        if is_provider_reference(reference) {
            out.push_str(&lookup(reference)?);
        } else {
            // A placeholder of the connector's own (`${topic}`, `${source.table}`).
            out.push_str(&rest[start..start + 2 + end + 1]);
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// `provider:argument`, the provider a plain name: Connect's pattern
/// `${provider:[path:]key}`.
fn is_provider_reference(reference: &str) -> bool {
    reference.split_once(':').is_some_and(|(provider, _)| {
        !provider.is_empty()
            && provider
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    })
}

fn lookup(reference: &str) -> Result<String, String> {
    let (provider, argument) = reference
        .split_once(':')
        .ok_or_else(|| format!("${{{reference}}} names no provider (env or file)"))?;
    match provider {
        "env" => std::env::var(argument)
            .map_err(|_| format!("environment variable {argument} is not set")),
        "file" => {
            let (path, key) = argument
                .rsplit_once(':')
                .ok_or_else(|| format!("${{file:{argument}}} needs a path and a key"))?;
            let text =
                std::fs::read_to_string(path).map_err(|e| format!("cannot read {path}: {e}"))?;
            properties_value(&text, key).ok_or_else(|| format!("{path} has no key {key}"))
        }
        other => Err(format!(
            "unknown config provider {other:?} (env and file are available)"
        )),
    }
}

/// A key's value in a Java properties file (`key=value` or `key: value`, `#`/`!`
/// comments).
fn properties_value(text: &str, key: &str) -> Option<String> {
    text.lines()
        .map(str::trim_start)
        .filter(|line| !line.is_empty() && !line.starts_with('#') && !line.starts_with('!'))
        .find_map(|line| {
            let split = line.find(['=', ':'])?;
            (line[..split].trim() == key).then(|| line[split + 1..].trim().to_owned())
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn secrets_are_masked_and_references_shown() {
        let shown = masked(&map(&[
            ("database.password", "hunter2"),
            ("database.user", "cdc"),
            ("producer.override.sasl.jaas.config", "x required"),
            ("some.client.secret", "s"),
            ("other.password", "${env:PG_PASSWORD}"),
        ]));
        assert_eq!(shown["database.password"], MASK);
        assert_eq!(shown["database.user"], "cdc");
        assert_eq!(shown["producer.override.sasl.jaas.config"], MASK);
        assert_eq!(shown["some.client.secret"], MASK);
        assert_eq!(shown["other.password"], "${env:PG_PASSWORD}");
    }

    #[test]
    fn a_masked_value_written_back_keeps_the_stored_secret() {
        let stored = map(&[("database.password", "hunter2")]);
        let new = map(&[("database.password", MASK), ("database.user", "u")]);
        let kept = unmask(new, Some(&stored));
        assert_eq!(kept["database.password"], "hunter2");
        let changed = unmask(map(&[("database.password", "new")]), Some(&stored));
        assert_eq!(changed["database.password"], "new");
    }

    #[test]
    fn env_and_file_providers_resolve() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("creds.properties");
        std::fs::write(&path, "# credentials\npassword = s3cr=t\nuser: cdc\n").expect("write");
        let file = path.display().to_string();
        // PATH is set in every test environment.
        let path_var = std::env::var("PATH").expect("PATH");
        let resolved = resolve(&map(&[
            ("a", &format!("${{file:{file}:password}}")),
            ("b", &format!("user=${{file:{file}:user}};")),
            ("c", "${env:PATH}"),
            ("d", "plain"),
        ]))
        .expect("resolves");
        assert_eq!(resolved["a"], "s3cr=t");
        assert_eq!(resolved["b"], "user=cdc;");
        assert_eq!(resolved["c"], path_var);
        assert_eq!(resolved["d"], "plain");
    }

    #[test]
    fn unresolvable_references_name_the_property() {
        let error = resolve(&map(&[(
            "database.password",
            "${env:PGCDC_NO_SUCH_VARIABLE_X}",
        )]))
        .expect_err("unset");
        assert_eq!(error.property, "database.password");
        assert!(error.reason.contains("PGCDC_NO_SUCH_VARIABLE_X"));
        let error = resolve(&map(&[("p", "${vault:x}")])).expect_err("unknown provider");
        assert!(error.reason.contains("unknown config provider"));
        let error = resolve(&map(&[("p", "${env:X")])).expect_err("unterminated");
        assert!(error.reason.contains("unterminated"));
    }

    #[test]
    fn a_connectors_own_placeholders_are_left_alone() {
        let resolved = resolve(&map(&[
            ("collection.name.format", "dw_${topic}"),
            ("other", "${source.schema}_${source.table}"),
        ]))
        .expect("no provider named");
        assert_eq!(resolved["collection.name.format"], "dw_${topic}");
        assert_eq!(resolved["other"], "${source.schema}_${source.table}");
    }
}
