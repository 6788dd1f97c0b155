//! The pages: server-rendered HTML, no front-end build step (a stylesheet and a small
//! script for the live view, both served by the router). Everything from the store is
//! escaped with [`esc`].

use std::fmt::Write as _;
use std::sync::Arc;

use axum::extract::{OriginalUri, Path, Query, State};
use axum::http::{StatusCode, Uri};
use axum::response::{Html, IntoResponse, Redirect, Response};
use sched_core::job::Job;
use sched_core::store::{RunQuery, RunRecord, RunStatus};
use serde::Deserialize;

use crate::api::{self, clamp_limit, JobsParams, RunsParams};
use crate::error::ApiError;
use crate::Shared;

pub(crate) const STYLE: &str = include_str!("../assets/style.css");
pub(crate) const LIVE_JS: &str = include_str!("../assets/live.js");

/// An instant as a page shows it: to the second, UTC (the API keeps every digit).
fn shown(at: chrono::DateTime<chrono::Utc>) -> String {
    at.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

/// Text made safe for HTML content and attribute values.
pub(crate) fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A path segment or query value made safe for a URL (then escaped for HTML).
pub(crate) fn url(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// Where the router is nested: the original path minus the router's own.
fn base(original: &Uri, inner: &Uri) -> String {
    let full = original.path();
    let own = inner.path();
    let prefix = full.strip_suffix(own).unwrap_or("");
    let prefix = if own == "/" && !full.ends_with('/') {
        full
    } else {
        prefix
    };
    prefix.trim_end_matches('/').to_owned()
}

/// The jobs page: the router's root (`/admin` when nested there: Axum's `nest` does
/// not route `/admin/`).
fn home(base: &str) -> String {
    if base.is_empty() {
        "/".to_owned()
    } else {
        base.to_owned()
    }
}

/// Whether `back` is a page of this dashboard (never another site).
fn ours(base: &str, back: &str) -> bool {
    let rest = if base.is_empty() {
        Some(back)
    } else {
        back.strip_prefix(base)
    };
    match rest {
        Some(rest) => {
            (rest.is_empty() || rest.starts_with('/') || rest.starts_with('?'))
                && !rest.starts_with("//")
                && !back.starts_with("//")
                && back.starts_with('/')
        }
        None => false,
    }
}

struct Page<'a> {
    shared: &'a Shared,
    base: String,
    title: String,
    active: &'static str,
    body: String,
}

impl Page<'_> {
    fn render(self) -> Response {
        let b = esc(&self.base);
        let nav = [
            ("jobs", home(&self.base), "Jobs"),
            ("runs", format!("{}/runs", self.base), "Runs"),
            ("nodes", format!("{}/nodes", self.base), "Nodes"),
        ]
        .iter()
        .map(|(key, href, label)| {
            let class = if *key == self.active {
                " class=\"active\""
            } else {
                ""
            };
            format!("<a href=\"{}\"{class}>{label}</a>", esc(href))
        })
        .collect::<String>();
        let mode = if self.shared.read_only {
            "<span class=\"badge\">read-only</span>"
        } else {
            ""
        };
        let node = match self.shared.source.node() {
            Some(node) => format!("<span class=\"node\">node {}</span>", esc(node)),
            None => "<span class=\"node\">store only</span>".to_owned(),
        };
        let html = format!(
            "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
             <title>{title} · {app}</title><link rel=\"stylesheet\" href=\"{b}/assets/style.css\"></head>\
             <body data-base=\"{b}\"><header><strong>{app}</strong><nav>{nav}</nav>{mode}{node}</header>\
             <main>{body}</main></body></html>",
            title = esc(&self.title),
            app = esc(&self.shared.title),
            body = self.body,
        );
        Html(html).into_response()
    }
}

fn error_page(shared: &Shared, base: String, error: ApiError) -> Response {
    let status = error.status;
    let body = format!(
        "<h1>{}</h1><p class=\"error\">{}</p>",
        status.canonical_reason().unwrap_or("Error"),
        esc(&error.message)
    );
    let mut response = Page {
        shared,
        base,
        title: "Error".into(),
        active: "",
        body,
    }
    .render();
    *response.status_mut() = status;
    response
}

fn status_badge(status: RunStatus) -> String {
    format!("<span class=\"status {s}\">{s}</span>", s = status.as_str())
}

fn outcome_cell(last: Option<&RunRecord>) -> String {
    match last {
        Some(run) => {
            let title = run.error.as_deref().map(esc).unwrap_or_default();
            format!(
                "<span title=\"{title}\">{}</span> <time>{}</time>",
                status_badge(run.status),
                esc(&shown(run.finished.unwrap_or(run.started)))
            )
        }
        None => "<span class=\"muted\">no run yet</span>".to_owned(),
    }
}

/// The buttons of a job (none when read-only).
fn buttons(shared: &Shared, base: &str, job: &Job, back: &str) -> String {
    if shared.read_only {
        return String::new();
    }
    let action = |name: &str, label: &str, class: &str| {
        format!(
            "<form method=\"post\" action=\"{}/jobs/{}/{name}\" class=\"inline\">\
             <input type=\"hidden\" name=\"back\" value=\"{}\">\
             <button type=\"submit\" class=\"{class}\" data-action=\"{name}\">{label}</button></form>",
            esc(base),
            esc(&url(job.id.as_str())),
            esc(back)
        )
    };
    let toggle = if job.paused {
        action("resume", "Resume", "")
    } else {
        action("pause", "Pause", "")
    };
    format!(
        "{toggle}{}{}",
        action("run", "Run now", ""),
        action("remove", "Remove", "danger")
    )
}

/// `GET /`: the jobs, paged and searchable.
pub(crate) async fn jobs_page(
    State(shared): State<Arc<Shared>>,
    OriginalUri(original): OriginalUri,
    uri: Uri,
    Query(params): Query<JobsParams>,
) -> Response {
    let base = base(&original, &uri);
    match jobs_body(&shared, &base, &params, &original).await {
        Ok(body) => Page {
            shared: &shared,
            base,
            title: "Jobs".into(),
            active: "jobs",
            body,
        }
        .render(),
        Err(error) => error_page(&shared, base, error),
    }
}

async fn jobs_body(
    shared: &Shared,
    base: &str,
    params: &JobsParams,
    original: &Uri,
) -> Result<String, ApiError> {
    let query = params.query()?;
    let page = shared.source.jobs(&query).await?;
    let back = original
        .path_and_query()
        .map_or("/".to_owned(), |p| p.as_str().to_owned());
    let search = query.search.clone().unwrap_or_default();
    let mut body = format!(
        "<h1>Jobs <span class=\"muted\">{total}</span></h1>\
         <form method=\"get\" action=\"{home}\" class=\"search\"><input type=\"search\" name=\"q\" \
         value=\"{q}\" placeholder=\"Search id, name or task\" aria-label=\"Search jobs\">\
         <button type=\"submit\">Search</button></form>\
         <table class=\"jobs\"><thead><tr><th>Job</th><th>Task</th><th>Schedule</th><th>Next run</th>\
         <th>Last outcome</th><th>State</th><th></th></tr></thead><tbody>",
        total = page.total,
        home = esc(&home(base)),
        q = esc(&search),
    );
    for job in &page.jobs {
        let last = shared.source.last_outcome(job.id.as_str()).await?;
        let next = match (job.paused, job.next_run_time) {
            (true, _) => "<span class=\"muted\">paused</span>".to_owned(),
            (false, Some(at)) => format!("<time>{}</time>", esc(&shown(at))),
            (false, None) => "<span class=\"muted\">none</span>".to_owned(),
        };
        let state = if job.paused { "paused" } else { "scheduled" };
        let _ = write!(
            body,
            "<tr data-job=\"{id}\"><td><a href=\"{b}/jobs/{link}\">{id}</a><div class=\"muted\">{name}</div></td>\
             <td>{task}</td><td>{schedule}</td><td>{next}</td><td>{outcome}</td>\
             <td class=\"state\"><span class=\"state {state}\">{state}</span></td><td class=\"actions\">{buttons}</td></tr>",
            id = esc(job.id.as_str()),
            b = esc(base),
            link = esc(&url(job.id.as_str())),
            name = esc(&job.name),
            task = esc(&job.task),
            schedule = esc(&job.trigger.describe()),
            outcome = outcome_cell(last.as_ref()),
            buttons = buttons(shared, base, job, &back),
        );
    }
    if page.jobs.is_empty() {
        body.push_str("<tr><td colspan=\"7\" class=\"muted\">No job.</td></tr>");
    }
    body.push_str("</tbody></table>");
    // Pages.
    let q = if search.is_empty() {
        String::new()
    } else {
        format!("&q={}", url(&search))
    };
    let mut pager = String::new();
    let link = |offset: usize| {
        esc(&format!(
            "{}?offset={offset}&limit={}{q}",
            home(base),
            query.limit
        ))
    };
    if query.offset > 0 {
        let prev = query.offset.saturating_sub(query.limit);
        let _ = write!(
            pager,
            "<a href=\"{}\" rel=\"prev\">← Previous</a> ",
            link(prev)
        );
    }
    let shown_to = (query.offset + page.jobs.len()).min(page.total);
    if page.total > 0 {
        let _ = write!(
            pager,
            "<span class=\"muted\">{}–{shown_to} of {}</span>",
            (query.offset + 1).min(page.total),
            page.total
        );
    }
    if query.offset + query.limit < page.total {
        let _ = write!(
            pager,
            " <a href=\"{}\" rel=\"next\">Next →</a>",
            link(query.offset + query.limit)
        );
    }
    let _ = write!(body, "<nav class=\"pager\">{pager}</nav>");
    Ok(body)
}

/// `GET /jobs/{id}`: one job.
pub(crate) async fn job_page(
    State(shared): State<Arc<Shared>>,
    OriginalUri(original): OriginalUri,
    uri: Uri,
    Path(id): Path<String>,
) -> Response {
    let base = base(&original, &uri);
    match job_body(&shared, &base, &id, &original).await {
        Ok(body) => Page {
            shared: &shared,
            base,
            title: id,
            active: "jobs",
            body,
        }
        .render(),
        Err(error) => error_page(&shared, base, error),
    }
}

async fn job_body(
    shared: &Shared,
    base: &str,
    id: &str,
    original: &Uri,
) -> Result<String, ApiError> {
    let job = shared.source.job(id).await?;
    let runs = shared
        .source
        .runs(&RunQuery::new().job(id).limit(50))
        .await?;
    let last = runs.iter().find(|run| run.status != RunStatus::Running);
    let summary = api::summarize(shared, &job, last);
    let back = original.path().to_owned();
    let mut body = format!(
        "<h1>{id} <span class=\"state {state}\">{state}</span></h1>\
         <div class=\"actions\">{buttons}</div>\
         <dl class=\"facts\"><dt>Name</dt><dd>{name}</dd><dt>Task</dt><dd>{task}</dd>\
         <dt>Schedule</dt><dd>{schedule}</dd><dt>Zone</dt><dd>{zone}</dd>\
         <dt>Trigger</dt><dd><code>{trigger}</code></dd><dt>Arguments</dt><dd><code>{args}</code></dd>\
         <dt>Options</dt><dd><code>{options}</code></dd><dt>Last outcome</dt><dd>{outcome}</dd></dl>",
        id = esc(job.id.as_str()),
        state = if job.paused { "paused" } else { "scheduled" },
        buttons = buttons(shared, base, &job, &back),
        name = esc(&job.name),
        task = esc(&job.task),
        schedule = esc(&summary.schedule),
        zone = esc(&summary.zone),
        trigger = esc(&summary.trigger.to_string()),
        args = esc(&job.args.to_string()),
        options = esc(&serde_json::to_string(&job.options).unwrap_or_default()),
        outcome = outcome_cell(last),
    );
    body.push_str("<h2>Next fire times</h2><ol class=\"fires\">");
    for fire in &summary.next_fire_times {
        let note = fire
            .dst
            .as_deref()
            .map(|n| format!(" <span class=\"dst\">{}</span>", esc(n)))
            .unwrap_or_default();
        let _ = write!(
            body,
            "<li><time>{}</time> <span class=\"muted\">{}</span>{note}</li>",
            esc(&fire.at),
            esc(&fire.utc)
        );
    }
    if summary.next_fire_times.is_empty() {
        body.push_str("<li class=\"muted\">none</li>");
    }
    body.push_str("</ol>");
    if !shared.read_only {
        let _ = write!(
            body,
            "<details><summary>Reschedule</summary><form method=\"post\" action=\"{}/jobs/{}/reschedule\">\
             <input type=\"hidden\" name=\"back\" value=\"{}\">\
             <textarea name=\"trigger\" rows=\"3\" cols=\"70\" aria-label=\"Trigger JSON\">{}</textarea>\
             <button type=\"submit\">Reschedule</button></form></details>",
            esc(base),
            esc(&url(job.id.as_str())),
            esc(&back),
            esc(&summary.trigger.to_string())
        );
    }
    body.push_str("<h2>Timeline</h2>");
    body.push_str(&timeline(&runs));
    body.push_str("<h2>History</h2>");
    let cancel = (!shared.read_only).then_some(back.as_str());
    body.push_str(&runs_table(base, &runs, "history", cancel));
    Ok(body)
}

/// The job's recent runs as bars on a time axis (SVG): start to end, coloured by
/// status.
fn timeline(runs: &[RunRecord]) -> String {
    let Some(first) = runs.iter().map(|r| r.started).min() else {
        return "<p class=\"muted\">No run yet.</p>".to_owned();
    };
    let last = runs
        .iter()
        .map(|r| r.finished.unwrap_or(r.started))
        .max()
        .unwrap_or(first);
    let span = (last - first).num_milliseconds().max(1) as f64;
    let (width, height) = (800.0, 40.0);
    let mut svg = format!(
        "<svg class=\"timeline\" viewBox=\"0 0 {width} {height}\" role=\"img\" aria-label=\"Run timeline\">"
    );
    for run in runs {
        let x = (run.started - first).num_milliseconds() as f64 / span * (width - 4.0);
        let end = run.finished.unwrap_or(run.started);
        let w = ((end - run.started).num_milliseconds() as f64 / span * (width - 4.0)).max(3.0);
        let _ = write!(
            svg,
            "<rect class=\"{s}\" x=\"{x:.1}\" y=\"8\" width=\"{w:.1}\" height=\"24\"><title>run {id} {s} {at}</title></rect>",
            s = run.status.as_str(),
            id = run.run_id,
            at = esc(&api::instant(run.started)),
        );
    }
    svg.push_str("</svg>");
    svg
}

/// A table of runs; `cancel` (not read-only): a running run's row has a Cancel button,
/// whose form brings the browser back to `cancel`'s page.
fn runs_table(base: &str, runs: &[RunRecord], id: &str, cancel: Option<&str>) -> String {
    let mut table = format!(
        "<table class=\"runs\" id=\"{id}\"{data}><thead><tr><th>Run</th><th>Job</th><th>Scheduled</th>\
         <th>Attempt</th><th>Started</th><th>Duration</th><th>Node</th><th>Status</th><th>Error</th><th>Result</th>\
         <th></th></tr></thead><tbody>",
        data = if cancel.is_some() { " data-cancel=\"1\"" } else { "" },
    );
    for run in runs {
        table.push_str(&run_row(base, run, cancel));
    }
    if runs.is_empty() {
        table.push_str(
            "<tr class=\"empty\"><td colspan=\"11\" class=\"muted\">No run yet.</td></tr>",
        );
    }
    table.push_str("</tbody></table>");
    table
}

/// The most characters of a result a run table shows (all of it in the cell's title,
/// and in the API).
const RESULT_SHOWN: usize = 80;

/// `text` cut to `max` characters, with an ellipsis when cut.
fn clipped(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_owned(),
    }
}

fn run_row(base: &str, run: &RunRecord, cancel: Option<&str>) -> String {
    let view = api::run_view(run);
    let action = match cancel {
        Some(back) if run.status == RunStatus::Running => format!(
            "<form method=\"post\" action=\"{}/runs/{}/cancel\" class=\"inline\">\
             <input type=\"hidden\" name=\"back\" value=\"{}\">\
             <button type=\"submit\" class=\"danger\" data-action=\"cancel\">Cancel</button></form>",
            esc(base),
            run.run_id,
            esc(back)
        ),
        _ => String::new(),
    };
    format!(
        "<tr data-run=\"{rid}\"><td>{rid}</td><td><a href=\"{b}/jobs/{link}\">{job}</a></td>\
         <td><time>{sched}</time></td><td class=\"attempt\">{attempt}</td><td><time>{started}</time></td><td>{duration}</td><td>{node}</td>\
         <td>{status}</td><td class=\"error\">{error}</td><td class=\"result\" title=\"{full}\">{result}</td>\
         <td>{action}</td></tr>",
        rid = run.run_id,
        b = esc(base),
        link = esc(&url(run.job_id.as_str())),
        job = esc(run.job_id.as_str()),
        sched = esc(&shown(run.scheduled)),
        attempt = run.attempt,
        started = esc(&shown(run.started)),
        duration = view
            .duration_seconds
            .map(|s| format!("{s:.3} s"))
            .unwrap_or_default(),
        node = esc(&run.node),
        status = status_badge(run.status),
        error = esc(run.error.as_deref().unwrap_or("")),
        full = esc(run.result.as_deref().unwrap_or("")),
        result = esc(&clipped(run.result.as_deref().unwrap_or(""), RESULT_SHOWN)),
    )
}

/// `GET /runs`: recent runs, filtered, with new ones appearing live.
pub(crate) async fn runs_page(
    State(shared): State<Arc<Shared>>,
    OriginalUri(original): OriginalUri,
    uri: Uri,
    Query(params): Query<RunsParams>,
) -> Response {
    let base = base(&original, &uri);
    let result = async {
        let query = params.query()?;
        clamp_limit(params.limit)?;
        let runs = shared.source.runs(&query).await?;
        let field = |name: &str, value: Option<&str>, label: &str| {
            format!(
                "<input name=\"{name}\" value=\"{}\" placeholder=\"{label}\" aria-label=\"{label}\">",
                esc(value.unwrap_or(""))
            )
        };
        let mut body = format!(
            "<h1>Runs <span class=\"live\" id=\"live-state\">connecting…</span></h1>\
             <form method=\"get\" action=\"{b}/runs\" class=\"search\">{}{}{}<button type=\"submit\">Filter</button></form>",
            field("job", params.job.as_deref(), "job"),
            field("status", params.status.as_deref(), "status"),
            field("node", params.node.as_deref(), "node"),
            b = esc(&base),
        );
        let back = original
            .path_and_query()
            .map_or_else(|| format!("{base}/runs"), |p| p.as_str().to_owned());
        let cancel = (!shared.read_only).then_some(back.as_str());
        body.push_str(&runs_table(&base, &runs, "runs", cancel));
        if runs.len() == query.limit {
            if let Some(last) = runs.last() {
                let mut next = format!("?before={}&limit={}", last.run_id, query.limit);
                for (key, value) in [("job", &params.job), ("status", &params.status), ("node", &params.node)] {
                    if let Some(value) = value.as_deref().filter(|v| !v.is_empty()) {
                        let _ = write!(next, "&{key}={}", url(value));
                    }
                }
                let _ = write!(body, "<nav class=\"pager\"><a href=\"{}/runs{}\" rel=\"next\">Older →</a></nav>", esc(&base), esc(&next));
            }
        }
        let _ = write!(
            body,
            "<script src=\"{}/assets/live.js\" defer></script>",
            esc(&base)
        );
        Ok::<_, ApiError>(body)
    }
    .await;
    match result {
        Ok(body) => Page {
            shared: &shared,
            base,
            title: "Runs".into(),
            active: "runs",
            body,
        }
        .render(),
        Err(error) => error_page(&shared, base, error),
    }
}

/// `GET /nodes`.
pub(crate) async fn nodes_page(
    State(shared): State<Arc<Shared>>,
    OriginalUri(original): OriginalUri,
    uri: Uri,
) -> Response {
    let base = base(&original, &uri);
    let now = shared.source.now();
    let nodes = match shared.source.nodes().await {
        Ok(nodes) => nodes,
        Err(error) => return error_page(&shared, base, error),
    };
    let mut body = String::from("<h1>Nodes</h1>");
    match (shared.source.node(), shared.source.running_here()) {
        (Some(node), Some(running)) => {
            let _ = write!(
                body,
                "<p>This dashboard runs in node <strong>{}</strong>, executing {running} run(s) now.</p>",
                esc(node)
            );
        }
        _ => body.push_str("<p>This dashboard reads the store alone: it runs no job.</p>"),
    }
    body.push_str(
        "<table class=\"nodes\"><thead><tr><th>Node</th><th>Last heartbeat</th><th>Lease until</th>\
         <th>State</th><th>Runs held</th></tr></thead><tbody>",
    );
    for node in &nodes {
        let view = api::node_view(node, now);
        let state = if view.alive { "alive" } else { "gone" };
        let _ = write!(
            body,
            "<tr><td>{}</td><td><time>{}</time></td><td><time>{}</time></td>\
             <td><span class=\"state {state}\">{state}</span></td><td>{}</td></tr>",
            esc(&view.id),
            esc(&view.last_seen),
            esc(&view.lease_until),
            view.running
        );
    }
    if nodes.is_empty() {
        body.push_str(
            "<tr><td colspan=\"5\" class=\"muted\">No node heartbeats into this store \
             (a single-process store).</td></tr>",
        );
    }
    body.push_str("</tbody></table>");
    Page {
        shared: &shared,
        base,
        title: "Nodes".into(),
        active: "nodes",
        body,
    }
    .render()
}

/// The form of a button.
#[derive(Debug, Deserialize)]
pub(crate) struct ActionForm {
    /// Where to go back to (a path of this dashboard).
    back: Option<String>,
    /// `reschedule`: the trigger's JSON.
    trigger: Option<String>,
}

/// `POST /runs/{run_id}/cancel` from a run's Cancel button: asks the run to stop, then
/// back to the page. A run that had already ended is not an error here: the page shows
/// how it ended.
pub(crate) async fn cancel_run(
    State(shared): State<Arc<Shared>>,
    OriginalUri(original): OriginalUri,
    uri: Uri,
    Path(run_id): Path<String>,
    axum::Form(form): axum::Form<ActionForm>,
) -> Response {
    let base = base(&original, &uri);
    let result = match run_id.parse::<i64>() {
        Ok(run_id) => shared.source.cancel_run(run_id).await.map(drop),
        Err(_) => Err(ApiError::bad_request(format!(
            "{run_id:?} is not a run id (a whole number)"
        ))),
    };
    match result {
        Ok(()) => {
            let back = form
                .back
                .filter(|b| ours(&base, b))
                .unwrap_or_else(|| format!("{base}/runs"));
            Redirect::to(&back).into_response()
        }
        Err(error) => error_page(&shared, base, error),
    }
}

/// `POST /jobs/{id}/{action}` from a page's button: acts, then back to the page.
pub(crate) async fn job_action(
    State(shared): State<Arc<Shared>>,
    OriginalUri(original): OriginalUri,
    uri: Uri,
    Path((id, action)): Path<(String, String)>,
    axum::Form(form): axum::Form<ActionForm>,
) -> Response {
    let base = base(&original, &uri);
    let result = match action.as_str() {
        "pause" => shared.source.pause(&id).await,
        "resume" => shared.source.resume(&id).await,
        "run" => shared.source.run_now(&id).await,
        "remove" => shared.source.remove(&id).await,
        "reschedule" => {
            match api::parse_trigger(form.trigger.as_deref().unwrap_or("").as_bytes()) {
                Ok(trigger) => shared.source.reschedule(&id, trigger).await,
                Err(error) => Err(error),
            }
        }
        other => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no action {other:?}"),
        )),
    };
    match result {
        Ok(_) => {
            // Only back to a page of this dashboard (never an address given by a form),
            // and not to the page of a job just removed.
            let removed_page = |b: &str| action == "remove" && b.contains("/jobs/");
            let back = form
                .back
                .filter(|b| ours(&base, b) && !removed_page(b))
                .unwrap_or_else(|| home(&base));
            Redirect::to(&back).into_response()
        }
        Err(error) => error_page(&shared, base, error),
    }
}
