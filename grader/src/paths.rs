//! Where things are: the workspace root, its target directory, and the
//! grader's own output under `target/syslab/`.

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};

pub struct Workspace {
    pub root: PathBuf,
    pub target: PathBuf,
    /// This run's log directory: `target/syslab/logs/<run>/` (see `run_logs`),
    /// or the one `batch` gives each submission.
    pub logs: PathBuf,
}

impl Workspace {
    /// The workspace this grader was built in: the parent of its package.
    pub fn locate() -> Result<Workspace> {
        let package = Path::new(env!("CARGO_MANIFEST_DIR"));
        let Some(root) = package.parent() else {
            bail!(
                "the grader's package directory {} has no parent",
                package.display()
            );
        };
        if !root.join("Cargo.toml").is_file() {
            bail!(
                "the grader was built in {}, but {} is gone; run it from the checkout with \
                 `cargo grader`",
                package.display(),
                root.join("Cargo.toml").display()
            );
        }
        // Cargo resolves a relative CARGO_TARGET_DIR against the directory it runs in.
        let target = match std::env::var_os("CARGO_TARGET_DIR") {
            Some(dir) if !dir.is_empty() => {
                let dir = PathBuf::from(dir);
                if dir.is_absolute() {
                    dir
                } else {
                    std::env::current_dir()?.join(dir)
                }
            }
            _ => root.join("target"),
        };
        Ok(Workspace {
            root: root.to_path_buf(),
            logs: run_logs(&target.join("syslab").join("logs")),
            target,
        })
    }

    /// This run's log directory: one serial and one QEMU log per boot.
    pub fn logs_dir(&self) -> PathBuf {
        self.logs.clone()
    }

    /// Creates `logs_dir()` (and, for a run directory, points `latest` at it).
    pub fn create_logs(&self) -> Result<PathBuf> {
        open_run_logs(&self.logs)?;
        Ok(self.logs.clone())
    }

    /// `logs_dir()/name`, with the directory made and any old file removed.
    pub fn fresh_log(&self, name: &str) -> Result<PathBuf> {
        let logs = self.create_logs()?;
        let path = logs.join(name);
        fresh_file(&path)?;
        Ok(path)
    }

    /// `target/syslab/gdb`: the scripts `cargo grader gdb` writes.
    pub fn gdb_dir(&self) -> PathBuf {
        self.target.join("syslab").join("gdb")
    }
}

/// How many runs' log directories are kept; older ones are removed.
const KEPT_RUNS: usize = 20;
/// The name of the link to the newest run's logs.
pub const LATEST: &str = "latest";

/// `logs/<UTC date and time>-<process id>`: a directory per run, so that two
/// runs in one checkout never write to the same log. `logs/latest` links to
/// the newest, and only the newest `KEPT_RUNS` are kept. Nothing is created
/// until a boot writes its log.
pub fn run_logs(logs: &Path) -> PathBuf {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default();
    logs.join(format!("{}-{}", utc_stamp(secs), std::process::id()))
}

/// `YYYYMMDD-HHMMSS` in UTC, for `secs` since 1970 (the days-to-civil
/// conversion of Howard Hinnant's date algorithms).
pub fn utc_stamp(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let time = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}{month:02}{day:02}-{:02}{:02}{:02}",
        time / 3600,
        time / 60 % 60,
        time % 60
    )
}

/// Creates a run's log directory, points `latest` at it and removes the
/// oldest runs beyond `KEPT_RUNS` (best effort: logs are never worth an error).
fn open_run_logs(dir: &Path) -> Result<()> {
    let fresh = !dir.is_dir();
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create the log directory {}", dir.display()))?;
    let (Some(parent), Some(name)) = (dir.parent(), dir.file_name()) else {
        return Ok(());
    };
    if !fresh || !is_run_name(&name.to_string_lossy()) {
        return Ok(());
    }
    // Only the grader's own run directories are pruned: `YYYYMMDD-HHMMSS-pid`.
    let mut runs: Vec<String> = std::fs::read_dir(parent)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| is_run_name(n))
        .collect();
    runs.sort();
    let excess = runs.len().saturating_sub(KEPT_RUNS);
    for old in &runs[..excess] {
        let _ = std::fs::remove_dir_all(parent.join(old));
    }
    #[cfg(unix)]
    {
        let link = parent.join(LATEST);
        let _ = std::fs::remove_file(&link);
        let _ = std::os::unix::fs::symlink(name, &link);
    }
    Ok(())
}

fn is_run_name(name: &str) -> bool {
    let b = name.as_bytes();
    b.len() > 16
        && b[..8].iter().all(u8::is_ascii_digit)
        && b[8] == b'-'
        && b[9..15].iter().all(u8::is_ascii_digit)
        && b[15] == b'-'
        && b[16..].iter().all(u8::is_ascii_digit)
}

/// `path` relative to the current directory when it is below it (as a
/// student would type it), else as it is.
pub fn show(path: &Path) -> PathBuf {
    std::env::current_dir()
        .ok()
        .and_then(|cwd| path.strip_prefix(cwd).ok().map(Path::to_path_buf))
        .unwrap_or_else(|| path.to_path_buf())
}

/// Removes an old log so that a boot starts with an empty one.
pub fn fresh_file(path: &Path) -> Result<()> {
    match std::fs::remove_file(path) {
        Err(err) if err.kind() != std::io::ErrorKind::NotFound => {
            Err(err).with_context(|| format!("cannot remove the old log {}", path.display()))
        }
        _ => Ok(()),
    }
}

/// A log's text, lossily decoded; empty if it cannot be read.
pub fn read_lossy(path: &Path) -> String {
    std::fs::read(path)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_are_utc_dates_and_times() {
        assert_eq!(utc_stamp(0), "19700101-000000");
        assert_eq!(utc_stamp(951_782_400), "20000229-000000");
        assert_eq!(utc_stamp(1_798_761_599), "20261231-235959");
        assert!(is_run_name(&format!("{}-42", utc_stamp(1_798_761_599))));
        for other in [
            "latest",
            "20261231-235959",
            "20261231-235959-",
            "notes-000000-1",
        ] {
            assert!(!is_run_name(other), "{other}");
        }
    }

    #[test]
    fn runs_get_their_own_directories_and_old_ones_go() {
        let logs = std::env::temp_dir().join(format!("syslab-logs-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&logs);
        std::fs::create_dir_all(logs.join("keep-me")).unwrap();
        for n in 0..KEPT_RUNS + 3 {
            let run = logs.join(format!("20260101-0000{:02}-{n}", n));
            open_run_logs(&run).unwrap();
            std::fs::write(run.join("x.log"), "x").unwrap();
        }
        let runs = std::fs::read_dir(&logs)
            .unwrap()
            .flatten()
            .filter(|e| is_run_name(&e.file_name().to_string_lossy()))
            .count();
        assert_eq!(runs, KEPT_RUNS);
        assert!(
            logs.join("keep-me").is_dir(),
            "only run directories are pruned"
        );
        assert!(!logs.join("20260101-000000-0").exists(), "the oldest went");
        #[cfg(unix)]
        assert!(logs.join(LATEST).join("x.log").is_file());
        assert_eq!(
            std::fs::read_link(logs.join(LATEST)).unwrap(),
            Path::new(&format!(
                "20260101-0000{:02}-{}",
                KEPT_RUNS + 2,
                KEPT_RUNS + 2
            ))
        );
        std::fs::remove_dir_all(logs).unwrap();
    }
}
