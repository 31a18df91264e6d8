//! `--set a.b=value`: override any key of the experiment file before it is checked.

use crate::error::ConfigError;

/// Sets `path` (dotted) to `value` in `table`. The value is read as TOML (`3`, `0.5`, `true`,
/// `["a", "b"]`, `"text"`); anything that does not parse as TOML is taken as a string.
pub fn apply_override(table: &mut toml::Table, assignment: &str) -> Result<(), ConfigError> {
    let origin = format!("--set {assignment}");
    let (path, raw) = assignment.split_once('=').ok_or_else(|| {
        ConfigError::new(&origin, "expected KEY=VALUE, e.g. intervention.epochs=2")
    })?;
    let keys: Vec<&str> = path.trim().split('.').map(str::trim).collect();
    if keys.iter().any(|k| k.is_empty()) {
        return Err(ConfigError::new(
            &origin,
            format!("`{path}` is not a dotted key path"),
        ));
    }
    let value = parse_value(raw.trim());
    let (last, parents) = keys.split_last().expect("split yields at least one key");
    let mut cur = table;
    for (i, k) in parents.iter().enumerate() {
        let entry = cur
            .entry(k.to_string())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        cur = entry.as_table_mut().ok_or_else(|| {
            ConfigError::new(
                &origin,
                format!("`{}` is a value, not a section", keys[..=i].join(".")),
            )
        })?;
    }
    cur.insert(last.to_string(), value);
    Ok(())
}

fn parse_value(raw: &str) -> toml::Value {
    match toml::from_str::<toml::Table>(&format!("v = {raw}")) {
        Ok(mut t) => t.remove("v").expect("parsed table has v"),
        Err(_) => toml::Value::String(raw.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sets_nested_keys_with_typed_values() {
        let mut t: toml::Table = toml::from_str("[intervention]\nepochs = 3\n").unwrap();
        apply_override(&mut t, "intervention.epochs=2").unwrap();
        apply_override(&mut t, "data.replies=fixed").unwrap();
        apply_override(&mut t, "stats.alpha = 0.01").unwrap();
        assert_eq!(t["intervention"]["epochs"].as_integer(), Some(2));
        assert_eq!(t["data"]["replies"].as_str(), Some("fixed"));
        assert_eq!(t["stats"]["alpha"].as_float(), Some(0.01));
    }

    #[test]
    fn rejects_malformed_assignments() {
        let mut t = toml::Table::new();
        assert!(apply_override(&mut t, "intervention.epochs").is_err());
        assert!(apply_override(&mut t, "a..b=1").is_err());
        apply_override(&mut t, "a=1").unwrap();
        let e = apply_override(&mut t, "a.b=2").unwrap_err().to_string();
        assert!(e.contains("`a` is a value"), "{e}");
    }
}
