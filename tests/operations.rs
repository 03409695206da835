//! The operator's files, held to the real metrics: every metric and label that the Prometheus
//! alerts (`deploy/prometheus/alerts.yaml`) and the Grafana dashboard (`deploy/grafana/veza.json`)
//! use exists in the scrapes of a running API and of running workers; every metric family those
//! export is described in `docs/operations.md` (a new metric fails here until it is documented);
//! and `veza_queue_oldest_queued_seconds` tells a queue with a waiting job from an empty one.
//!
//! The platform runs as the operations guide splits a fleet: a `light` worker (email, webhook,
//! purge, canary, and maintenance) and a `media` worker. The work done before the scrapes gives
//! every metric the files use a sample, so that its labels can be read: uploads, a transcode
//! rescued from a killed worker, and emails that a mail relay refuses to authenticate (a
//! configuration fault, retried).
//!
//! The alert rules are YAML, read through Python's PyYAML (`python3 -c`), which the test tools
//! that `scripts/system-deps.sh` installs (schemathesis, moto) depend on.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{
    collections::{BTreeMap, BTreeSet},
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use serde_json::Value;
use veza_e2e::{
    fixtures,
    platform::{LIGHT_QUEUES, MEDIA_QUEUES, Platform},
    servers::{SmtpSink, free_port},
};

/// Metrics the files may use that Veza does not export: Prometheus's own (`up`), the blackbox
/// exporter's and node-exporter's.
const FOREIGN_METRICS: &[&str] = &[
    "up",
    "probe_success",
    "node_filesystem_avail_bytes",
    "node_filesystem_size_bytes",
];

/// Labels Prometheus adds to every series it scrapes.
const TARGET_LABELS: &[&str] = &["job", "instance"];

/// PromQL's aggregation operators.
const AGGREGATORS: &[&str] = &[
    "sum",
    "min",
    "max",
    "avg",
    "group",
    "stddev",
    "stdvar",
    "count",
    "count_values",
    "bottomk",
    "topk",
    "quantile",
    "limitk",
    "limit_ratio",
];

/// PromQL's other keywords (and number spellings), which are no metric names.
const KEYWORDS: &[&str] = &[
    "and", "or", "unless", "bool", "offset", "atan2", "inf", "nan", "Inf", "NaN",
];

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn read(relative: &str) -> String {
    std::fs::read_to_string(workspace().join(relative)).unwrap_or_else(|err| panic!("{relative}: {err}"))
}

// --- PromQL, read just enough -------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Ident(String),
    Str(String),
    Op(String),
    Punct(char),
    /// A number, or a Grafana variable outside a range.
    Number,
}

/// Tokens of a PromQL expression. Ranges and subqueries (`[5m]`, `[$__rate_interval]`,
/// `[1h:]`) are dropped: they hold no names.
fn tokens(expr: &str) -> Vec<Token> {
    let chars: Vec<char> = expr.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == ':';
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c == '#' {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '[' {
            while i < chars.len() && chars[i] != ']' {
                i += 1;
            }
            i += 1;
        } else if c == '"' || c == '\'' || c == '`' {
            let mut value = String::new();
            i += 1;
            while i < chars.len() && chars[i] != c {
                if chars[i] == '\\' && c != '`' {
                    i += 1;
                }
                value.push(chars[i]);
                i += 1;
            }
            i += 1;
            out.push(Token::Str(value));
        } else if c.is_ascii_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len() && word(chars[i]) {
                i += 1;
            }
            out.push(Token::Ident(chars[start..i].iter().collect()));
        } else if c.is_ascii_digit() || c == '.' || c == '$' {
            i += 1;
            while i < chars.len() && (word(chars[i]) || chars[i] == '.') {
                i += 1;
            }
            out.push(Token::Number);
        } else if let Some(pair) = chars
            .get(i..i + 2)
            .map(|pair| pair.iter().collect::<String>())
            .filter(|pair| ["=~", "!~", "!=", "==", ">=", "<="].contains(&pair.as_str()))
        {
            out.push(Token::Op(pair));
            i += 2;
        } else if "=<>+-*/%^".contains(c) {
            out.push(Token::Op(c.to_string()));
            i += 1;
        } else {
            out.push(Token::Punct(c));
            i += 1;
        }
    }
    out
}

/// A metric selector in an expression.
#[derive(Debug, Clone, PartialEq)]
struct Selector {
    metric: String,
    /// The labels of its matchers, each with its operator and value.
    matchers: Vec<(String, String, String)>,
    /// The labels of every `by (…)` / `without (…)` whose aggregation contains it.
    grouped_by: BTreeSet<String>,
}

/// What an expression uses.
#[derive(Debug, Default)]
struct Uses {
    selectors: Vec<Selector>,
    /// Whether it aggregates, and the labels of all its `by (…)` clauses.
    aggregates: bool,
    by_labels: BTreeSet<String>,
}

fn matching(tokens: &[Token], from: usize, open: char, close: char, step: isize) -> usize {
    let mut depth = 0i32;
    let mut i = from as isize;
    loop {
        match &tokens[i as usize] {
            Token::Punct(c) if *c == open => depth += 1,
            Token::Punct(c) if *c == close => depth -= 1,
            _ => {}
        }
        if depth == 0 {
            return i as usize;
        }
        i += step;
    }
}

/// The metric selectors of `expr`, with their matchers and the grouping labels that apply to
/// them. `on (…)`, `ignoring (…)` and `group_left/right` are refused: their labels would need
/// checking too, which this reader does not do.
fn uses(expr: &str) -> Uses {
    let tokens = tokens(expr);
    let mut found = Uses::default();
    let mut positions = Vec::new();
    let mut groupings: Vec<(BTreeSet<String>, usize, usize)> = Vec::new();
    let mut i = 0;
    while i < tokens.len() {
        let Token::Ident(name) = &tokens[i] else {
            assert!(
                tokens[i] != Token::Punct('{'),
                "a selector without a metric name in `{expr}`"
            );
            i += 1;
            continue;
        };
        let next = tokens.get(i + 1);
        if ["on", "ignoring", "group_left", "group_right"].contains(&name.as_str()) {
            panic!("`{name}` in `{expr}`: tests/operations.rs does not check its labels yet");
        }
        if name == "by" || name == "without" {
            assert_eq!(
                next,
                Some(&Token::Punct('(')),
                "`{name}` without a list in `{expr}`"
            );
            let close = matching(&tokens, i + 1, '(', ')', 1);
            let labels: BTreeSet<String> = tokens[i + 2..close]
                .iter()
                .filter_map(|t| match t {
                    Token::Ident(label) => Some(label.clone()),
                    _ => None,
                })
                .collect();
            // `sum by (x) (…)` groups what follows; `sum(…) by (x)` what precedes.
            let scope = if tokens.get(close + 1) == Some(&Token::Punct('(')) {
                (close + 1, matching(&tokens, close + 1, '(', ')', 1))
            } else {
                assert_eq!(
                    tokens[i - 1],
                    Token::Punct(')'),
                    "`{name}` out of place in `{expr}`"
                );
                (matching(&tokens, i - 1, ')', '(', -1), i - 1)
            };
            if name == "by" {
                found.by_labels.extend(labels.iter().cloned());
            }
            groupings.push((labels, scope.0, scope.1));
            i = close + 1;
            continue;
        }
        if AGGREGATORS.contains(&name.as_str()) {
            found.aggregates = true;
        }
        if next == Some(&Token::Punct('('))
            || AGGREGATORS.contains(&name.as_str())
            || KEYWORDS.contains(&name.as_str())
        {
            i += 1;
            continue;
        }
        let mut selector = Selector {
            metric: name.clone(),
            matchers: Vec::new(),
            grouped_by: BTreeSet::new(),
        };
        let position = i;
        i += 1;
        if tokens.get(i) == Some(&Token::Punct('{')) {
            i += 1;
            while tokens[i] != Token::Punct('}') {
                match (&tokens[i], &tokens[i + 1], &tokens[i + 2]) {
                    (Token::Ident(label), Token::Op(op), Token::Str(value)) => {
                        selector.matchers.push((label.clone(), op.clone(), value.clone()));
                    }
                    other => panic!("unexpected matcher {other:?} in `{expr}`"),
                }
                i += 3;
                if tokens[i] == Token::Punct(',') {
                    i += 1;
                }
            }
            i += 1;
        }
        found.selectors.push(selector);
        positions.push(position);
    }
    for (selector, position) in found.selectors.iter_mut().zip(positions) {
        for (labels, start, end) in &groupings {
            if (*start..=*end).contains(&position) {
                selector.grouped_by.extend(labels.iter().cloned());
            }
        }
    }
    found
}

/// The labels a legend (`{{label}}`) or an annotation (`{{ $labels.label }}`) names.
fn template_labels(text: &str) -> BTreeSet<String> {
    let mut labels = BTreeSet::new();
    for part in text.split("{{").skip(1) {
        let inner = part.split("}}").next().unwrap().trim();
        let name = inner.strip_prefix("$labels.").unwrap_or(inner);
        let name = name.split_whitespace().next().unwrap_or("");
        if !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            labels.insert(name.to_owned());
        }
    }
    labels
}

// --- Prometheus text format ---------------------------------------------------------------------

/// The metric families and series of one or more scrapes.
#[derive(Debug, Default)]
struct Scrapes {
    /// Family name → type (`# TYPE` lines).
    families: BTreeMap<String, String>,
    /// Series name → label name → values seen.
    series: BTreeMap<String, BTreeMap<String, BTreeSet<String>>>,
}

impl Scrapes {
    fn add(&mut self, text: &str) {
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                let mut parts = rest.split_whitespace();
                let (name, kind) = (parts.next().unwrap(), parts.next().unwrap());
                if let Some(known) = self.families.insert(name.to_owned(), kind.to_owned()) {
                    assert_eq!(known, kind, "{name} has two types");
                }
            } else if !line.starts_with('#') && !line.trim().is_empty() {
                let (name, labels, _) = sample(line);
                let series = self.series.entry(name).or_default();
                for (label, value) in labels {
                    series.entry(label).or_default().insert(value);
                }
            }
        }
    }

    /// Every series name the families can have, by their types.
    fn series_names(&self) -> BTreeMap<String, String> {
        let mut names = BTreeMap::new();
        for (family, kind) in &self.families {
            let suffixes: &[&str] = match kind.as_str() {
                "counter" => &["_total", "_created"],
                "histogram" => &["_bucket", "_sum", "_count", "_created"],
                "summary" => &["", "_sum", "_count", "_created"],
                "info" => &["_info"],
                _ => &[""],
            };
            for suffix in suffixes {
                names.insert(format!("{family}{suffix}"), family.clone());
            }
        }
        names
    }

    fn labels_of(&self, series: &str) -> BTreeSet<String> {
        self.series
            .get(series)
            .map(|labels| labels.keys().cloned().collect())
            .unwrap_or_default()
    }
}

/// One sample line: its series name, labels and value.
fn sample(line: &str) -> (String, Vec<(String, String)>, f64) {
    let name_end = line.find(['{', ' ']).unwrap();
    let name = line[..name_end].to_owned();
    let mut labels = Vec::new();
    let mut rest = &line[name_end..];
    if let Some(inner) = rest.strip_prefix('{') {
        let mut chars = inner.char_indices();
        let mut label = String::new();
        loop {
            let (at, c) = chars.next().unwrap();
            match c {
                '}' => {
                    rest = &inner[at + 1..];
                    break;
                }
                ',' => {}
                '=' => {
                    assert_eq!(chars.next().unwrap().1, '"', "{line}");
                    let mut value = String::new();
                    loop {
                        match chars.next().unwrap().1 {
                            '\\' => value.push(chars.next().unwrap().1),
                            '"' => break,
                            other => value.push(other),
                        }
                    }
                    labels.push((std::mem::take(&mut label), value));
                }
                other => label.push(other),
            }
        }
    }
    let value = rest.split_whitespace().next().unwrap().parse().unwrap();
    (name, labels, value)
}

/// The value of the sample of `series` with `labels`, in one scrape.
fn value_of(text: &str, series: &str, labels: &[(&str, &str)]) -> Option<f64> {
    text.lines()
        .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
        .map(sample)
        .find(|(name, found, _)| {
            name == series
                && found.len() == labels.len()
                && labels
                    .iter()
                    .all(|(k, v)| found.iter().any(|(fk, fv)| fk == k && fv == v))
        })
        .map(|(_, _, value)| value)
}

// --- The files ----------------------------------------------------------------------------------

/// An expression with what may be named alongside it (a legend, annotations).
struct Expression {
    place: String,
    expr: String,
    templates: Vec<String>,
}

/// The alert rules, after checking their shape.
fn alert_expressions() -> (Vec<Expression>, Vec<String>) {
    let path = workspace().join("deploy/prometheus/alerts.yaml");
    let output = std::process::Command::new("python3")
        .args([
            "-c",
            "import json, sys, yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1]))))",
        ])
        .arg(&path)
        .output()
        .expect("python3 runs (with PyYAML: `just test` installs the tools that bring it)");
    assert!(
        output.status.success(),
        "reading {}: {}",
        path.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    let rules: Value = serde_json::from_slice(&output.stdout).unwrap();
    let mut expressions = Vec::new();
    let mut names = Vec::new();
    let groups = rules["groups"].as_array().expect("groups");
    assert!(!groups.is_empty());
    for group in groups {
        assert!(group["name"].is_string(), "{group}");
        for rule in group["rules"].as_array().expect("rules") {
            let name = rule["alert"]
                .as_str()
                .unwrap_or_else(|| panic!("not an alert: {rule}"));
            assert!(!names.contains(&name.to_owned()), "{name} twice");
            names.push(name.to_owned());
            let expr = rule["expr"].as_str().unwrap_or_else(|| panic!("{name}: no expr"));
            let wait = rule["for"].as_str().unwrap_or_else(|| panic!("{name}: no `for`"));
            assert!(
                wait.len() > 1
                    && wait[..wait.len() - 1].chars().all(|c| c.is_ascii_digit())
                    && "smhdwy".contains(&wait[wait.len() - 1..]),
                "{name}: `for: {wait}`"
            );
            assert!(
                matches!(rule["labels"]["severity"].as_str(), Some("warning" | "critical")),
                "{name}: severity {}",
                rule["labels"]["severity"]
            );
            let summary = rule["annotations"]["summary"].as_str().unwrap_or_default();
            assert!(!summary.is_empty(), "{name}: no summary");
            let templates = rule["annotations"]
                .as_object()
                .unwrap()
                .values()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect();
            expressions.push(Expression {
                place: format!("alerts.yaml: {name}"),
                expr: expr.to_owned(),
                templates,
            });
        }
    }
    (expressions, names)
}

/// Every PromQL target of the dashboard, after checking its shape.
fn dashboard_expressions() -> Vec<Expression> {
    let dashboard: Value = serde_json::from_str(&read("deploy/grafana/veza.json")).unwrap();
    assert!(
        dashboard["schemaVersion"].as_i64().unwrap() >= 36,
        "schemaVersion"
    );
    assert!(dashboard["uid"].is_string() && dashboard["title"].is_string());
    let variables = dashboard["templating"]["list"].as_array().unwrap();
    assert!(
        variables
            .iter()
            .any(|v| v["name"] == "datasource" && v["type"] == "datasource" && v["query"] == "prometheus"),
        "a `datasource` variable of Prometheus data sources"
    );
    let mut panels: Vec<&Value> = Vec::new();
    for panel in dashboard["panels"].as_array().unwrap() {
        panels.push(panel);
        if let Some(inner) = panel["panels"].as_array() {
            panels.extend(inner);
        }
    }
    let mut ids = BTreeSet::new();
    let mut expressions = Vec::new();
    for panel in panels {
        assert!(
            ids.insert(panel["id"].as_i64().unwrap()),
            "panel id {} twice",
            panel["id"]
        );
        let title = panel["title"].as_str().unwrap();
        if panel["type"] == "row" {
            continue;
        }
        assert!(
            matches!(panel["type"].as_str(), Some("timeseries" | "stat")),
            "{title}: type {}",
            panel["type"]
        );
        assert_eq!(panel["datasource"]["uid"], "${datasource}", "{title}");
        let targets = panel["targets"].as_array().unwrap();
        assert!(!targets.is_empty(), "{title}: no targets");
        for target in targets {
            assert_eq!(target["datasource"]["uid"], "${datasource}", "{title}");
            let expr = target["expr"].as_str().unwrap();
            assert!(!expr.trim().is_empty(), "{title}: empty expression");
            expressions.push(Expression {
                place: format!("veza.json: {title}"),
                expr: expr.to_owned(),
                templates: target["legendFormat"]
                    .as_str()
                    .map(str::to_owned)
                    .into_iter()
                    .collect(),
            });
        }
    }
    expressions
}

/// Checks one expression against the scrapes; returns its problems.
fn check_expression(expression: &Expression, scrapes: &Scrapes, queues: &BTreeSet<String>) -> Vec<String> {
    let Expression {
        place,
        expr,
        templates,
    } = expression;
    let series_names = scrapes.series_names();
    let uses = uses(expr);
    let mut problems = Vec::new();
    assert!(!uses.selectors.is_empty(), "{place}: no metric in `{expr}`");
    let mut result_labels: BTreeSet<String> = TARGET_LABELS.iter().map(|l| (*l).to_owned()).collect();
    for selector in &uses.selectors {
        let metric = &selector.metric;
        if !metric.starts_with("veza_") {
            if !FOREIGN_METRICS.contains(&metric.as_str()) {
                problems.push(format!(
                    "{place}: `{metric}` is neither Veza's nor in FOREIGN_METRICS"
                ));
            }
            continue;
        }
        if !series_names.contains_key(metric) {
            problems.push(format!(
                "{place}: `{metric}` is not a series of any metric the API or the workers export"
            ));
            continue;
        }
        let labels = scrapes.labels_of(metric);
        if labels.is_empty() && !scrapes.series.contains_key(metric) {
            problems.push(format!(
                "{place}: `{metric}` had no sample in the scrapes, so its labels are unchecked: make the test's work produce one"
            ));
            continue;
        }
        result_labels.extend(labels.iter().cloned());
        let used = selector
            .matchers
            .iter()
            .map(|(label, _, _)| label)
            .chain(&selector.grouped_by);
        for label in used {
            if !labels.contains(label) && !TARGET_LABELS.contains(&label.as_str()) {
                problems.push(format!(
                    "{place}: `{metric}` has no label `{label}` (it has {labels:?})"
                ));
            }
        }
        // Queue names: the registered ones, as the queue gauge lists them.
        for (label, op, value) in &selector.matchers {
            if (label == "queue" || label == "kind") && (op == "=" || op == "=~") {
                for name in value.split('|') {
                    if !queues.contains(name) {
                        problems.push(format!("{place}: `{label}` names `{name}`, which is no queue"));
                    }
                }
            }
        }
    }
    if uses.aggregates {
        result_labels = uses.by_labels.clone();
    }
    for template in templates {
        for label in template_labels(template) {
            if !result_labels.contains(&label) {
                problems.push(format!(
                    "{place}: `{{{{{label}}}}}` is not a label of the result of `{expr}`"
                ));
            }
        }
    }
    problems
}

// --- The platform -------------------------------------------------------------------------------

async fn scrape(platform: &Platform, url: &str) -> String {
    let resp = platform.http.get(url).send().await.unwrap();
    assert_eq!(resp.status(), reqwest::StatusCode::OK, "{url}");
    resp.text().await.unwrap()
}

/// Scrapes `url` until `series` with `labels` has a value of at least 1 (60 s at most; the
/// worker may still be starting).
async fn wait_for_sample(platform: &Platform, url: &str, series: &str, labels: &[(&str, &str)]) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(resp) = platform.http.get(url).send().await
            && let Ok(text) = resp.text().await
            && value_of(&text, series, labels).is_some_and(|v| v >= 1.0)
        {
            return text;
        }
        assert!(
            Instant::now() < deadline,
            "no {series}{labels:?} at {url} in 60 s"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn alerts_dashboard_and_guide_match_the_metrics_the_platform_exports() {
    // A mail relay that refuses every credential: email jobs retry, as a misconfigured fleet's do.
    let maildir = tempfile::tempdir().unwrap();
    let smtp = SmtpSink::start_scripted(maildir.path(), "auth-reject").await;
    let smtp_url = format!("smtp://127.0.0.1:{}", smtp.port);
    let light_metrics = format!("127.0.0.1:{}", free_port());
    let mut platform = Platform::start_with(&[
        ("VEZA_QUEUES", LIGHT_QUEUES),
        ("VEZA_METRICS_LISTEN", &light_metrics),
        ("VEZA_SMTP_URL", &smtp_url),
        ("VEZA_SMTP_USERNAME", "veza"),
        ("VEZA_SMTP_PASSWORD", "not-the-password"),
    ])
    .await;
    // A media worker, killed below in the middle of a transcode.
    platform.add_worker_with(&[
        ("VEZA_QUEUES", MEDIA_QUEUES),
        ("VEZA_MAINTENANCE", "false"),
        ("VEZA_METRICS_LISTEN", "127.0.0.1:0"),
    ]);
    let token = platform.register_and_login("ops@example.com").await;
    platform.grant_admin("ops@example.com");

    let long = platform
        .upload(&token, fixtures::wav(120.0, 8_000, 1), "long.wav")
        .await;
    let transcode = long["job_ids"][0].as_str().unwrap();
    platform.wait_for_state(&token, transcode, &["running"]).await;
    platform.kill_worker(1);

    // The media worker whose metrics are read: it rescues the transcode (heartbeats 1 s × 2).
    let media_metrics = format!("127.0.0.1:{}", free_port());
    platform.add_worker_with(&[
        ("VEZA_QUEUES", MEDIA_QUEUES),
        ("VEZA_MAINTENANCE", "false"),
        ("VEZA_METRICS_LISTEN", &media_metrics),
        ("VEZA_HEARTBEAT_SECONDS", "1"),
        ("VEZA_MISSED_HEARTBEATS", "2"),
    ]);
    let media_url = format!("http://{media_metrics}/metrics");
    let light_url = format!("http://{light_metrics}/metrics");
    wait_for_sample(
        &platform,
        &media_url,
        "veza_job_rescues_total",
        &[("kind", "transcode")],
    )
    .await;
    let image = platform.upload(&token, fixtures::png(300, 200), "a.png").await;
    let job = platform
        .wait_for_job(&token, image["job_ids"][0].as_str().unwrap())
        .await;
    assert_eq!(job["state"], "succeeded", "{job}");
    // The verification email of the registration, refused by the relay.
    wait_for_sample(
        &platform,
        &light_url,
        "veza_email_config_faults_total",
        &[("fault", "auth")],
    )
    .await;

    // A paused queue with a job waiting, beside queues that never had one.
    let resp = platform
        .http
        .post(platform.url("/v1/admin/queues/thumbnail/pause"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success(), "{}", resp.text().await.unwrap());
    // Workers look for pauses every second.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let waiting = platform.upload(&token, fixtures::png(100, 80), "waits.png").await;
    tokio::time::sleep(Duration::from_millis(1500)).await;

    let api_text = scrape(&platform, &platform.url("/metrics")).await;
    let light_text = scrape(&platform, &light_url).await;
    let media_text = scrape(&platform, &media_url).await;
    let job = platform
        .get_json(
            &token,
            &format!("/v1/jobs/{}", waiting["job_ids"][0].as_str().unwrap()),
        )
        .await;
    assert_eq!(
        job["state"], "queued",
        "nobody claims a paused queue's job: {job}"
    );

    // The age of the oldest ready job: about the 1.5 s waited for the paused queue, 0 for a
    // queue that never had a job, from both binaries.
    let oldest = "veza_queue_oldest_queued_seconds";
    for (who, text) in [("api", &api_text), ("media worker", &media_text)] {
        let thumbnail = value_of(text, oldest, &[("queue", "thumbnail")])
            .unwrap_or_else(|| panic!("{who}: no {oldest} for thumbnail in:\n{text}"));
        assert!(
            (1.0..120.0).contains(&thumbnail),
            "{who}: the paused queue's job has waited about 1.5 s, not {thumbnail}"
        );
        assert_eq!(
            value_of(text, oldest, &[("queue", "encode")]),
            Some(0.0),
            "{who}: encode never had a job"
        );
    }

    let mut scrapes = Scrapes::default();
    for text in [&api_text, &light_text, &media_text] {
        scrapes.add(text);
    }
    // Every registered queue is listed by both queue gauges.
    let queues = scrapes.series["veza_queue_jobs"]["queue"].clone();
    assert_eq!(scrapes.series[oldest]["queue"], queues);
    // The guide's two worker groups serve every queue between them.
    let grouped: BTreeSet<String> = MEDIA_QUEUES
        .split(',')
        .chain(LIGHT_QUEUES.split(','))
        .map(str::to_owned)
        .collect();
    assert_eq!(
        grouped, queues,
        "every registered queue belongs to one worker group (docs/operations.md, \"Scaling\")"
    );

    // Every metric, label and legend the alerts and the dashboard use.
    let (mut expressions, alert_names) = alert_expressions();
    expressions.extend(dashboard_expressions());
    let problems: Vec<String> = expressions
        .iter()
        .flat_map(|expression| check_expression(expression, &scrapes, &queues))
        .collect();
    assert!(
        problems.is_empty(),
        "{}\n\nfamilies exported: {:?}",
        problems.join("\n"),
        scrapes.families
    );

    // The guide describes every metric family (by the name queries use) and every alert,
    // and names no metric that does not exist.
    let guide = read("docs/operations.md");
    for group in [MEDIA_QUEUES, LIGHT_QUEUES] {
        assert!(
            guide.contains(&format!("VEZA_QUEUES={group}")),
            "the guide's groups: {group}"
        );
    }
    let mentioned = |name: &str| {
        guide.match_indices(name).any(|(at, _)| {
            let after = guide[at + name.len()..].chars().next();
            let before = guide[..at].chars().next_back();
            !after.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
                && !before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
        })
    };
    let mut undocumented = Vec::new();
    for (family, kind) in &scrapes.families {
        if !family.starts_with("veza_") {
            continue;
        }
        let name = if kind == "counter" {
            format!("{family}_total")
        } else {
            family.clone()
        };
        if !mentioned(&name) {
            undocumented.push(name);
        }
    }
    assert!(
        undocumented.is_empty(),
        "docs/operations.md does not describe {undocumented:?}"
    );
    for name in &alert_names {
        assert!(
            mentioned(name),
            "docs/operations.md does not explain the alert {name}"
        );
    }
    let series_names = scrapes.series_names();
    let mut unknown: BTreeSet<&str> = BTreeSet::new();
    for (at, _) in guide.match_indices("veza_") {
        if guide[..at]
            .chars()
            .next_back()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            continue;
        }
        let name: String = guide[at..]
            .chars()
            .take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_')
            .collect();
        // A prefix (`veza_queue_`) names a set of metrics, not one.
        if !name.ends_with('_') && !series_names.contains_key(&name) && !scrapes.families.contains_key(&name)
        {
            unknown.insert(&guide[at..at + name.len()]);
        }
    }
    assert!(
        unknown.is_empty(),
        "docs/operations.md names metrics nobody exports: {unknown:?}"
    );
    drop(smtp);
}

// --- The reader itself --------------------------------------------------------------------------

#[test]
fn the_promql_reader_finds_selectors_matchers_and_the_scope_of_each_grouping() {
    let found = uses(
        r#"(sum by (kind) (rate(veza_job_retries_total{kind=~"email|thumbnail"}[15m]))
              / sum(rate(veza_job_duration_seconds_count[$__rate_interval])) by (kind, outcome)) > 0.2
           and histogram_quantile(0.95, sum by (le, operation) (rate(veza_http_request_duration_seconds_bucket[5m])))
           or up{job="veza-api"} == 0"#,
    );
    let summary: Vec<(&str, Vec<&str>, Vec<&str>)> = found
        .selectors
        .iter()
        .map(|s| {
            (
                s.metric.as_str(),
                s.matchers.iter().map(|(label, _, _)| label.as_str()).collect(),
                s.grouped_by.iter().map(String::as_str).collect(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("veza_job_retries_total", vec!["kind"], vec!["kind"]),
            ("veza_job_duration_seconds_count", vec![], vec!["kind", "outcome"]),
            (
                "veza_http_request_duration_seconds_bucket",
                vec![],
                vec!["le", "operation"]
            ),
            ("up", vec!["job"], vec![]),
        ]
    );
    assert!(found.aggregates);
    assert_eq!(
        found.by_labels.iter().map(String::as_str).collect::<Vec<_>>(),
        ["kind", "le", "operation", "outcome"]
    );
    assert_eq!(
        template_labels("{{ $labels.queue }} waited {{ $value | humanizeDuration }}; {{kind}} {{outcome}}"),
        BTreeSet::from(["queue".to_owned(), "kind".to_owned(), "outcome".to_owned()])
    );
}

#[test]
fn a_made_up_metric_or_label_is_reported() {
    let mut scrapes = Scrapes::default();
    scrapes.add(
        "# TYPE veza_job_retries counter\nveza_job_retries_total{kind=\"email\"} 1\n\
         # TYPE veza_queue_jobs gauge\nveza_queue_jobs{queue=\"email\",state=\"queued\"} 0\n# EOF\n",
    );
    let queues = BTreeSet::from(["email".to_owned()]);
    let check = |expr: &str, legend: &str| {
        check_expression(
            &Expression {
                place: "test".into(),
                expr: expr.into(),
                templates: vec![legend.into()],
            },
            &scrapes,
            &queues,
        )
    };
    assert_eq!(
        check("sum by (kind) (rate(veza_job_retries_total[5m]))", "{{kind}}"),
        Vec::<String>::new()
    );
    for (expr, legend, problem) in [
        ("rate(veza_job_retries[5m])", "", "is not a series"),
        ("rate(veza_job_retry_total[5m])", "", "is not a series"),
        (
            "sum by (queue) (rate(veza_job_retries_total[5m]))",
            "",
            "has no label `queue`",
        ),
        (
            "veza_queue_jobs{state=\"queued\",kind=\"email\"}",
            "",
            "has no label `kind`",
        ),
        ("veza_queue_jobs{queue=\"emails\"}", "", "which is no queue"),
        (
            "sum by (kind) (rate(veza_job_retries_total[5m]))",
            "{{outcome}}",
            "is not a label of the result",
        ),
        ("node_cpu_seconds_total", "", "FOREIGN_METRICS"),
    ] {
        let problems = check(expr, legend);
        assert!(
            problems.iter().any(|p| p.contains(problem)),
            "`{expr}`: {problems:?}"
        );
    }
}
