//! How hard a run pushes: the size of the races and of the model-based runs,
//! and the seed. Defaults suit CI; the environment or the CLI can change
//! them without touching code.

/// The sizes of one run of the suite.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// Random sequences the model-based case runs (docs/conformance.md, *Model-based testing*).
    pub model_sequences: usize,
    /// Operations in each random sequence.
    pub model_steps: usize,
    /// Seed of the first sequence (sequence `i` uses `seed + i`); random
    /// when `None`. A failure prints the seed that reproduces it.
    pub seed: Option<u64>,
    /// Concurrent tasks in each race (docs/conformance.md, *Races*).
    pub race_workers: usize,
    /// Successful writes each racing task must make.
    pub race_rounds: usize,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            model_sequences: 200,
            model_steps: 30,
            seed: None,
            race_workers: 8,
            race_rounds: 10,
        }
    }
}

/// The environment variables [`Settings::from_env`] reads, with what they set.
pub const ENV: &[(&str, &str)] = &[
    (
        "STATESTORE_MODEL_SEQUENCES",
        "random sequences of the model-based case",
    ),
    ("STATESTORE_MODEL_STEPS", "operations per random sequence"),
    (
        "STATESTORE_SEED",
        "seed of the first random sequence (decimal or 0x hex)",
    ),
    ("STATESTORE_RACE_WORKERS", "concurrent tasks per race"),
    (
        "STATESTORE_RACE_ROUNDS",
        "successful writes per racing task",
    ),
];

impl Settings {
    /// Each size with its name, flag, variable and limit (the limit keeps
    /// a typo from exhausting memory).
    fn sizes(&mut self) -> [(&'static str, &'static str, &'static str, usize, &mut usize); 4] {
        [
            (
                "model sequences",
                "--sequences",
                "STATESTORE_MODEL_SEQUENCES",
                1_000_000,
                &mut self.model_sequences,
            ),
            (
                "model steps",
                "--steps",
                "STATESTORE_MODEL_STEPS",
                10_000,
                &mut self.model_steps,
            ),
            (
                "race workers",
                "--race-workers",
                "STATESTORE_RACE_WORKERS",
                1_000,
                &mut self.race_workers,
            ),
            (
                "race rounds",
                "--race-rounds",
                "STATESTORE_RACE_ROUNDS",
                100_000,
                &mut self.race_rounds,
            ),
        ]
    }

    /// Checks every size against its limit; the error names the setting.
    pub fn check(&self) -> Result<(), String> {
        for (name, flag, var, max, value) in self.clone().sizes() {
            if *value > max {
                return Err(format!(
                    "{name} ({flag}, {var}): {value} is over the limit of {max}"
                ));
            }
        }
        Ok(())
    }

    /// The defaults, overridden by the variables of [`ENV`] that are set.
    /// A malformed value is an error naming the variable.
    pub fn from_env() -> Result<Self, String> {
        let mut s = Settings::default();
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        for (_, _, name, _, value) in s.sizes() {
            if let Some(v) = var(name) {
                *value = count(name, &v)?;
            }
        }
        if let Some(v) = var("STATESTORE_SEED") {
            s.seed = Some(parse_seed(&v).map_err(|e| format!("STATESTORE_SEED: {e}"))?);
        }
        Ok(s)
    }
}

fn count(name: &str, value: &str) -> Result<usize, String> {
    value
        .trim()
        .parse()
        .map_err(|_| format!("{name}: expected a whole number, got {value:?}"))
}

/// Reads a seed written in decimal or as `0x` hex, as failures print it.
pub fn parse_seed(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let parsed = match t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => t.parse(),
    };
    parsed.map_err(|_| format!("expected a seed in decimal or 0x hex, got {text:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_capped() {
        assert!(Settings::default().check().is_ok());
        let huge = Settings {
            model_steps: usize::MAX,
            ..Settings::default()
        };
        assert!(huge.check().unwrap_err().contains("model steps"));
    }

    #[test]
    fn seeds_in_both_spellings() {
        assert_eq!(parse_seed("0x1f"), Ok(31));
        assert_eq!(parse_seed(" 42 "), Ok(42));
        assert!(parse_seed("x").unwrap_err().contains("\"x\""));
    }
}
