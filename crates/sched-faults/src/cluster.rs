//! The Postgres cluster the suite takes down and brings back, through Debian's
//! `pg_ctlcluster` (the suite runs as root beside a local cluster).
//!
//! The cluster is checked to be the one serving the URL before anything is stopped,
//! and is running again when the suite ends, however it ends: after each outage, in the
//! driver's clean-up, and from `Drop` if the driver unwinds mid-outage.

use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::{Connection, PgConnection};

use crate::{Error, Result};

/// The pause between two probes of a cluster coming back.
const PROBE_EVERY: Duration = Duration::from_millis(20);

/// One local cluster, `<version>/<name>`.
#[derive(Debug)]
pub(crate) struct Cluster {
    version: String,
    name: String,
    url: String,
    /// Stopped by the suite and not known to be running again.
    down: AtomicBool,
}

/// One line of `pg_lsclusters -h`.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Listed {
    version: String,
    name: String,
    data: String,
}

impl Cluster {
    /// The cluster serving `url`: `wanted` (`15/main`) if given, which must be the one
    /// whose data directory the server reports; otherwise the one that does.
    pub(crate) async fn resolve(wanted: Option<&str>, url: &str) -> Result<Self> {
        let mut conn = PgConnection::connect(url).await?;
        let data: String = sqlx::query_scalar("SHOW data_directory")
            .fetch_one(&mut conn)
            .await?;
        conn.close().await?;
        let output = tokio::process::Command::new("pg_lsclusters")
            .arg("-h")
            .output()
            .await
            .map_err(|e| command_error("pg_lsclusters -h", &e.to_string()))?;
        let listed = parse_lsclusters(&String::from_utf8_lossy(&output.stdout));
        let serving = listed.iter().find(|c| c.data == data);
        let cluster = match (wanted, serving) {
            (Some(wanted), Some(c)) if format!("{}/{}", c.version, c.name) == wanted => c,
            (Some(wanted), serving) => {
                return Err(Error::Invalid(format!(
                    "cluster {wanted} does not serve {url} (its server runs from {data}{})",
                    serving.map_or_else(String::new, |c| format!(
                        ", cluster {}/{}",
                        c.version, c.name
                    ))
                )))
            }
            (None, Some(c)) => c,
            (None, None) => {
                return Err(Error::Invalid(format!(
                    "no local cluster (pg_lsclusters) serves {url} (data directory {data})"
                )))
            }
        };
        Ok(Self {
            version: cluster.version.clone(),
            name: cluster.name.clone(),
            url: url.to_owned(),
            down: AtomicBool::new(false),
        })
    }

    /// `15/main`.
    pub(crate) fn label(&self) -> String {
        format!("{}/{}", self.version, self.name)
    }

    /// Stops the cluster (fast mode: sessions are terminated, as in a crash of the
    /// server or a failover); returns once it is down.
    pub(crate) async fn stop(&self) -> Result<()> {
        self.down.store(true, Ordering::SeqCst);
        self.ctl("stop").await
    }

    /// Starts the cluster and returns when it accepted a connection and answered a
    /// query (probed every 20 ms while `pg_ctlcluster start` waits on its own).
    pub(crate) async fn start(&self) -> Result<DateTime<Utc>> {
        let mut child = self.command("start").spawn().map_err(|e| {
            command_error(
                &format!("pg_ctlcluster {} start", self.label()),
                &e.to_string(),
            )
        })?;
        let accepted = tokio::time::timeout(Duration::from_secs(60), self.probe_until_up()).await;
        let status = child.wait().await?;
        let Ok(accepted) = accepted else {
            return Err(command_error(
                &format!("pg_ctlcluster {} start", self.label()),
                &format!("{status}; the server did not accept connections within 60 s"),
            ));
        };
        self.down.store(false, Ordering::SeqCst);
        Ok(accepted)
    }

    /// Running again, whatever state an interrupted outage left it in.
    pub(crate) async fn ensure_running(&self) -> Result<()> {
        if self.accepts().await {
            self.down.store(false, Ordering::SeqCst);
            return Ok(());
        }
        self.start().await.map(drop)
    }

    async fn probe_until_up(&self) -> DateTime<Utc> {
        loop {
            if self.accepts().await {
                return Utc::now();
            }
            tokio::time::sleep(PROBE_EVERY).await;
        }
    }

    /// A new connection is accepted and answers `SELECT 1`.
    async fn accepts(&self) -> bool {
        let attempt = async {
            let mut conn = PgConnection::connect(&self.url).await.ok()?;
            let one: i32 = sqlx::query_scalar("SELECT 1")
                .fetch_one(&mut conn)
                .await
                .ok()?;
            let _ = conn.close().await;
            Some(one)
        };
        matches!(
            tokio::time::timeout(Duration::from_secs(1), attempt).await,
            Ok(Some(1))
        )
    }

    fn command(&self, action: &str) -> tokio::process::Command {
        let mut command = tokio::process::Command::new("pg_ctlcluster");
        command
            .args([
                "--skip-systemctl-redirect",
                &self.version,
                &self.name,
                action,
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(false);
        command
    }

    async fn ctl(&self, action: &str) -> Result<()> {
        let what = format!("pg_ctlcluster {} {action}", self.label());
        let output = self
            .command(action)
            .output()
            .await
            .map_err(|e| command_error(&what, &e.to_string()))?;
        if output.status.success() {
            Ok(())
        } else {
            Err(command_error(
                &what,
                &format!(
                    "{}: {}",
                    output.status,
                    String::from_utf8_lossy(&output.stderr).trim()
                ),
            ))
        }
    }
}

impl Drop for Cluster {
    /// The last resort (the driver unwound during an outage): start it, blocking.
    fn drop(&mut self) {
        if self.down.load(Ordering::SeqCst) {
            eprintln!(
                "sched-faults: starting cluster {} again before exiting",
                self.label()
            );
            let _ = std::process::Command::new("pg_ctlcluster")
                .args([
                    "--skip-systemctl-redirect",
                    &self.version,
                    &self.name,
                    "start",
                ])
                .status();
        }
    }
}

fn command_error(command: &str, detail: &str) -> Error {
    Error::Command {
        command: command.to_owned(),
        detail: detail.to_owned(),
    }
}

/// `Ver Cluster Port Status Owner Data-directory Log-file` lines, without the header.
fn parse_lsclusters(text: &str) -> Vec<Listed> {
    text.lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            match fields.as_slice() {
                [version, name, _port, _status, _owner, data, ..] => Some(Listed {
                    version: (*version).to_owned(),
                    name: (*name).to_owned(),
                    data: (*data).to_owned(),
                }),
                _ => None,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lsclusters_lines_name_version_cluster_and_data_directory() {
        let text = "15  faults  5433 online postgres /var/lib/postgresql/15/faults /var/log/postgresql/postgresql-15-faults.log\n\
                    15  main    5432 down   postgres /var/lib/postgresql/15/main   /var/log/postgresql/postgresql-15-main.log\n";
        let listed = parse_lsclusters(text);
        assert_eq!(listed.len(), 2);
        assert_eq!(
            listed[0],
            Listed {
                version: "15".into(),
                name: "faults".into(),
                data: "/var/lib/postgresql/15/faults".into()
            }
        );
        assert_eq!(listed[1].name, "main");
        assert!(parse_lsclusters("garbage\n").is_empty());
    }
}
