//! The `[benchmarks]` table. The rule: **sections merge, benchmarks never vanish.**
//!
//! - No `[benchmarks]` table: every benchmark runs with its defaults.
//! - `[benchmarks.<b>]` (or `--set benchmarks.<b>.limit=3`): overrides benchmark `<b>` and keeps
//!   every other benchmark with its defaults.
//! - `benchmarks.only = ["refusal", "arithmetic"]`: the explicit way to run a subset; sections
//!   may then only name benchmarks in that list.
//!
//! The resolved value is a map of every benchmark that runs to its section. It serialises as that
//! map, with `only` written first when it is a strict subset, so a resolved config read back runs
//! the same benchmarks.

use super::profile::{Profile, ProfileSizes};
use super::sections::{benchmark_names, BenchSection};
use serde::de::{self, MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use spillover_evals::benchmarks::BenchmarkKind;
use std::collections::BTreeMap;
use std::fmt;
use std::ops::Deref;

/// The benchmarks an experiment runs, each with its settings (a map by benchmark, in report
/// order: the order of `BenchmarkKind::ALL`).
#[derive(Debug, Clone, PartialEq)]
pub struct Benchmarks(BTreeMap<BenchmarkKind, BenchSection>);

impl Benchmarks {
    /// Every benchmark with its defaults.
    pub fn all() -> Benchmarks {
        Benchmarks(
            BenchmarkKind::ALL
                .into_iter()
                .map(|k| (k, BenchSection::default()))
                .collect(),
        )
    }

    /// Only the named benchmarks, with `sections` merged over their defaults. Errors name the
    /// benchmark that is unknown, or configured (a non-empty section) but not selected.
    pub fn select(
        only: Option<Vec<String>>,
        sections: BTreeMap<String, BenchSection>,
    ) -> Result<Benchmarks, String> {
        let known = benchmark_names();
        let chosen: Vec<String> = match only {
            Some(list) => {
                if list.is_empty() {
                    return Err("benchmarks.only: empty list; name at least one benchmark".into());
                }
                for name in &list {
                    check_known(name, "benchmarks.only", &known)?;
                }
                list
            }
            None => known.iter().map(|s| s.to_string()).collect(),
        };
        let kind = |name: &str| -> BenchmarkKind {
            name.parse().expect("checked against the known names")
        };
        let mut map = BTreeMap::new();
        for (name, section) in sections {
            check_known(&name, &format!("benchmarks.{name}"), &known)?;
            if chosen.contains(&name) {
                map.insert(kind(&name), section);
            } else if section != BenchSection::default() {
                // An empty section (as in examples/default.toml) says nothing; one with settings
                // outside the selection would be silently ignored, so it is an error.
                return Err(format!(
                    "benchmarks.{name} is configured but not in benchmarks.only = [{}]; add it \
                     there or remove its section",
                    quoted(&chosen)
                ));
            }
        }
        for name in chosen {
            map.entry(kind(&name)).or_default();
        }
        Ok(Benchmarks(map))
    }

    /// The benchmark names, in report order (the order of `BenchmarkKind::ALL`).
    pub fn names(&self) -> Vec<&'static str> {
        self.0.keys().map(|k| k.name()).collect()
    }

    /// The resolved list, one `name (N items)` per benchmark, for the start of a run.
    pub fn describe(&self, profile: Profile) -> String {
        self.0
            .iter()
            .map(|(k, s)| format!("{k} ({})", ProfileSizes::describe(profile, *k, s.limit)))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Whether every benchmark runs.
    pub fn is_all(&self) -> bool {
        self.0.len() == BenchmarkKind::ALL.len()
    }

    /// Mutable access to one benchmark's section (to fill defaults when resolving).
    pub fn section_mut(&mut self, kind: BenchmarkKind) -> Option<&mut BenchSection> {
        self.0.get_mut(&kind)
    }
}

impl Default for Benchmarks {
    fn default() -> Self {
        Benchmarks::all()
    }
}

impl Deref for Benchmarks {
    type Target = BTreeMap<BenchmarkKind, BenchSection>;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

fn quoted(names: &[String]) -> String {
    names
        .iter()
        .map(|n| format!("\"{n}\""))
        .collect::<Vec<_>>()
        .join(", ")
}

fn check_known(name: &str, key: &str, known: &[&str]) -> Result<(), String> {
    if known.contains(&name) {
        return Ok(());
    }
    let hint = spillover_data::suggest::closest(
        name,
        &known.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
    )
    .map(|s| format!(" (did you mean `{s}`?)"))
    .unwrap_or_default();
    Err(format!(
        "{key}: unknown benchmark `{name}`{hint}; valid: {}",
        known.join(", ")
    ))
}

impl Serialize for Benchmarks {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let subset = !self.is_all();
        let mut m = s.serialize_map(Some(self.0.len() + usize::from(subset)))?;
        if subset {
            m.serialize_entry("only", &self.names())?;
        }
        // Sections by name, as when the map was keyed by name: the resolved config (and so
        // the run folder's hash) stays the same.
        let mut by_name: Vec<(&str, &BenchSection)> =
            self.0.iter().map(|(k, v)| (k.name(), v)).collect();
        by_name.sort_by_key(|(k, _)| *k);
        for (k, v) in by_name {
            m.serialize_entry(k, v)?;
        }
        m.end()
    }
}

impl<'de> Deserialize<'de> for Benchmarks {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Benchmarks;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a table of benchmark sections, with an optional `only` list")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Benchmarks, A::Error> {
                let mut only = None;
                let mut sections = BTreeMap::new();
                while let Some(key) = map.next_key::<String>()? {
                    if key == "only" {
                        only = Some(map.next_value::<Vec<String>>()?);
                    } else {
                        let section = map.next_value::<BenchSection>()?;
                        sections.insert(key, section);
                    }
                }
                Benchmarks::select(only, sections).map_err(de::Error::custom)
            }
        }
        d.deserialize_map(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_section_overrides_one_benchmark_and_keeps_the_rest() {
        let mut s = BTreeMap::new();
        s.insert(
            "refusal".to_string(),
            BenchSection {
                limit: Some(3),
                ..BenchSection::default()
            },
        );
        let b = Benchmarks::select(None, s).unwrap();
        assert_eq!(b.len(), benchmark_names().len());
        assert_eq!(b[&BenchmarkKind::Refusal].limit, Some(3));
        assert_eq!(b[&BenchmarkKind::Mmlu], BenchSection::default());
    }

    #[test]
    fn only_selects_and_rejects_sections_outside_it() {
        let b = Benchmarks::select(Some(vec!["mmlu".into(), "refusal".into()]), BTreeMap::new())
            .unwrap();
        assert_eq!(b.names(), vec!["refusal", "mmlu"]);
        let mut s = BTreeMap::new();
        s.insert("kl".to_string(), BenchSection::default());
        let b = Benchmarks::select(Some(vec!["mmlu".into()]), s.clone()).unwrap();
        assert_eq!(
            b.names(),
            vec!["mmlu"],
            "an empty section outside `only` says nothing"
        );
        s.get_mut("kl").unwrap().limit = Some(4);
        let e = Benchmarks::select(Some(vec!["mmlu".into()]), s).unwrap_err();
        assert!(e.contains("benchmarks.kl") && e.contains("only"), "{e}");
        let e = Benchmarks::select(Some(vec!["mmlux".into()]), BTreeMap::new()).unwrap_err();
        assert!(e.contains("did you mean `mmlu`"), "{e}");
        assert!(Benchmarks::select(Some(vec![]), BTreeMap::new()).is_err());
    }
}
