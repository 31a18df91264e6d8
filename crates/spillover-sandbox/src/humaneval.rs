//! HumanEval: a completion becomes a program that defines the function and runs its tests.

use spillover_data::datasets::Item;

use crate::{Program, SandboxError};

/// The program that checks `completion` for a HumanEval `item` (as loaded by
/// `spillover_data::datasets::humaneval`): the prompt (signature and docstring), the
/// completion (the body), the item's `test` code (which defines `check(candidate)`), then
/// `check(<entry_point>)`. It passes exactly when it runs to its end, which it does only when
/// every assertion holds: it is a [`Program::must_finish`] program, so an early `sys.exit(0)`,
/// `raise SystemExit` or `os._exit(0)` (in the body or at module level) fails.
///
/// The program's id is the item's id. An item without `test` or `entry_point` in `extra` is
/// an error naming the item and the field.
pub fn humaneval_program(item: &Item, completion: &str) -> Result<Program, SandboxError> {
    let field = |key: &'static str| {
        item.extra
            .get(key)
            .filter(|v| !v.trim().is_empty())
            .ok_or_else(|| SandboxError::HumanEvalItem {
                id: item.id.clone(),
                key,
            })
    };
    let test = field("test")?;
    let entry_point = field("entry_point")?.trim();
    let mut source = String::with_capacity(item.text.len() + completion.len() + test.len() + 64);
    source.push_str(&item.text);
    source.push_str(completion);
    source.push_str("\n\n");
    source.push_str(test);
    source.push_str(&format!("\n\ncheck({entry_point})\n"));
    Ok(Program::must_finish(item.id.clone(), source))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item() -> Item {
        let mut item = Item::new("humaneval-0000", "def add(a, b):\n    \"\"\"Add.\"\"\"\n");
        item.target = Some("    return a + b\n".into());
        item.with_extra(
            "test",
            "def check(candidate):\n    assert candidate(1, 2) == 3\n",
        )
        .with_extra("entry_point", "add")
        .with_extra("task_id", "HumanEval/0")
    }

    #[test]
    fn program_is_prompt_completion_test_and_check_call() {
        let p = humaneval_program(&item(), "    return a + b\n").unwrap();
        assert_eq!(p.id, "humaneval-0000");
        let prompt_at = p.source.find("def add(a, b):").unwrap();
        let body_at = p.source.find("    return a + b").unwrap();
        let check_def_at = p.source.find("def check(candidate):").unwrap();
        let call_at = p.source.find("check(add)").unwrap();
        assert!(prompt_at < body_at && body_at < check_def_at && check_def_at < call_at);
        assert!(p.source.ends_with("check(add)\n"));
        assert!(p.must_finish, "HumanEval programs must run to their end");
    }

    #[test]
    fn missing_fields_name_the_item_and_key() {
        let mut no_test = item();
        no_test.extra.remove("test");
        let msg = humaneval_program(&no_test, "").unwrap_err().to_string();
        assert!(
            msg.contains("humaneval-0000") && msg.contains("`test`"),
            "{msg}"
        );
        let mut no_entry = item();
        no_entry.extra.insert("entry_point".into(), "  ".into());
        let msg = humaneval_program(&no_entry, "").unwrap_err().to_string();
        assert!(msg.contains("`entry_point`"), "{msg}");
    }
}
