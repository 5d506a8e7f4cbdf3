//! What every page shares: the layout (title, navigation with the project
//! switcher, sign-in state), rendering, HTML error pages and dates.

use askama::Template;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};

use crate::error::Error;
use crate::http::AppState;
use crate::model::{Millis, ProjectRecord, Role, UserRecord, format_utc, now_millis};

/// The dashboard's sections of a project, for the navigation bar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    Secrets,
    Executions,
    Members,
    Audit,
}

impl Section {
    pub fn path(self) -> &'static str {
        match self {
            Self::Secrets => "settings/secrets",
            Self::Executions => "executions",
            Self::Members => "members",
            Self::Audit => "audit",
        }
    }
}

/// The current project in the navigation bar.
#[derive(Debug, Clone)]
pub struct ProjectNav {
    pub slug: String,
    pub role: Role,
    pub section: Section,
}

impl ProjectNav {
    /// Whether the current section is `name` (`secrets`, `executions`, …).
    pub fn is(&self, name: &str) -> bool {
        self.section.path().ends_with(name)
    }

    /// Members and audit are for owners and admins (SPEC §3).
    pub fn can_manage(&self) -> bool {
        self.role >= Role::Admin
    }
}

/// The frame of every page.
#[derive(Debug, Clone)]
pub struct Layout {
    pub title: String,
    /// The signed-in user; empty on the sign-in page.
    pub email: String,
    /// The CSRF token of the session, for the sign-out form.
    pub csrf: String,
    /// Slug and role of each project of the user, for the switcher.
    pub projects: Vec<(String, Role)>,
    pub project: Option<ProjectNav>,
}

impl Layout {
    /// The layout for a signed-in user with their session's CSRF token
    /// (`WebUser::layout` gives both); `project` is the current one.
    pub async fn new(
        state: &AppState,
        user: &UserRecord,
        csrf: String,
        title: impl Into<String>,
        project: Option<(&ProjectRecord, Role, Section)>,
    ) -> Result<Self, PageError> {
        let projects = state
            .paige
            .projects_for(user)
            .await?
            .into_iter()
            .map(|(p, role)| (p.slug, role))
            .collect();
        Ok(Self {
            title: title.into(),
            email: user.email.clone(),
            csrf,
            projects,
            project: project.map(|(p, role, section)| ProjectNav {
                slug: p.slug.clone(),
                role,
                section,
            }),
        })
    }

    /// The layout of a page seen before signing in.
    /// The layout of an error page for a signed-in user at `path`: their
    /// header and navigation, with the project of the path as the current
    /// one when they are a member of it (a page they may not see, such as
    /// Members for a viewer, still keeps its project's navigation).
    pub async fn for_error(
        state: &AppState,
        user: &UserRecord,
        csrf: String,
        title: impl Into<String>,
        path: &str,
    ) -> Result<Self, PageError> {
        let mut segments = path.trim_start_matches('/').split('/');
        let (slug, section) = match (segments.next(), segments.next(), segments.next()) {
            (Some("projects"), Some(slug), section) => (Some(slug), section),
            _ => (None, None),
        };
        let section = match section {
            Some("executions") => Section::Executions,
            Some("members") => Section::Members,
            Some("audit") => Section::Audit,
            _ => Section::Secrets,
        };
        let mine = state.paige.projects_for(user).await?;
        let project = mine
            .iter()
            .find(|(p, _)| Some(p.slug.as_str()) == slug)
            .map(|(p, role)| ProjectNav {
                slug: p.slug.clone(),
                role: *role,
                section,
            });
        Ok(Self {
            title: title.into(),
            email: user.email.clone(),
            csrf,
            projects: mine.into_iter().map(|(p, role)| (p.slug, role)).collect(),
            project,
        })
    }

    pub fn anonymous(title: impl Into<String>) -> Self {
        Self {
            title: title.into(),
            email: String::new(),
            csrf: String::new(),
            projects: Vec::new(),
            project: None,
        }
    }

    pub fn is_current(&self, slug: &str) -> bool {
        self.project.as_ref().is_some_and(|p| p.slug == slug)
    }

    /// The section the project switcher should open.
    pub fn section_path(&self) -> &'static str {
        self.project.as_ref().map_or(Section::Secrets, |p| p.section).path()
    }
}

/// Renders a page with `status`.
pub fn render(status: StatusCode, page: &impl Template) -> Response {
    match page.render() {
        Ok(body) => (status, Html(body)).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "a page failed to render");
            (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response()
        }
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    page: Layout,
    message: &'a str,
}

/// An error answered with an HTML page. Built from the library's errors,
/// which never carry a value.
///
/// It is first rendered with the anonymous layout (it does not know who
/// asked) and a copy rides on the response; the dashboard's
/// `signed_in_errors` middleware re-renders it with the signed-in user's
/// header and navigation when there is a session.
#[derive(Debug, Clone)]
pub struct PageError {
    pub status: StatusCode,
    pub title: &'static str,
    pub message: String,
}

impl PageError {
    pub fn new(status: StatusCode, title: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            title,
            message: message.into(),
        }
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "Not allowed", message)
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "Bad request", message)
    }
}

impl From<Error> for PageError {
    fn from(error: Error) -> Self {
        let api = crate::http::ApiError::from(error);
        let title = match api.status {
            StatusCode::NOT_FOUND => "Not found",
            StatusCode::FORBIDDEN => "Not allowed",
            StatusCode::CONFLICT => "Conflict",
            StatusCode::TOO_MANY_REQUESTS => "Too many attempts",
            s if s.is_server_error() => "Something went wrong",
            _ => "Bad request",
        };
        let message = match api.status {
            StatusCode::FORBIDDEN => "Your role in this project does not allow this.".to_owned(),
            _ => api.message,
        };
        Self {
            status: api.status,
            title,
            message,
        }
    }
}

impl PageError {
    /// The error page in `layout`.
    pub fn render_in(&self, layout: Layout) -> Response {
        let page = ErrorPage {
            page: layout,
            message: &self.message,
        };
        render(self.status, &page)
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let mut response = self.render_in(Layout::anonymous(self.title));
        response.extensions_mut().insert(self);
        response
    }
}

/// A date as shown: relative ("3 minutes ago") and the exact UTC time.
#[derive(Debug, Clone)]
pub struct When {
    pub ago: String,
    pub utc: String,
}

impl When {
    pub fn new(at: Millis, now: Millis) -> Self {
        let exact = format_utc(at);
        let utc = exact
            .get(..19)
            .map_or_else(|| exact.clone(), |s| format!("{} UTC", s.replace('T', " ")));
        Self {
            ago: ago(now.saturating_sub(at)),
            utc,
        }
    }

    pub fn now(at: Millis) -> Self {
        Self::new(at, now_millis())
    }
}

fn ago(ms: i64) -> String {
    let secs = ms / 1000;
    let plural = |n: i64, unit: &str| {
        if n == 1 {
            format!("1 {unit} ago")
        } else {
            format!("{n} {unit}s ago")
        }
    };
    match secs {
        s if s < 45 => "just now".to_owned(),
        s if s < 3600 => plural((s / 60).max(1), "minute"),
        s if s < 86_400 => plural(s / 3600, "hour"),
        s if s < 86_400 * 60 => plural(s / 86_400, "day"),
        s => plural(s / (86_400 * 30), "month"),
    }
}

/// A duration in milliseconds as shown.
pub fn duration(ms: Option<i64>) -> String {
    match ms {
        None => "—".to_owned(),
        Some(ms) if ms < 1000 => format!("{ms} ms"),
        Some(ms) => format!("{:.1} s", ms as f64 / 1000.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_dates() {
        assert_eq!(ago(3_000), "just now");
        assert_eq!(ago(61_000), "1 minute ago");
        assert_eq!(ago(3 * 3_600_000), "3 hours ago");
        assert_eq!(ago(2 * 86_400_000), "2 days ago");
        let when = When::new(0, 0);
        assert_eq!(when.utc, "1970-01-01 00:00:00 UTC");
    }
}
