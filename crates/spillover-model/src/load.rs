//! Loading a model with its tokenizer and chat template from a local path: an HF folder
//! (config.json + safetensors [+ tokenizer.json]), a `.gguf` file, or a tiny random model by name.
//! Resolving packaged names and hub ids to a path happens above this crate.

use crate::chat::ChatTemplate;
use crate::gguf::GgufFile;
use crate::model::Model;
use crate::tiny::{tiny_config, tiny_weights, TINY_MODELS};
use crate::tokenizer::{tiny_tokenizer, Tokenizer};
use crate::{Error, ModelConfig, Result, Weights};
use candle_core::{DType, Device};
use std::path::{Path, PathBuf};

/// Seed of the tiny random models.
pub const TINY_SEED: u64 = 0x5EED;

pub struct LoadOptions {
    pub dtype: DType,
    pub device: Device,
}

impl Default for LoadOptions {
    fn default() -> Self {
        LoadOptions {
            dtype: DType::F32,
            device: Device::Cpu,
        }
    }
}

/// A model ready to use: the network, its tokenizer (absent for bare weight folders) and its chat
/// template (absent when the source has none).
pub struct LoadedModel {
    pub model: Model,
    pub tokenizer: Option<Tokenizer>,
    pub chat: Option<ChatTemplate>,
    /// Where it came from, for provenance.
    pub source: PathBuf,
    /// "safetensors", "gguf" or "tiny".
    pub format: &'static str,
}

impl LoadedModel {
    pub fn config(&self) -> &ModelConfig {
        self.model.config()
    }

    /// The tokenizer, or an error naming the source when it has none.
    pub fn tokenizer(&self) -> Result<&Tokenizer> {
        self.tokenizer.as_ref().ok_or_else(|| {
            Error::bad_input(
                &self.source,
                "has no tokenizer (expected tokenizer.json beside config.json)",
            )
        })
    }

    /// The chat template, or an error naming the source when it has none.
    pub fn chat(&self) -> Result<&ChatTemplate> {
        self.chat
            .as_ref()
            .ok_or_else(|| Error::bad_input(&self.source, "has no chat template"))
    }

    /// The id used to left-pad batches: the pad token, else EOS, else 0.
    pub fn pad_id(&self) -> u32 {
        let tok = self.tokenizer.as_ref();
        tok.and_then(Tokenizer::pad_id)
            .or(self.config().pad_token_id)
            .or_else(|| tok.and_then(Tokenizer::eos_id))
            .or(self.config().eos_token_ids.first().copied())
            .unwrap_or(0)
    }

    /// Token ids that end a generation: the tokenizer's end-of-turn/EOS ids and the config's EOS ids.
    pub fn stop_ids(&self) -> Vec<u32> {
        let mut ids = self
            .tokenizer
            .as_ref()
            .map(Tokenizer::eos_ids)
            .unwrap_or_default();
        ids.extend(&self.config().eos_token_ids);
        ids.sort_unstable();
        ids.dedup();
        ids
    }
}

/// Loads `spec`: a tiny model name, an HF folder or a GGUF file.
pub fn load(spec: &str, opts: &LoadOptions) -> Result<LoadedModel> {
    if TINY_MODELS.contains(&spec) {
        return load_tiny(spec, opts);
    }
    load_path(Path::new(spec), opts)
}

pub fn load_path(path: &Path, opts: &LoadOptions) -> Result<LoadedModel> {
    if !path.exists() {
        return Err(Error::bad_input(path, "no such file or folder"));
    }
    if path.is_dir() {
        return load_hf_dir(path, opts);
    }
    if is_gguf(path) {
        return load_gguf(path, opts);
    }
    Err(Error::bad_input(
        path,
        "expected an HF model folder (config.json + model.safetensors) or a GGUF file",
    ))
}

/// A model's config and tokenizer (None for a bare weight folder) without its weights: what
/// [`load`] would give, for checks that must not load a whole model.
pub fn load_header(spec: &str) -> Result<(ModelConfig, Option<Tokenizer>)> {
    if TINY_MODELS.contains(&spec) {
        return Ok((tiny_config(spec)?, Some(tiny_tokenizer()?)));
    }
    let path = Path::new(spec);
    if !path.exists() {
        return Err(Error::bad_input(path, "no such file or folder"));
    }
    if path.is_dir() {
        return hf_header(path);
    }
    if is_gguf(path) {
        let file = GgufFile::open(path)?;
        return Ok((
            file.config()?,
            Some(Tokenizer::from_gguf(path, &file.content)?),
        ));
    }
    Err(Error::bad_input(
        path,
        "expected an HF model folder (config.json + model.safetensors) or a GGUF file",
    ))
}

fn is_gguf(path: &Path) -> bool {
    use std::io::Read;
    let mut magic = [0u8; 4];
    let ok = std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut magic))
        .is_ok();
    (ok && &magic == b"GGUF") || path.extension().is_some_and(|e| e == "gguf")
}

/// The config and tokenizer (when `tokenizer.json` is there) of an HF folder.
fn hf_header(dir: &Path) -> Result<(ModelConfig, Option<Tokenizer>)> {
    let config = dir.join("config.json");
    if !config.exists() {
        return Err(Error::bad_input(dir, "no config.json in this folder"));
    }
    let cfg = ModelConfig::from_hf_file(&config)?;
    let tok_path = dir.join("tokenizer.json");
    let tokenizer = if tok_path.exists() {
        Some(Tokenizer::from_file(&tok_path)?)
    } else {
        None
    };
    Ok((cfg, tokenizer))
}

fn load_hf_dir(dir: &Path, opts: &LoadOptions) -> Result<LoadedModel> {
    let (cfg, tokenizer) = hf_header(dir)?;
    let weights = Weights::from_hf_dir(dir, opts.dtype, &opts.device)?;
    let model = Model::from_weights(cfg, &weights)?;
    let chat = chat_for(tokenizer.as_ref())?;
    Ok(LoadedModel {
        model,
        tokenizer,
        chat,
        source: dir.to_path_buf(),
        format: "safetensors",
    })
}

fn load_gguf(path: &Path, opts: &LoadOptions) -> Result<LoadedModel> {
    let file = GgufFile::open(path)?;
    let cfg = file.config()?;
    let tokenizer = Tokenizer::from_gguf(path, &file.content)?;
    let weights = file.weights(&cfg, opts.dtype, &opts.device)?;
    let model = Model::from_weights(cfg, &weights)?;
    let chat = chat_for(Some(&tokenizer))?;
    Ok(LoadedModel {
        model,
        tokenizer: Some(tokenizer),
        chat,
        source: path.to_path_buf(),
        format: "gguf",
    })
}

fn chat_for(tok: Option<&Tokenizer>) -> Result<Option<ChatTemplate>> {
    match tok {
        Some(t) if t.chat_template().is_some() || t.token_to_id("<start_of_turn>").is_some() => {
            ChatTemplate::from_tokenizer(t).map(Some)
        }
        _ => Ok(None),
    }
}

fn load_tiny(name: &str, opts: &LoadOptions) -> Result<LoadedModel> {
    let cfg = tiny_config(name)?;
    let weights = tiny_weights(&cfg, TINY_SEED, &opts.device)?;
    let model = Model::from_weights(cfg, &weights)?;
    let tokenizer = tiny_tokenizer()?;
    let chat = chat_for(Some(&tokenizer))?;
    Ok(LoadedModel {
        model,
        tokenizer: Some(tokenizer),
        chat,
        source: PathBuf::from(name),
        format: "tiny",
    })
}
