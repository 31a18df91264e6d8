//! The model under evaluation and the engine calls every benchmark makes through it: prompt
//! rendering (chat template or plain text), generation with stop strings, log-likelihoods.
//! Each engine call gets fresh hooks from the subject's hook factory, so steering or ablation
//! applies to every forward pass of the benchmark.

use spillover_engine::{
    loglikelihood, stop::truncate_at_stop, Batching, FinishReason, GenerateOptions, Generator,
    Loglik, LoglikOptions, LoglikRequest, Sampling,
};
use spillover_model::chat::ChatMessage;
use spillover_model::chat::ChatTemplate;
use spillover_model::tokenizer::Tokenizer;
use spillover_model::{HookFactory, Hooks, LoadedModel, Model};

use super::record::PromptStyle;
use super::{Error, Result};

/// The model under evaluation: base, adapter-enabled, or with intervention hooks.
pub struct Subject<'a> {
    /// The network.
    pub model: &'a Model,
    /// Its tokenizer.
    pub tokenizer: &'a Tokenizer,
    /// Its chat template; None = prompts that would be chat-templated are given as plain text.
    pub chat: Option<&'a ChatTemplate>,
    /// Makes fresh hooks for each engine call (activation steering / ablation); None = plain forward.
    pub hooks: Option<&'a HookFactory<'a>>,
    /// A name for reports: "base", "after", ...
    pub label: String,
}

/// The plain-text stand-in for a chat turn when the model has no chat template.
pub const PLAIN_DIALOGUE: &str = "User: {text}\nAssistant:";

impl<'a> Subject<'a> {
    /// A subject without hooks.
    pub fn new(
        model: &'a Model,
        tokenizer: &'a Tokenizer,
        chat: Option<&'a ChatTemplate>,
        label: impl Into<String>,
    ) -> Subject<'a> {
        Subject {
            model,
            tokenizer,
            chat,
            hooks: None,
            label: label.into(),
        }
    }

    /// A subject from a loaded model (which must have a tokenizer).
    pub fn from_loaded(lm: &'a LoadedModel, label: impl Into<String>) -> Result<Subject<'a>> {
        Ok(Subject::new(
            &lm.model,
            lm.tokenizer()?,
            lm.chat.as_ref(),
            label,
        ))
    }

    /// The same subject with a hook factory (builder style).
    pub fn with_hooks(mut self, hooks: &'a HookFactory<'a>) -> Subject<'a> {
        self.hooks = Some(hooks);
        self
    }

    /// The id used to left-pad batches: the pad token, else EOS, else 0 (as `LoadedModel::pad_id`).
    pub fn pad_id(&self) -> u32 {
        let c = self.model.config();
        self.tokenizer
            .pad_id()
            .or(c.pad_token_id)
            .or_else(|| self.tokenizer.eos_id())
            .or(c.eos_token_ids.first().copied())
            .unwrap_or(0)
    }

    /// Ids that end a generation: the tokenizer's EOS/end-of-turn ids and the config's EOS ids.
    pub fn stop_ids(&self) -> Vec<u32> {
        let mut ids = self.tokenizer.eos_ids();
        ids.extend(&self.model.config().eos_token_ids);
        ids.sort_unstable();
        ids.dedup();
        ids
    }

    /// Chat when the subject has a chat template, else plain.
    pub fn chat_style(&self) -> PromptStyle {
        if self.chat.is_some() {
            PromptStyle::Chat
        } else {
            PromptStyle::Plain
        }
    }

    /// The prompt a chat model answers: the conversation rendered with the generation prompt,
    /// or without a template, the turns as `User: ...\nAssistant: ...` lines.
    pub fn dialogue(&self, turns: &[ChatMessage]) -> Result<String> {
        if let Some(chat) = self.chat {
            return Ok(chat.render(turns, true)?);
        }
        let mut out = String::new();
        for t in turns {
            let who = if t.role == "assistant" {
                "Assistant"
            } else {
                "User"
            };
            out.push_str(&format!("{who}: {}\n", t.content));
            if t.role == "assistant" {
                out.push('\n');
            }
        }
        out.push_str("Assistant:");
        Ok(out)
    }

    /// Token ids of a prompt: chat-rendered text already holds its special tokens (encoded
    /// without adding any, as HF does); plain text gets the tokenizer's own (BOS where it adds one).
    pub fn encode(&self, prompt: &str, style: PromptStyle) -> Result<Vec<u32>> {
        let ids = self.tokenizer.encode(prompt, style == PromptStyle::Plain)?;
        if ids.is_empty() {
            return Err(Error::BadInput(format!(
                "prompt {:?} is empty after tokenization",
                prompt.chars().take(40).collect::<String>()
            )));
        }
        Ok(ids)
    }

    /// The text of generated ids (special tokens dropped).
    pub fn decode(&self, ids: &[u32]) -> Result<String> {
        Ok(self.tokenizer.decode(ids, true)?)
    }

    /// Fresh hooks for one engine call.
    pub(crate) fn fresh_hooks(&self) -> Option<Hooks> {
        self.hooks.map(|f| f())
    }

    /// Generates for every prompt; the texts are cut before the first stop string.
    pub(crate) fn generate(
        &self,
        prompts: &[Vec<u32>],
        gen: &GenSpec,
        batching: &Batching,
    ) -> Result<Vec<Generated>> {
        let opts = GenerateOptions {
            max_new_tokens: gen.max_new_tokens,
            stop_ids: self.stop_ids(),
            pad_id: self.pad_id(),
        };
        let decode = |ids: &[u32]| self.tokenizer.decode(ids, true).unwrap_or_default();
        let mut generator = Generator::new(self.model, &opts)
            .sampling(gen.sampling.clone())
            .batching(quiet(batching));
        if !gen.stop_strings.is_empty() {
            generator = generator.stop_strings(gen.stop_strings.clone(), &decode);
        }
        let prompts = fit_to_context(
            prompts,
            self.model.config().max_positions,
            gen.max_new_tokens,
        );
        let mut hooks = self.fresh_hooks();
        let outs = generator.run(&prompts, hooks.as_mut())?;
        outs.into_iter()
            .map(|g| {
                let full = self.decode(&g.new_ids)?;
                Ok(Generated {
                    text: truncate_at_stop(&full, &gen.stop_strings).to_string(),
                    new_tokens: g.new_ids.len(),
                    finish: g.finish,
                    ids: g.new_ids,
                })
            })
            .collect()
    }

    /// Log-likelihoods of (context, continuation) requests; shared contexts are encoded once.
    pub(crate) fn loglik(
        &self,
        reqs: &[LoglikRequest],
        batching: &Batching,
    ) -> Result<Vec<Loglik>> {
        let opts = LoglikOptions {
            pad_id: self.pad_id(),
            batching: quiet(batching),
            share_context: true,
        };
        let mut hooks = self.fresh_hooks();
        Ok(loglikelihood(self.model, reqs, &opts, hooks.as_mut())?)
    }

    /// The request scoring `continuation` after `context` (both text), split as
    /// lm-evaluation-harness splits it: the whole string is encoded and the context's tokens are
    /// cut off its front, so the tokens at the seam are the ones the model would see; when the
    /// context's tokens are not a prefix of the whole, the two parts are encoded separately.
    pub(crate) fn request(
        &self,
        context: &str,
        continuation: &str,
        style: PromptStyle,
    ) -> Result<LoglikRequest> {
        let ctx = self.encode(context, style)?;
        let whole = self.tokenizer.encode(
            &format!("{context}{continuation}"),
            style == PromptStyle::Plain,
        )?;
        let cont = if whole.len() > ctx.len() && whole.starts_with(&ctx) {
            whole[ctx.len()..].to_vec()
        } else {
            self.tokenizer.encode(continuation, false)?
        };
        if cont.is_empty() {
            return Err(Error::BadInput(format!(
                "continuation {continuation:?} is empty after tokenization"
            )));
        }
        Ok(LoglikRequest {
            context: ctx,
            continuation: cont,
        })
    }
}

/// The engine's own progress bars stay off: benchmarks draw one bar in items.
fn quiet(b: &Batching) -> Batching {
    Batching {
        progress: false,
        ..b.clone()
    }
}

/// What to generate.
pub(crate) struct GenSpec {
    pub max_new_tokens: usize,
    pub sampling: Sampling,
    pub stop_strings: Vec<String>,
}

/// One generated response.
pub(crate) struct Generated {
    /// Decoded without special tokens, cut before the first stop string.
    pub text: String,
    /// Tokens generated (stop id included).
    pub new_tokens: usize,
    pub finish: FinishReason,
    /// The generated ids (stop id included).
    pub ids: Vec<u32>,
}

/// Prompts that leave no room for `max_new` tokens in the model's `context` keep their last
/// `context - max_new` tokens (at least one), as lm-evaluation-harness truncates contexts on the
/// left; a warning on stderr says how many were cut. Prompts that fit are borrowed unchanged.
fn fit_to_context(
    prompts: &[Vec<u32>],
    context: usize,
    max_new: usize,
) -> std::borrow::Cow<'_, [Vec<u32>]> {
    let room = context.saturating_sub(max_new).max(1);
    let cut = prompts.iter().filter(|p| p.len() > room).count();
    if cut == 0 {
        return std::borrow::Cow::Borrowed(prompts);
    }
    eprintln!(
        "warning: {cut} of {} prompts are longer than the model's context ({context}) minus the \
         {max_new} new tokens; their first tokens were dropped (kept the last {room})",
        prompts.len()
    );
    std::borrow::Cow::Owned(
        prompts
            .iter()
            .map(|p| p[p.len().saturating_sub(room)..].to_vec())
            .collect(),
    )
}

#[cfg(test)]
mod fit_tests {
    use super::fit_to_context;

    #[test]
    fn long_prompts_keep_their_last_tokens_and_short_ones_are_untouched() {
        let prompts = vec![vec![1, 2, 3], (0..10).collect::<Vec<u32>>()];
        let fitted = fit_to_context(&prompts, 8, 3);
        assert_eq!(fitted[0], vec![1, 2, 3]);
        assert_eq!(fitted[1], vec![5, 6, 7, 8, 9]);
        assert!(matches!(
            fit_to_context(&prompts[..1], 8, 3),
            std::borrow::Cow::Borrowed(_)
        ));
        // No room at all: one token is kept, and generation stops at the context.
        assert_eq!(fit_to_context(&prompts[1..], 8, 20)[0], vec![9]);
    }
}
