//! What every handler can reach, apart from the router that uses it, so
//! the handlers below `http` never import the module that routes to them.

use std::sync::Arc;

use secrecy::SecretString;

use crate::Paige;
use crate::auth::ratelimit::{LimitPolicy, LoginLimiter};
use crate::auth::setup::{FirstRun, SetupCode};
use crate::runtime::ExecutionSlots;
use crate::runtime::sandbox_pool::PreparedIdle;

/// Knobs of the server that tests and deployments may turn.
#[derive(Debug, Clone, Default)]
pub struct ServeOptions {
    pub login_limits: LimitPolicy,
    /// Mark cookies `Secure` (when served over TLS, directly or by a proxy).
    pub secure_cookies: bool,
    /// The first run's one-time code, when the server starts with no user
    /// (`paige serve` prints it); `None` keeps `/setup` closed.
    pub setup_code: Option<SetupCode>,
    /// The bearer token `/metrics` on the main listener answers; `None`
    /// leaves that route out.
    pub metrics_token: Option<Arc<SecretString>>,
    /// How long a sandbox prepared for a layout's next execution waits
    /// for it (`runtime/sandbox_pool.rs`); zero prepares none.
    pub prepared_idle: PreparedIdle,
}

/// What every handler can reach.
#[derive(Debug, Clone)]
pub struct AppState {
    pub paige: Paige,
    pub limiter: Arc<LoginLimiter>,
    /// How many bot executions run at once (global and per project).
    pub slots: ExecutionSlots,
    pub options: ServeOptions,
    /// The setup code while the first owner is not made yet.
    pub first_run: Arc<FirstRun>,
}
