//! Turning serde's "unknown field" errors into messages that name the key, the file and line, and
//! the closest valid key.

use crate::error::ConfigError;

/// Rewrites a deserialisation error of the experiment `text`, naming the line it points at.
pub(super) fn explain(
    origin: &str,
    text: &str,
    e: toml::de::Error,
    from_overrides: bool,
) -> ConfigError {
    let msg = e.message().to_string();
    let source = text;
    let text = match unknown_field(&msg) {
        Some((field, valid)) => {
            let hint = spillover_data::suggest::closest(&field, &valid)
                .map(|s| format!("; did you mean `{s}`?"))
                .unwrap_or_default();
            format!(
                "unknown key `{field}`{hint} (valid keys here: {})",
                valid.join(", ")
            )
        }
        None => msg,
    };
    let place = if from_overrides {
        " (with the --set overrides applied)"
    } else {
        ""
    };
    let line = e.span().map(|span| {
        let start = span.start.min(source.len());
        let number = source[..start].matches('\n').count() + 1;
        let content = source.lines().nth(number - 1).unwrap_or("").trim();
        format!(", line {number} (`{content}`)")
    });
    ConfigError::new(format!("{origin}{place}{}", line.unwrap_or_default()), text)
}

/// `unknown field `x`, expected one of `a`, `b`` → ("x", ["a", "b"]).
fn unknown_field(msg: &str) -> Option<(String, Vec<String>)> {
    let rest = msg.strip_prefix("unknown field `")?;
    let (field, rest) = rest.split_once('`')?;
    let valid = rest
        .split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect();
    Some((field.to_string(), valid))
}

#[cfg(test)]
mod tests {
    use super::unknown_field;

    #[test]
    fn parses_serde_unknown_field_messages() {
        let (f, v) =
            unknown_field("unknown field `epoch`, expected one of `kind`, `epochs`").unwrap();
        assert_eq!(f, "epoch");
        assert_eq!(v, vec!["kind", "epochs"]);
        assert!(unknown_field("invalid type: string").is_none());
    }
}
