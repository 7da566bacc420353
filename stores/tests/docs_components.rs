//! docs/components.md documents every property of every registered store
//! type, of the built-in properties and of the built-in secret stores: a
//! property added without docs fails here.
//!
//! The page's layout this relies on: each type has a section whose heading
//! holds its name in backticks (`` ### `state.sqlite` ``; for the built-in
//! properties, the words "Built-in properties"), running to the next
//! heading of the same or a higher level and naming the type's aliases
//! (`` `state.sqlite3` ``). Each property is one table row
//! `` | `name` | aliases | default | required | secret | doc | ``: aliases
//! and default in backticks (aliases joined by `, `), `yes` or nothing for
//! required and secret, as the failure message prints it. The doc text is
//! free.
//!
//! `DOCS_COMPONENTS_PRINT=1 cargo test -p statestore --all-features --test
//! docs_components -- --nocapture` prints every table as the page wants it.

use statestore::Property;
use statestore::properties::BUILTIN_PROPERTIES;
use statestore::secrets::{ENV, ENV_PROPERTIES, FILE, FILE_PROPERTIES};

const PAGE: &str = include_str!("../../docs/components.md");

/// The built-in properties' section heading holds this.
const BUILTIN: &str = "built-in properties";

/// The section of `name`: from the first heading holding `` `name` `` (or,
/// for [`BUILTIN`], the words) to the next heading of the same or a higher
/// level.
fn section(name: &str) -> Option<&'static str> {
    let wanted = |line: &str| {
        line.starts_with('#')
            && if name == BUILTIN {
                line.to_ascii_lowercase().contains(BUILTIN)
            } else {
                line.contains(&format!("`{name}`"))
            }
    };
    let level = |line: &str| line.chars().take_while(|c| *c == '#').count();
    let mut offset = 0;
    let mut start = None;
    let mut fence = false;
    for line in PAGE.split_inclusive('\n') {
        if line.trim_start().starts_with("```") {
            fence = !fence;
        }
        if !fence && line.starts_with('#') {
            match start {
                Some((at, l)) if level(line) <= l => return Some(&PAGE[at..offset]),
                None if wanted(line) => start = Some((offset, level(line))),
                _ => {}
            }
        }
        offset += line.len();
    }
    start.map(|(at, _)| &PAGE[at..])
}

/// The table row the page should hold for `p`.
fn row(p: &Property) -> String {
    let code = |s: &str| format!("`{}`", s.replace('|', "\\|"));
    let aliases: Vec<String> = p.aliases.iter().map(|a| code(a)).collect();
    format!(
        "| {} | {} | {} | {} | {} | {} |",
        code(p.name),
        if aliases.is_empty() {
            String::new()
        } else {
            aliases.join(", ")
        },
        p.default.map(code).unwrap_or_default(),
        if p.required { "yes" } else { "" },
        if p.secret { "yes" } else { "" },
        p.doc.replace('|', "\\|"),
    )
}

/// The trimmed cells of a table row (an escaped `\|` does not split).
fn cells(line: &str) -> Vec<String> {
    let inner = line.trim().trim_start_matches('|');
    let inner = inner.strip_suffix('|').unwrap_or(inner);
    let mut out = vec![String::new()];
    let mut escaped = false;
    for c in inner.chars() {
        match c {
            '|' if !escaped => out.push(String::new()),
            c => out.last_mut().expect("one cell at least").push(c),
        }
        escaped = c == '\\';
    }
    out.iter().map(|c| c.trim().to_owned()).collect()
}

/// What is missing from the section of `name` for `properties`.
fn check(name: &str, properties: &[Property], problems: &mut Vec<String>) {
    let Some(text) = section(name) else {
        problems.push(format!(
            "no section for {name}: add a heading holding `{name}` with a table of these rows:\n{}",
            properties.iter().map(row).collect::<Vec<_>>().join("\n")
        ));
        return;
    };
    for p in properties {
        let first = format!("| `{}` |", p.name);
        let Some(line) = text.lines().find(|l| l.trim_start().starts_with(&first)) else {
            problems.push(format!(
                "{name}: no row for property {}; add:\n{}",
                p.name,
                row(p)
            ));
            continue;
        };
        // Every cell but the doc text is as the code says.
        let (have, want) = (cells(line), cells(&row(p)));
        let columns = ["property", "aliases", "default", "required", "secret"];
        let wrong: Vec<String> = if have.len() != want.len() {
            vec![format!(
                "has {} cells instead of {}",
                have.len(),
                want.len()
            )]
        } else {
            columns
                .iter()
                .enumerate()
                .filter(|(i, _)| have[*i] != want[*i])
                .map(|(i, c)| format!("says {c} {:?}, not {:?}", have[i], want[i]))
                .collect()
        };
        if !wrong.is_empty() {
            problems.push(format!(
                "{name}: the row of {} {}; it should read:\n{}",
                p.name,
                wrong.join(", "),
                row(p)
            ));
        }
    }
}

#[test]
fn every_property_is_documented() {
    let registry = statestore::registry().unwrap();
    let mut all: Vec<(&str, &[Property])> = vec![
        (BUILTIN, BUILTIN_PROPERTIES),
        (ENV, ENV_PROPERTIES),
        (FILE, FILE_PROPERTIES),
    ];
    for reg in registry.iter() {
        all.push((reg.name, reg.properties));
    }
    if std::env::var_os("DOCS_COMPONENTS_PRINT").is_some() {
        for (name, properties) in &all {
            println!("\n{name}\n");
            println!("| property | aliases | default | required | secret | what it does |");
            println!("|---|---|---|---|---|---|");
            for p in *properties {
                println!("{}", row(p));
            }
        }
    }
    let mut problems = Vec::new();
    for (name, properties) in &all {
        check(name, properties, &mut problems);
    }
    for reg in registry.iter() {
        for alias in reg.aliases {
            if !section(reg.name).is_some_and(|s| s.contains(&format!("`{alias}`"))) {
                problems.push(format!(
                    "{}: its section does not name its alias `{alias}`",
                    reg.name
                ));
            }
        }
    }
    assert!(
        problems.is_empty(),
        "docs/components.md is out of date:\n\n{}",
        problems.join("\n\n")
    );
}

#[test]
fn sections_are_found() {
    assert!(section("no.such.type").is_none());
    assert!(section(BUILTIN).is_some());
}
