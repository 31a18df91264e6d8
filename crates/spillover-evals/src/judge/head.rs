//! The learned judge's classifier head as a JSON file: feature standardisation, weights,
//! biases, and how it was trained (settings, data hashes) — nothing time- or machine-dependent,
//! so retraining on the same data writes the same bytes.

use serde::{Deserialize, Serialize};

use super::featurize::{Limits, PairFeatures, EMBEDDINGS_PER_ROW};
use super::logreg::Softmax;
use super::sentences::SentenceScorer;
use super::{Error, Label, Result};

/// Format tag of head files.
pub const FORMAT: &str = "spillover-judge-head/2";

/// The committed head, rebuilt by `spillover judge train`.
pub const BUNDLED: &str = include_str!("../../assets/judge_head.json");

/// One training source.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceInfo {
    pub name: String,
    /// sha256 of the file, or `synthetic`.
    pub sha256: String,
    /// Items per label: refusal, compliance, degenerate.
    pub counts: [usize; 3],
}

/// How the head was trained.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainingInfo {
    /// L2 penalty on the embedding weights and on the others (both chosen by `l2_selection`).
    pub l2_embedding: f64,
    pub l2_features: f64,
    /// (embedding penalty, feature penalty, mean agreement on the held-out XSTest model) of
    /// every candidate of the inner selection.
    pub l2_selection: Vec<[f64; 3]>,
    /// L2 penalty and L-BFGS iterations of the sentence scorer.
    pub sentence_l2: f64,
    pub sentence_iterations: usize,
    pub iterations: usize,
    pub iterations_run: usize,
    pub final_loss: f64,
    pub synthetic_per_kind: usize,
    pub seed: u64,
    pub sources: Vec<SourceInfo>,
}

/// A trained head.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Head {
    pub format: String,
    /// Asset id of the sentence encoder whose embeddings it reads.
    pub encoder: String,
    /// How much of each text the encoder reads.
    #[serde(flatten)]
    pub limits: Limits,
    /// Width of the embedding block at the start of the features.
    pub embedding_dim: usize,
    /// Names of the features after the embedding block.
    pub extra_features: Vec<String>,
    /// Class order of `weights` and `bias`.
    pub classes: Vec<Label>,
    /// Per-feature mean and scale: the classifier sees (x − mean) / scale.
    pub mean: Vec<f64>,
    pub scale: Vec<f64>,
    /// One row of weights per class.
    pub weights: Vec<Vec<f64>>,
    pub bias: Vec<f64>,
    /// The sentence scorer whose features end each row.
    pub sentence_scorer: SentenceScorer,
    pub training: TrainingInfo,
}

impl Head {
    /// The committed head.
    pub fn bundled() -> Head {
        Head::from_json(BUNDLED, "bundled judge head").expect("the committed head is valid")
    }

    /// Parses and checks a head; `what` names it in errors.
    pub fn from_json(text: &str, what: &str) -> Result<Head> {
        let bad = |msg: String| Error::BadHead {
            what: what.to_string(),
            msg,
        };
        let h: Head = serde_json::from_str(text).map_err(|e| bad(e.to_string()))?;
        if h.format != FORMAT {
            return Err(bad(format!("format {:?}, expected {FORMAT:?}", h.format)));
        }
        let d = h.embedding_dim + h.extra_features.len();
        let k = h.classes.len();
        let shapes_ok = h.mean.len() == d
            && h.scale.len() == d
            && h.bias.len() == k
            && h.weights.len() == k
            && h.weights.iter().all(|w| w.len() == d);
        if !shapes_ok || h.classes != Label::ALL {
            return Err(bad(format!(
                "expected {k} classes {:?} over {d} features",
                Label::ALL
            )));
        }
        if h.sentence_scorer.weights.len() * EMBEDDINGS_PER_ROW != h.embedding_dim {
            return Err(bad(format!(
                "the sentence scorer has {} weights; expected the encoder's width, {}",
                h.sentence_scorer.weights.len(),
                h.embedding_dim / EMBEDDINGS_PER_ROW
            )));
        }
        Ok(h)
    }

    /// The head as pretty JSON with a final newline (the committed bytes).
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("heads serialise") + "\n"
    }

    /// Number of input features.
    pub fn dim(&self) -> usize {
        self.mean.len()
    }

    /// The full feature row of a pair: its features followed by the sentence scorer's.
    pub fn row(&self, f: &PairFeatures) -> Vec<f64> {
        let mut row = f.row.clone();
        row.extend(self.sentence_scorer.features(&f.sentences));
        row
    }

    /// Label probabilities for one raw (unstandardised) full feature row.
    pub fn probs(&self, row: &[f64]) -> [f64; 3] {
        let x: Vec<f64> = row
            .iter()
            .zip(self.mean.iter().zip(&self.scale))
            .map(|(v, (m, s))| (v - m) / s)
            .collect();
        let model = Softmax {
            classes: 3,
            weights: self.weights.concat(),
            bias: self.bias.clone(),
        };
        let p = model.probs(&x);
        [p[0], p[1], p[2]]
    }
}
