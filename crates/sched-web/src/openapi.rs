//! The OpenAPI document of the JSON API, served at `api/openapi.json`.

use utoipa::OpenApi;

use crate::api;
use crate::error::ErrorBody;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "sched admin API",
        description = "Jobs, runs and nodes of a sched scheduler or store, and the actions on jobs. \
                       State-changing requests must come from the same origin (the dashboard) or from a \
                       client that sends no Origin header; a read-only router answers them with 403."
    ),
    paths(
        api::list_jobs,
        api::get_job,
        api::list_runs,
        api::list_nodes,
        api::pause_job,
        api::resume_job,
        api::run_job,
        api::remove_job,
        api::reschedule_job,
        api::cancel_run,
    ),
    components(schemas(
        api::JobList,
        api::JobSummary,
        api::JobDetail,
        api::FireTimeView,
        api::RunView,
        api::RunList,
        api::NodeView,
        api::NodeList,
        api::ActionResult,
        api::CancelResult,
        ErrorBody,
    ))
)]
pub(crate) struct ApiDoc;

/// The document, as JSON.
pub(crate) fn document() -> String {
    ApiDoc::openapi()
        .to_pretty_json()
        .unwrap_or_else(|_| "{}".to_owned())
}
