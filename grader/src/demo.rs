//! `cargo grader demo`: the instructor's demo. The article's WinDbg
//! experiments in its order, live, on every CPU: the Windows 2000 session
//! (`--os 2000`), then the Windows XP one, each a `kd>` session fed from
//! the book's own scripts (book/transcripts/kd-2000.kd, kd-xp.kd), so the
//! demo shows what the book's transcripts show.

use anyhow::{Context as _, Result};

use crate::cli::Target;
use crate::exit;
use crate::kd::{self, Kd, Os, script};
use crate::paths::Workspace;

/// The two sessions, in the article's order.
pub const SCRIPTS: [(Os, &str, &str); 2] = [
    (
        Os::Windows2000,
        "book/transcripts/kd-2000.kd",
        "Windows 2000",
    ),
    (Os::WindowsXp, "book/transcripts/kd-xp.kd", "Windows XP"),
];

pub fn run(target: Target) -> Result<u8> {
    let ws = Workspace::locate()?;
    let (images, symbolizer) = kd::prepare(&ws, &target)?;
    let mut status = exit::FULL_MARKS;
    for (os, path, name) in SCRIPTS {
        let file = ws.root.join(path);
        let text = std::fs::read_to_string(&file)
            .with_context(|| format!("cannot read the demo's script {}", file.display()))?;
        println!(
            "\n==== The {name} experiment: cargo grader kd --os {} --script {path} ====\n",
            os.as_str()
        );
        let session = Kd {
            target: target.clone(),
            os,
            script: Some(file),
            timeout_secs: 300,
            verbose: false,
        };
        let outcome = kd::run_script(
            &ws,
            &session,
            &images,
            symbolizer.as_ref(),
            script::parse(&text),
            &|comment| !script::is_anchor(comment),
        )?;
        status = status.max(outcome);
    }
    Ok(status)
}
