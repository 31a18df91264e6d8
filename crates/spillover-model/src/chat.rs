//! Chat templates rendered with minijinja the way HF `apply_chat_template(tokenize=False)` renders them with
//! jinja2: `trim_blocks` and `lstrip_blocks` on, one trailing newline of the template dropped, the variables
//! `messages`, `add_generation_prompt`, `bos_token` and `eos_token`, a `raise_exception(msg)` function,
//! Python's string and dict methods, and a `tojson` filter writing what Python's `json.dumps` writes.
//!
//! The rendered text already holds the template's special tokens (Gemma's starts with `<bos>`), so encode
//! it with `add_special_tokens = false`, as HF does.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use minijinja::syntax::SyntaxConfig;
use minijinja::value::{Enumerator, Kwargs, Object, ObjectRepr, Value, ValueKind};
use minijinja::{Environment, ErrorKind};
use serde::{Deserialize, Serialize};

use crate::tokenizer::Tokenizer;
use crate::{Error, Result};

/// Gemma-3's instruction-tuned chat format, for Gemma files that carry no template of their own (the
/// 270m GGUF has none). Text-only: a leading system message is folded into the first user turn.
pub const GEMMA3_CHAT_TEMPLATE: &str = r#"{{ bos_token }}
{%- if messages[0]['role'] == 'system' -%}
    {%- set first_user_prefix = messages[0]['content'] + '\n\n' -%}
    {%- set loop_messages = messages[1:] -%}
{%- else -%}
    {%- set first_user_prefix = "" -%}
    {%- set loop_messages = messages -%}
{%- endif -%}
{%- for message in loop_messages -%}
    {%- if (message['role'] == 'user') != (loop.index0 % 2 == 0) -%}
        {{ raise_exception("Conversation roles must alternate user/assistant/user/assistant/...") }}
    {%- endif -%}
    {%- if message['role'] == 'assistant' -%}
        {%- set role = "model" -%}
    {%- else -%}
        {%- set role = message['role'] -%}
    {%- endif -%}
    {{ '<start_of_turn>' + role + '\n' + (first_user_prefix if loop.first else "") }}
    {{- message['content'] | trim }}
    {{- '<end_of_turn>\n' }}
{%- endfor -%}
{%- if add_generation_prompt -%}
    {{ '<start_of_turn>model\n' }}
{%- endif -%}
"#;

/// One turn of a conversation, as HF's `{"role": ..., "content": ...}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatMessage {
    pub role: String,
    pub content: String,
}

impl ChatMessage {
    pub fn new(role: impl Into<String>, content: impl Into<String>) -> Self {
        Self {
            role: role.into(),
            content: content.into(),
        }
    }

    pub fn system(content: impl Into<String>) -> Self {
        Self::new("system", content)
    }

    pub fn user(content: impl Into<String>) -> Self {
        Self::new("user", content)
    }

    pub fn assistant(content: impl Into<String>) -> Self {
        Self::new("assistant", content)
    }
}

/// A message as the template sees it: a map whose keys come out in HF's order (`role`, then `content`).
#[derive(Debug)]
struct MessageObject(ChatMessage);

impl Object for MessageObject {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Map
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        match key.as_str()? {
            "role" => Some(Value::from(self.0.role.as_str())),
            "content" => Some(Value::from(self.0.content.as_str())),
            _ => None,
        }
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::Str(&["role", "content"])
    }
}

/// A compiled chat template with the special tokens it is rendered with.
pub struct ChatTemplate {
    env: Environment<'static>,
    source: String,
    origin: PathBuf,
    bos_token: String,
    eos_token: String,
}

impl std::fmt::Debug for ChatTemplate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChatTemplate")
            .field("origin", &self.origin)
            .field("bos_token", &self.bos_token)
            .field("eos_token", &self.eos_token)
            .finish_non_exhaustive()
    }
}

const TEMPLATE_NAME: &str = "chat_template";

impl ChatTemplate {
    /// Compiles `source`; a template that does not compile is bad input.
    pub fn new(
        source: impl Into<String>,
        bos_token: impl Into<String>,
        eos_token: impl Into<String>,
    ) -> Result<Self> {
        Self::with_origin(source, bos_token, eos_token, Path::new("chat template"))
    }

    /// [`ChatTemplate::new`], naming the file the template came from in errors.
    pub fn with_origin(
        source: impl Into<String>,
        bos_token: impl Into<String>,
        eos_token: impl Into<String>,
        origin: &Path,
    ) -> Result<Self> {
        let source = source.into();
        let mut env = Environment::new();
        let syntax = SyntaxConfig::builder()
            .trim_blocks(true)
            .lstrip_blocks(true)
            .keep_trailing_newline(false)
            .build()
            .map_err(|e| Error::internal(format!("chat template syntax config: {e}")))?;
        env.set_syntax(syntax);
        env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        env.add_function("raise_exception", raise_exception);
        env.add_filter("tojson", tojson);
        env.add_template_owned(TEMPLATE_NAME, source.clone())
            .map_err(|e| {
                Error::bad_input(origin, format!("chat template does not compile: {e}"))
            })?;
        Ok(Self {
            env,
            source,
            origin: origin.to_path_buf(),
            bos_token: bos_token.into(),
            eos_token: eos_token.into(),
        })
    }

    /// The tokenizer's own template, or for a Gemma vocabulary without one [`GEMMA3_CHAT_TEMPLATE`].
    pub fn from_tokenizer(tok: &Tokenizer) -> Result<Self> {
        let source = match tok.chat_template() {
            Some(t) => t,
            None if tok.token_to_id("<start_of_turn>").is_some() => GEMMA3_CHAT_TEMPLATE,
            None => {
                return Err(Error::bad_input(
                    tok.source(),
                    "has no chat template (tokenizer.chat_template / tokenizer_config.json)",
                ))
            }
        };
        let (bos, eos) = (tok.bos_token().unwrap_or(""), tok.eos_token().unwrap_or(""));
        Self::with_origin(source, bos, eos, tok.source())
    }

    /// The template text.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Renders the conversation; `add_generation_prompt` appends the opening of the assistant's turn.
    pub fn render(&self, messages: &[ChatMessage], add_generation_prompt: bool) -> Result<String> {
        let messages: Vec<Value> = messages
            .iter()
            .map(|m| Value::from_object(MessageObject(m.clone())))
            .collect();
        let ctx = minijinja::context! {
            messages => messages,
            add_generation_prompt => add_generation_prompt,
            bos_token => self.bos_token.as_str(),
            eos_token => self.eos_token.as_str(),
            // HF passes these as None when the caller gives none; `tools is not none` depends on it.
            tools => (),
            documents => (),
        };
        let template = self
            .env
            .get_template(TEMPLATE_NAME)
            .map_err(|e| Error::internal(format!("compiled chat template went missing: {e}")))?;
        template.render(ctx).map_err(|e| {
            let msg = match (e.kind(), e.detail()) {
                // raise_exception's message, verbatim.
                (ErrorKind::InvalidOperation, Some(detail)) => detail.to_string(),
                _ => format!("chat template failed to render: {e}"),
            };
            Error::bad_input(&self.origin, msg)
        })
    }

    /// One user message and the generation prompt: the prompt a chat model answers.
    pub fn render_user(&self, text: &str) -> Result<String> {
        self.render(&[ChatMessage::user(text)], true)
    }
}

fn raise_exception(msg: String) -> std::result::Result<Value, minijinja::Error> {
    Err(minijinja::Error::new(ErrorKind::InvalidOperation, msg))
}

/// HF's `tojson`: `json.dumps(x, ensure_ascii=False, indent=indent, separators=separators,
/// sort_keys=sort_keys)`. minijinja's own escapes `<`, `>`, `&` and `'` for HTML, which HF does not.
fn tojson(
    value: &Value,
    indent: Option<Value>,
    kwargs: Kwargs,
) -> std::result::Result<Value, minijinja::Error> {
    let indent = match indent {
        Some(v) => Some(v),
        None => kwargs.get::<Option<Value>>("indent")?,
    };
    let indent = match indent {
        Some(v) if v.is_none() || v.is_undefined() => None,
        Some(v) if v.kind() == ValueKind::String => Some(v.as_str().unwrap_or("").to_string()),
        Some(v) => Some(" ".repeat(usize::try_from(v)?)),
        None => None,
    };
    let mut style = JsonStyle {
        indent,
        item_sep: ", ".to_string(),
        key_sep: ": ".to_string(),
        sort_keys: kwargs.get::<Option<bool>>("sort_keys")?.unwrap_or(false),
        ensure_ascii: kwargs.get::<Option<bool>>("ensure_ascii")?.unwrap_or(false),
    };
    if style.indent.is_some() {
        style.item_sep = ",".to_string();
    }
    if let Some(seps) = kwargs.get::<Option<Vec<String>>>("separators")? {
        if let [item, key] = seps.as_slice() {
            (style.item_sep, style.key_sep) = (item.clone(), key.clone());
        }
    }
    kwargs.assert_all_used()?;
    let mut out = String::new();
    style.write(value, 0, &mut out)?;
    Ok(Value::from_safe_string(out))
}

struct JsonStyle {
    indent: Option<String>,
    item_sep: String,
    key_sep: String,
    sort_keys: bool,
    ensure_ascii: bool,
}

impl JsonStyle {
    fn write(
        &self,
        v: &Value,
        depth: usize,
        out: &mut String,
    ) -> std::result::Result<(), minijinja::Error> {
        match v.kind() {
            ValueKind::Undefined | ValueKind::None => out.push_str("null"),
            ValueKind::Bool => out.push_str(if v.is_true() { "true" } else { "false" }),
            ValueKind::Number => out.push_str(&python_number(v)),
            ValueKind::String => self.string(v.as_str().unwrap_or(""), out),
            ValueKind::Map => {
                let mut keys: Vec<Value> = v.try_iter()?.collect();
                if self.sort_keys {
                    keys.sort_by_key(|k| k.to_string());
                }
                let items = keys.into_iter().map(|k| (k.clone(), v.get_item(&k)));
                self.container(('{', '}'), items.collect(), depth, out)?;
            }
            ValueKind::Seq | ValueKind::Iterable => {
                let items = v.try_iter()?.map(|x| (Value::UNDEFINED, Ok(x)));
                self.container(('[', ']'), items.collect(), depth, out)?;
            }
            _ => self.string(&v.to_string(), out),
        }
        Ok(())
    }

    /// A list (keys undefined) or a dict, laid out as `json.dumps` lays it out.
    fn container(
        &self,
        (open, close): (char, char),
        items: Vec<(Value, std::result::Result<Value, minijinja::Error>)>,
        depth: usize,
        out: &mut String,
    ) -> std::result::Result<(), minijinja::Error> {
        out.push(open);
        let newline = |out: &mut String, depth: usize| {
            if let Some(indent) = &self.indent {
                out.push('\n');
                out.push_str(&indent.repeat(depth));
            }
        };
        let empty = items.is_empty();
        for (i, (key, value)) in items.into_iter().enumerate() {
            if i > 0 {
                out.push_str(&self.item_sep);
            }
            newline(out, depth + 1);
            if !key.is_undefined() {
                let key = key
                    .as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| key.to_string());
                self.string(&key, out);
                out.push_str(&self.key_sep);
            }
            self.write(&value?, depth + 1, out)?;
        }
        if !empty {
            newline(out, depth);
        }
        out.push(close);
        Ok(())
    }

    fn string(&self, s: &str, out: &mut String) {
        out.push('"');
        for c in s.chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                '\u{08}' => out.push_str("\\b"),
                '\u{0c}' => out.push_str("\\f"),
                c if (c as u32) < 0x20 || (self.ensure_ascii && !c.is_ascii()) => {
                    let mut units = [0u16; 2];
                    for unit in c.encode_utf16(&mut units) {
                        out.push_str(&format!("\\u{unit:04x}"));
                    }
                }
                c => out.push(c),
            }
        }
        out.push('"');
    }
}

/// A number as Python prints it: integers plainly, floats with a `.0` or an `e+NN` exponent.
fn python_number(v: &Value) -> String {
    if v.is_integer() {
        return v.to_string();
    }
    match f64::try_from(v.clone()) {
        Ok(f) if f.is_nan() => "NaN".to_string(),
        Ok(f) if f.is_infinite() => if f > 0.0 { "Infinity" } else { "-Infinity" }.to_string(),
        Ok(f) => {
            let s = format!("{f:?}");
            match s.split_once('e') {
                Some((m, e)) if !e.starts_with('-') => format!("{m}e+{e:0>2}"),
                Some((m, e)) => format!("{m}e-{:0>2}", &e[1..]),
                None => s,
            }
        }
        Err(_) => v.to_string(),
    }
}
