//! The job registry is the one list of queues: the README's queue table agrees with it, and no
//! product source spells a queue name but the kind that defines it.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use veza_jobs::registry;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_owned()
}

#[test]
fn the_readmes_queue_table_lists_every_registered_queue_with_its_defaults() {
    let readme = std::fs::read_to_string(workspace().join("README.md")).unwrap();
    let rows: Vec<Vec<String>> = readme
        .lines()
        .filter(|line| line.starts_with("| `"))
        .map(|line| line.split('|').map(|cell| cell.trim().to_owned()).collect())
        .collect();
    for queue in registry::queues() {
        let name = format!("`{}`", queue.name);
        let row = rows
            .iter()
            .find(|cells| cells.get(1) == Some(&name))
            .unwrap_or_else(|| panic!("no row for {name} in the README's queue table"));
        // | queue | its jobs | concurrency | timeout | attempts |
        let expected = [
            queue.concurrency.to_string(),
            format!("{} s", queue.timeout.as_secs()),
            queue.retry.max_attempts.to_string(),
        ];
        assert_eq!(row[3..6], expected, "README row of {name}: {row:?}");
    }
}

/// Every `.rs` file under `dir`.
fn sources(dir: &Path, found: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, found);
        } else if path.extension().is_some_and(|e| e == "rs") {
            found.push(path);
        }
    }
}

#[test]
fn a_queue_name_is_spelled_once_in_the_product_where_its_kind_defines_it() {
    let mut files = Vec::new();
    for crate_dir in ["jobs/src", "worker/src", "api/src"] {
        sources(&workspace().join(crate_dir), &mut files);
    }
    for queue in registry::queue_names() {
        let literal = format!("\"{queue}\"");
        // A line may use the same word for something else (an output kind) if it says so.
        let places: Vec<String> = files
            .iter()
            .flat_map(|file| {
                let text = std::fs::read_to_string(file).unwrap();
                text.lines()
                    .enumerate()
                    .filter(|(_, line)| line.contains(&literal) && !line.contains("not a queue name"))
                    .map(|(n, line)| format!("{}:{}: {}", file.display(), n + 1, line.trim()))
                    .collect::<Vec<_>>()
            })
            .collect();
        assert_eq!(
            places.len(),
            1,
            "{literal} should appear once, in its kind's QUEUE; use the constant elsewhere:\n{}",
            places.join("\n")
        );
    }
}
