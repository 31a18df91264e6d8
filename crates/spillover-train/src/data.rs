//! Training data: JSONL lines of `{"prompt": ..., "completion": ...}` or `{"messages": [...]}`,
//! tokenized with the model's chat template (loss on the assistant's tokens only) or as plain text
//! (loss on the completion and a final EOS only), or with the loss on every token.

use crate::batch::Example;
use crate::loss::IGNORE;
use spillover_model::chat::{ChatMessage, ChatTemplate};
use spillover_model::tokenizer::Tokenizer;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error("{}:{line}: {msg}", path.display())]
    Line {
        path: PathBuf,
        line: usize,
        msg: String,
    },
    #[error("{}: {msg}", path.display())]
    File { path: PathBuf, msg: String },
}

impl spillover_errors::UserFixable for DataError {
    /// Always the user's to fix.
    fn user_can_fix(&self) -> bool {
        true
    }
}

/// Where the loss is taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LossOn {
    /// Assistant turns / the completion only (the default).
    Completion,
    /// Every token of the sequence.
    All,
}

/// One record of a training file.
#[derive(Clone, Debug, PartialEq)]
pub enum Record {
    PromptCompletion { prompt: String, completion: String },
    Messages(Vec<ChatMessage>),
}

/// Reads a JSONL training file; every malformed line is an error naming the file and line.
pub fn read_jsonl(path: &Path) -> Result<Vec<Record>, DataError> {
    let file_err = |msg: String| DataError::File {
        path: path.to_path_buf(),
        msg,
    };
    // The shared text reader: a UTF-8 byte-order mark is not part of the first record.
    let text = spillover_data::datasets::read_text(path).map_err(|e| file_err(e.to_string()))?;
    let mut out = Vec::new();
    for (i, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let bad = |msg: String| DataError::Line {
            path: path.to_path_buf(),
            line: i + 1,
            msg,
        };
        let v: serde_json::Value =
            serde_json::from_str(line).map_err(|e| bad(format!("not valid JSON: {e}")))?;
        out.push(parse_record(&v).map_err(bad)?);
    }
    if out.is_empty() {
        return Err(file_err(
            "has no records (expected JSONL lines with prompt/completion or messages)".into(),
        ));
    }
    Ok(out)
}

fn parse_record(v: &serde_json::Value) -> Result<Record, String> {
    if let Some(msgs) = v.get("messages") {
        let arr = msgs.as_array().ok_or("\"messages\" must be a list")?;
        let mut out = Vec::with_capacity(arr.len());
        for m in arr {
            let role = m["role"]
                .as_str()
                .ok_or("each message needs a string \"role\"")?;
            let content = m["content"]
                .as_str()
                .ok_or("each message needs a string \"content\"")?;
            out.push(ChatMessage::new(role, content));
        }
        if !out.iter().any(|m| m.role == "assistant") {
            return Err("\"messages\" has no assistant turn to learn from".into());
        }
        return Ok(Record::Messages(out));
    }
    match (v["prompt"].as_str(), v["completion"].as_str()) {
        (Some(p), Some(c)) => Ok(Record::PromptCompletion {
            prompt: p.into(),
            completion: c.into(),
        }),
        _ => {
            let keys: Vec<&String> = v
                .as_object()
                .map(|o| o.keys().collect())
                .unwrap_or_default();
            Err(format!("expected string keys \"prompt\" and \"completion\", or \"messages\"; found {keys:?}"))
        }
    }
}

/// Positions whose label takes part in the loss (labels are shifted by one: the first never does).
pub fn loss_tokens(e: &Example) -> usize {
    e.labels.iter().skip(1).filter(|&&l| l != IGNORE).count()
}

/// Checks that encoded `examples` have something to learn: an error naming the cause and the
/// knob (`max_len_knob`, e.g. `--max-len`) when none has a loss token (truncation removed every
/// completion, or every completion is empty); otherwise a warning for the examples that have none
/// (they train nothing), or None.
pub fn check_loss_tokens(
    examples: &[Example],
    max_len: usize,
    path: &Path,
    max_len_knob: &str,
) -> Result<Option<String>, DataError> {
    let empty = examples.iter().filter(|e| loss_tokens(e) == 0).count();
    let why = format!(
        "no token to learn from (an empty completion, or the prompt fills {max_len_knob} = \
         {max_len} tokens so truncation removed the whole completion)"
    );
    if empty == examples.len() {
        return Err(DataError::File {
            path: path.to_path_buf(),
            msg: format!(
                "all {empty} examples have {why}; raise {max_len_knob} or shorten the prompts"
            ),
        });
    }
    Ok((empty > 0).then(|| {
        format!(
            "{}: {empty} of {} examples have {why}; they train nothing",
            path.display(),
            examples.len()
        )
    }))
}

/// How records become token ids and labels.
pub struct Encoder<'a> {
    pub tokenizer: &'a Tokenizer,
    /// `None`: plain text (prompt + completion + EOS).
    pub chat: Option<&'a ChatTemplate>,
    pub loss_on: LossOn,
    /// Longer examples are cut to this many tokens (counted in `truncated`).
    pub max_len: usize,
}

impl Encoder<'_> {
    /// Encodes every record; returns the examples and how many were truncated.
    pub fn encode_all(&self, records: &[Record]) -> spillover_model::Result<(Vec<Example>, usize)> {
        let mut truncated = 0;
        let mut out = Vec::with_capacity(records.len());
        for r in records {
            let mut e = self.encode(r)?;
            if e.ids.len() > self.max_len {
                e.ids.truncate(self.max_len);
                e.labels.truncate(self.max_len);
                truncated += 1;
            }
            out.push(e);
        }
        Ok((out, truncated))
    }

    pub fn encode(&self, r: &Record) -> spillover_model::Result<Example> {
        let segments = match (self.chat, r) {
            (Some(chat), _) => chat_segments(chat, &messages_of(r))?,
            (None, Record::PromptCompletion { prompt, completion }) => vec![(prompt.clone(), false), (completion.clone(), true)],
            (None, Record::Messages(_)) => {
                return Err(spillover_model::Error::bad_input(
                    self.tokenizer.source(),
                    "has no chat template, so \"messages\" records cannot be encoded (use prompt/completion)",
                ))
            }
        };
        let mut ids: Vec<u32> = Vec::new();
        let mut labels: Vec<i64> = Vec::new();
        let mut text_so_far = String::new();
        for (i, (seg, learn)) in segments.iter().enumerate() {
            text_so_far.push_str(seg);
            // Tokenize the growing text so boundaries match tokenizing the whole; plain text gets BOS.
            let add_special = self.chat.is_none() && i == 0;
            let now = self.tokenizer.encode(&text_so_far, add_special)?;
            let start = common_prefix(&ids, &now);
            labels.truncate(start);
            let learn = *learn || self.loss_on == LossOn::All;
            labels.extend(
                now[start..]
                    .iter()
                    .map(|&t| if learn { t as i64 } else { IGNORE }),
            );
            ids = now;
        }
        if self.chat.is_none() {
            if let Some(eos) = self.tokenizer.eos_id() {
                ids.push(eos);
                labels.push(eos as i64);
            }
        }
        Ok(Example { ids, labels })
    }
}

fn common_prefix(a: &[u32], b: &[u32]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

fn messages_of(r: &Record) -> Vec<ChatMessage> {
    match r {
        Record::PromptCompletion { prompt, completion } => {
            vec![
                ChatMessage::user(prompt.clone()),
                ChatMessage::assistant(completion.clone()),
            ]
        }
        Record::Messages(m) => m.clone(),
    }
}

/// The rendered conversation cut into (text, is_assistant_output) pieces: each assistant turn is what
/// the full rendering adds after the prompt that asks for it.
fn chat_segments(
    chat: &ChatTemplate,
    msgs: &[ChatMessage],
) -> spillover_model::Result<Vec<(String, bool)>> {
    let mut segments = Vec::new();
    let mut done = String::new();
    for i in 0..msgs.len() {
        if msgs[i].role == "assistant" {
            let prompt = chat.render(&msgs[..i], true)?;
            let full = chat.render(&msgs[..=i], false)?;
            let (Some(ask), Some(answer)) = (
                prompt.strip_prefix(done.as_str()),
                full.strip_prefix(prompt.as_str()),
            ) else {
                return Err(spillover_model::Error::internal(
                    "the chat template does not render conversations prefix by prefix; cannot mask the loss",
                ));
            };
            segments.push((ask.to_string(), false));
            segments.push((answer.to_string(), true));
            done = full;
        }
    }
    let all = chat.render(msgs, false)?;
    if let Some(rest) = all.strip_prefix(done.as_str()).filter(|r| !r.is_empty()) {
        segments.push((rest.to_string(), false));
    }
    Ok(segments)
}
