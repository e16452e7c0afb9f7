//! One student's submission: read from a directory, a `.tar.gz` or a `.zip`
//! (a checkout of the course repository, just its `labs/`, or a handin
//! tarball), then sorted against the pristine course tree into the
//! student's own files, flags for everything else they touched, or a
//! refusal.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::path::Path;

/// Files by path relative to a root, `/`-separated.
pub type Files = BTreeMap<String, Vec<u8>>;

/// The handin manifest at the root of a `cargo grader handin` tarball.
pub const HANDIN_MANIFEST: &str = "syslab-handin.json";

/// At most this many files, and bytes in all, per submission: an archive
/// that unpacks to more is refused rather than read.
const MAX_FILES: usize = 5_000;
const MAX_BYTES: u64 = 64 << 20;

/// Directories and files never read: build output, VCS data, OS litter.
const JUNK: [&str; 6] = [
    "target",
    ".git",
    "node_modules",
    "__MACOSX",
    ".DS_Store",
    ".syslab",
];

/// What a submission holds once read, before it is judged.
#[derive(Debug, Default)]
pub struct Contents {
    pub files: Files,
    /// Entries skipped while reading (symlinks, unsafe paths).
    pub flags: Vec<String>,
}

/// Reads a directory, `.tar.gz`/`.tgz` or `.zip` into memory. The error is
/// the reason to give the student.
pub fn read(path: &Path) -> Result<Contents, String> {
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    if path.is_dir() {
        let mut read = Contents::default();
        read_dir(path, "", &mut read)?;
        Ok(read)
    } else if name.ends_with(".tar.gz") || name.ends_with(".tgz") {
        read_tar_gz(path)
    } else if name.ends_with(".zip") {
        read_zip(path)
    } else {
        Err(format!(
            "{name} is not a directory, a .tar.gz or a .zip; a submission is one of those"
        ))
    }
}

/// Whether a path component is never read.
fn is_junk(component: &str) -> bool {
    JUNK.contains(&component)
}

/// An archive member's path, `/`-separated and relative; `None` for one
/// that is absolute or climbs out with `..`.
fn clean_path(raw: &str) -> Option<String> {
    let raw = raw.replace('\\', "/");
    if raw.starts_with('/') {
        return None;
    }
    let mut parts = Vec::new();
    for part in raw.split('/') {
        match part {
            "" | "." => {}
            ".." => return None,
            p if p.contains(':') => return None,
            p => parts.push(p),
        }
    }
    (!parts.is_empty()).then(|| parts.join("/"))
}

impl Contents {
    /// Adds one file, keeping to the limits.
    fn add(&mut self, path: String, bytes: Vec<u8>) -> Result<(), String> {
        if self.files.len() >= MAX_FILES {
            return Err(format!(
                "the submission has more than {MAX_FILES} files; submit labs/ (or use `cargo \
                 grader handin`)"
            ));
        }
        let total: u64 = self.files.values().map(|b| b.len() as u64).sum();
        if total + bytes.len() as u64 > MAX_BYTES {
            return Err(format!(
                "the submission is larger than {} MiB; submit labs/ (or use `cargo grader handin`)",
                MAX_BYTES >> 20
            ));
        }
        if self.files.insert(path.clone(), bytes).is_some() {
            // An archive may hold a name twice; unpacking keeps the last.
            self.flags.push(format!(
                "duplicate {path}: the last copy in the archive is graded"
            ));
        }
        Ok(())
    }

    /// Reads one archive member of `size` bytes at most into `path`.
    fn add_member(&mut self, raw: &str, size: u64, body: impl Read) -> Result<(), String> {
        let Some(path) = clean_path(raw) else {
            self.flags.push(format!("unsafe path {raw}: ignored"));
            return Ok(());
        };
        if path.split('/').any(is_junk) {
            return Ok(());
        }
        if size > MAX_BYTES {
            return Err(format!("{path} is larger than {} MiB", MAX_BYTES >> 20));
        }
        let mut bytes = Vec::new();
        body.take(MAX_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| format!("cannot read {path} from the archive: {e}"))?;
        self.add(path, bytes)
    }
}

fn read_dir(dir: &Path, prefix: &str, read: &mut Contents) -> Result<(), String> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .map_err(|e| format!("cannot read {}: {e}", dir.display()))?
        .flatten()
        .collect();
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let name = entry.file_name().to_string_lossy().into_owned();
        if is_junk(&name) {
            continue;
        }
        let path = format!("{prefix}{name}");
        let kind = entry
            .file_type()
            .map_err(|e| format!("cannot read {}: {e}", entry.path().display()))?;
        if kind.is_symlink() {
            read.flags.push(format!("symlink {path}: ignored"));
        } else if kind.is_dir() {
            read_dir(&entry.path(), &format!("{path}/"), read)?;
        } else if kind.is_file() {
            let bytes = std::fs::read(entry.path())
                .map_err(|e| format!("cannot read {}: {e}", entry.path().display()))?;
            read.add(path, bytes)?;
        }
    }
    Ok(())
}

fn read_tar_gz(path: &Path) -> Result<Contents, String> {
    let unreadable = |e: std::io::Error| {
        format!(
            "{} is not a readable .tar.gz ({e}); make it with `tar czf NAME.tar.gz labs` or \
             `cargo grader handin`",
            path.file_name().unwrap_or_default().to_string_lossy()
        )
    };
    let file = std::fs::File::open(path).map_err(unreadable)?;
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(file));
    let mut read = Contents::default();
    for entry in archive.entries().map_err(unreadable)? {
        let entry = entry.map_err(unreadable)?;
        let raw = entry
            .path()
            .map_err(unreadable)?
            .to_string_lossy()
            .into_owned();
        match entry.header().entry_type() {
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                let size = entry.header().size().map_err(unreadable)?;
                read.add_member(&raw, size, entry)?;
            }
            tar::EntryType::Symlink | tar::EntryType::Link => {
                read.flags.push(format!("link {raw}: ignored"));
            }
            _ => {}
        }
    }
    Ok(read)
}

fn read_zip(path: &Path) -> Result<Contents, String> {
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let unreadable =
        |e: &dyn std::fmt::Display| format!("{name} is not a readable .zip ({e}); {MAKE_ZIP}");
    let file = std::fs::File::open(path).map_err(|e| unreadable(&e))?;
    let mut buffer = vec![0; rawzip::RECOMMENDED_BUFFER_SIZE];
    let archive = rawzip::ZipArchive::from_file(file, &mut buffer).map_err(|e| unreadable(&e))?;
    let mut read = Contents::default();
    let mut entries = archive.entries(&mut buffer);
    while let Some(entry) = entries.next_entry().map_err(|e| unreadable(&e))? {
        let raw = String::from_utf8_lossy(entry.file_path().as_bytes()).into_owned();
        if entry.mode().is_symlink() {
            read.flags.push(format!("link {raw}: ignored"));
            continue;
        }
        if entry.is_dir() {
            continue;
        }
        let member = archive
            .get_entry(entry.wayfinder())
            .map_err(|e| unreadable(&e))?;
        let size = entry.uncompressed_size_hint();
        // The verifying reader checks the size and CRC-32 the directory
        // claims once the member has been read to its end.
        match entry.compression_method() {
            rawzip::CompressionMethod::STORE => {
                read.add_member(&raw, size, member.verifying_reader(member.reader()))?
            }
            rawzip::CompressionMethod::DEFLATE => {
                let inflate = flate2::read::DeflateDecoder::new(member.reader());
                read.add_member(&raw, size, member.verifying_reader(inflate))?
            }
            method => {
                return Err(format!(
                    "{raw} in {name} is compressed with {method}, which the grader cannot \
                     read; {MAKE_ZIP}"
                ));
            }
        }
    }
    Ok(read)
}

/// How to make a .zip the grader reads (stored or deflated members).
const MAKE_ZIP: &str = "make it with `zip -r NAME.zip labs`";

/// A submission sorted against the pristine tree.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Staged {
    /// The student's files, by course-tree path: what goes over the
    /// pristine tree (and the skeleton's files the submission lacks).
    pub overlay: Files,
    /// One line per file the submission touched outside its own files.
    pub flags: Vec<String>,
    /// The handin manifest, when the submission is a handin tarball.
    pub manifest: Option<String>,
}

/// Whether a course-tree path is the student's: `labs/src/**/*.rs` and
/// the answers files `labs/answers-lab*.md`.
pub fn is_student_file(path: &str) -> bool {
    let in_src = path.starts_with("labs/src/") && path.ends_with(".rs");
    let answers = path
        .strip_prefix("labs/answers-lab")
        .is_some_and(|rest| rest.ends_with(".md") && !rest.contains('/'));
    in_src || answers
}

/// Where the course tree starts in a submission: `prefix` is stripped from
/// each path and `add` put in front (a bare `labs/` folder gets `labs/`).
#[derive(Debug, PartialEq, Eq)]
struct Root {
    prefix: String,
    add: &'static str,
}

/// The shallowest directory holding `labs/src/` (a checkout or a handin),
/// else the shallowest holding `src/*.rs` (a bare `labs/` folder).
fn find_root(files: &Files) -> Option<Root> {
    let dirs: BTreeSet<&str> = files
        .keys()
        .flat_map(|p| p.match_indices('/').map(move |(i, _)| &p[..=i]))
        .chain(std::iter::once(""))
        .collect();
    let depth = |d: &str| d.matches('/').count();
    let shallowest = |test: &dyn Fn(&str) -> bool| {
        dirs.iter()
            .copied()
            .filter(|d| depth(d) <= 3 && test(d))
            .min_by_key(|d| (depth(d), *d))
            .map(str::to_owned)
    };
    let has_files_under = |dir: String| files.keys().any(|p| p.starts_with(&dir));
    if let Some(prefix) = shallowest(&|d| has_files_under(format!("{d}labs/src/"))) {
        return Some(Root { prefix, add: "" });
    }
    let has_rs = |d: &str| {
        files.keys().any(|p| {
            p.strip_prefix(d)
                .and_then(|r| r.strip_prefix("src/"))
                .is_some_and(|r| r.ends_with(".rs"))
        })
    };
    shallowest(&|d| has_rs(d)).map(|prefix| Root {
        prefix,
        add: "labs/",
    })
}

/// Sorts a submission's files: the student's go into the overlay, a file
/// the pristine tree has but with other contents is flagged `modified`,
/// one it lacks `added`; a new build script or a new dependency refuses
/// the submission (the error is the reason). `pristine` is the whole
/// course checkout; the skeleton's student files fill what is missing.
pub fn stage(read: Contents, pristine: &Files) -> Result<Staged, String> {
    let Some(root) = find_root(&read.files) else {
        return Err(
            "no labs/src in the submission; submit a checkout of the course repository, its \
             labs/ folder, or the tarball of `cargo grader handin`"
                .into(),
        );
    };
    let mut staged = Staged {
        flags: read.flags,
        ..Staged::default()
    };
    let mut refusals = Vec::new();
    for (raw, bytes) in read.files {
        let Some(rest) = raw.strip_prefix(&root.prefix) else {
            staged.flags.push(format!("added {raw}: ignored"));
            continue;
        };
        let path = format!("{}{rest}", root.add);
        if root.add.is_empty() && path == HANDIN_MANIFEST {
            staged.manifest = Some(String::from_utf8_lossy(&bytes).into_owned());
            continue;
        }
        if is_student_file(&path) {
            staged.overlay.insert(path, bytes);
            continue;
        }
        match pristine.get(&path) {
            Some(original) if *original == bytes => {}
            Some(original) => {
                if path.ends_with("Cargo.toml") {
                    refusals.extend(manifest_refusals(&path, original, &bytes));
                }
                staged.flags.push(format!("modified {path}: ignored"));
            }
            None if path.rsplit('/').next() == Some("build.rs") => refusals.push(format!(
                "adds a build script, {path}; build scripts run on the grading machine"
            )),
            None => staged.flags.push(format!("added {path}: ignored")),
        }
    }
    if !refusals.is_empty() {
        return Err(format!("refused: {}", refusals.join("; ")));
    }
    for (path, bytes) in pristine.iter().filter(|(p, _)| is_student_file(p)) {
        if !staged.overlay.contains_key(path) {
            staged
                .flags
                .push(format!("missing {path}: the course's copy is used"));
            staged.overlay.insert(path.clone(), bytes.clone());
        }
    }
    Ok(staged)
}

/// What a changed Cargo.toml adds that could run or pull in code: new
/// dependencies (any table, `[patch]` and `[replace]` included) and a build
/// script named by `build =`.
fn manifest_refusals(path: &str, original: &[u8], submitted: &[u8]) -> Vec<String> {
    let parse = |bytes: &[u8]| -> Option<toml::Table> {
        std::str::from_utf8(bytes).ok()?.parse::<toml::Table>().ok()
    };
    let (Some(before), Some(after)) = (parse(original), parse(submitted)) else {
        // Unparseable: it is ignored like any other changed file.
        return vec![];
    };
    let old = dependency_names(&before);
    let mut found: Vec<String> = dependency_names(&after)
        .difference(&old)
        .map(|name| format!("adds the dependency `{name}` to {path}"))
        .collect();
    let build = |t: &toml::Table| t.get("package").and_then(|p| p.get("build")).cloned();
    if let Some(script) = build(&after).filter(|b| Some(b) != build(&before).as_ref()) {
        found.push(format!("adds a build script (build = {script}) to {path}"));
    }
    found
}

/// Every dependency a manifest names, as `table.name`.
fn dependency_names(manifest: &toml::Table) -> BTreeSet<String> {
    const TABLES: [&str; 3] = ["dependencies", "dev-dependencies", "build-dependencies"];
    let mut names = BTreeSet::new();
    let mut collect = |table: Option<&toml::Value>, label: &str| {
        if let Some(table) = table.and_then(toml::Value::as_table) {
            names.extend(table.keys().map(|k| format!("{label}{k}")));
        }
    };
    for t in TABLES {
        collect(manifest.get(t), "");
    }
    if let Some(targets) = manifest.get("target").and_then(toml::Value::as_table) {
        for (cfg, target) in targets {
            for t in TABLES {
                collect(target.get(t), &format!("target.{cfg}."));
            }
        }
    }
    if let Some(workspace) = manifest.get("workspace") {
        collect(workspace.get("dependencies"), "workspace.");
    }
    if let Some(patches) = manifest.get("patch").and_then(toml::Value::as_table) {
        for (source, table) in patches {
            collect(Some(table), &format!("patch.{source}."));
        }
    }
    collect(manifest.get("replace"), "replace.");
    names
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Files from (path, text) pairs.
    pub(crate) fn files(list: &[(&str, &str)]) -> Files {
        list.iter()
            .map(|(p, b)| (p.to_string(), b.as_bytes().to_vec()))
            .collect()
    }

    const MANIFEST: &str = "[package]\nname = \"syslab-labs\"\n\n[dependencies]\n\
                            syslab-kernel = { path = \"../kernel\" }\n";

    fn pristine() -> Files {
        files(&[
            ("Cargo.toml", "[workspace]\n"),
            ("labs/Cargo.toml", MANIFEST),
            ("labs/build.rs", "fn main() {}\n"),
            ("labs/src/lib.rs", "pub mod lab1;\n"),
            ("labs/src/lab1.rs", "todo!()\n"),
            ("labs/tests/lab2.rs", "#[test] fn t() {}\n"),
            ("kernel/src/test/lab1.rs", "tests\n"),
        ])
    }

    fn staged(list: &[(&str, &str)]) -> Result<Staged, String> {
        stage(
            Contents {
                files: files(list),
                flags: vec![],
            },
            &pristine(),
        )
    }

    #[test]
    fn student_files() {
        for yes in [
            "labs/src/lab1.rs",
            "labs/src/util/mod.rs",
            "labs/src/build.rs",
            "labs/answers-lab1.md",
        ] {
            assert!(is_student_file(yes), "{yes}");
        }
        for no in [
            "labs/Cargo.toml",
            "labs/build.rs",
            "labs/tests/lab2.rs",
            "labs/src/notes.txt",
            "kernel/src/lib.rs",
            "labs/answers/lab1.md",
            "labs/answers-lab1.txt",
        ] {
            assert!(!is_student_file(no), "{no}");
        }
    }

    #[test]
    fn a_checkout_keeps_only_the_students_files_and_flags_the_rest_once() {
        let s = staged(&[
            ("Cargo.toml", "[workspace]\n"),
            ("labs/src/lib.rs", "pub mod lab1;\n"),
            ("labs/src/lab1.rs", "answer\n"),
            ("labs/src/extra.rs", "helper\n"),
            (
                "labs/tests/lab2.rs",
                "#[test] fn t() { /* always passes */ }\n",
            ),
            ("kernel/src/test/lab1.rs", "tests that always pass\n"),
            ("notes.txt", "hi\n"),
        ])
        .unwrap();
        assert_eq!(
            s.overlay.keys().collect::<Vec<_>>(),
            ["labs/src/extra.rs", "labs/src/lab1.rs", "labs/src/lib.rs"]
        );
        assert_eq!(
            s.flags,
            [
                "modified kernel/src/test/lab1.rs: ignored",
                "modified labs/tests/lab2.rs: ignored",
                "added notes.txt: ignored",
            ]
        );
    }

    #[test]
    fn a_bare_labs_folder_or_a_wrapped_one_is_found() {
        for prefix in ["", "alice/", "alice/syslab/"] {
            let s = staged(&[
                (&format!("{prefix}labs/src/lab1.rs"), "answer\n"),
                (&format!("{prefix}labs/src/lib.rs"), "pub mod lab1;\n"),
            ])
            .unwrap();
            assert_eq!(s.overlay["labs/src/lab1.rs"], b"answer\n", "{prefix}");
            assert!(s.flags.is_empty(), "{prefix}: {:?}", s.flags);
        }
        // A zip of labs/'s contents.
        let s = staged(&[("src/lab1.rs", "answer\n"), ("Cargo.toml", MANIFEST)]).unwrap();
        assert_eq!(s.overlay["labs/src/lab1.rs"], b"answer\n");
        assert_eq!(
            s.flags,
            ["missing labs/src/lib.rs: the course's copy is used"]
        );
    }

    #[test]
    fn refusals_name_what_was_added() {
        let err = staged(&[
            ("labs/src/lab1.rs", "x"),
            (
                "kernel/build.rs",
                "fn main() { std::process::Command::new(\"curl\"); }",
            ),
        ])
        .unwrap_err();
        assert!(
            err.contains("adds a build script, kernel/build.rs"),
            "{err}"
        );

        let with_dep = format!("{MANIFEST}evil = \"1\"\n");
        let err = staged(&[("labs/src/lab1.rs", "x"), ("labs/Cargo.toml", &with_dep)]).unwrap_err();
        assert!(
            err.contains("adds the dependency `evil` to labs/Cargo.toml"),
            "{err}"
        );

        let patched = format!("{MANIFEST}\n[patch.crates-io]\nspin = {{ path = \"/tmp/spin\" }}\n");
        let err = staged(&[("labs/src/lab1.rs", "x"), ("labs/Cargo.toml", &patched)]).unwrap_err();
        assert!(err.contains("`patch.crates-io.spin`"), "{err}");

        let script = MANIFEST.replace(
            "name = \"syslab-labs\"",
            "name = \"syslab-labs\"\nbuild = \"src/gen.rs\"",
        );
        let err = staged(&[("labs/src/lab1.rs", "x"), ("labs/Cargo.toml", &script)]).unwrap_err();
        assert!(
            err.contains("adds a build script (build = \"src/gen.rs\")"),
            "{err}"
        );

        // A reformatted manifest with the same dependencies is only flagged.
        let s = staged(&[
            ("labs/src/lab1.rs", "x"),
            ("labs/Cargo.toml", &format!("# my notes\n{MANIFEST}")),
            ("labs/build.rs", "fn main() { println!(\"hi\"); }\n"),
        ])
        .unwrap();
        assert!(
            s.flags
                .contains(&"modified labs/Cargo.toml: ignored".to_owned())
        );
        assert!(
            s.flags
                .contains(&"modified labs/build.rs: ignored".to_owned())
        );
    }

    #[test]
    fn no_labs_src_is_a_reason() {
        let err = staged(&[("README.md", "hello")]).unwrap_err();
        assert!(err.starts_with("no labs/src in the submission"), "{err}");
    }

    #[test]
    fn a_handin_manifest_is_recognised() {
        let s = staged(&[
            (HANDIN_MANIFEST, "{\"commit\": \"abc\"}"),
            ("labs/src/lab1.rs", "answer\n"),
            ("labs/src/lib.rs", "pub mod lab1;\n"),
        ])
        .unwrap();
        assert_eq!(s.manifest.as_deref(), Some("{\"commit\": \"abc\"}"));
        assert!(s.flags.is_empty(), "{:?}", s.flags);
    }

    #[test]
    fn unsafe_archive_paths_are_never_used() {
        for bad in ["/etc/passwd", "../x", "a/../../x", "C:/x"] {
            assert_eq!(clean_path(bad), None, "{bad}");
        }
        assert_eq!(
            clean_path("./labs//src/a.rs").as_deref(),
            Some("labs/src/a.rs")
        );
        assert_eq!(
            clean_path("labs\\src\\a.rs").as_deref(),
            Some("labs/src/a.rs")
        );
    }

    #[test]
    fn a_name_twice_in_an_archive_keeps_the_last_and_says_so() {
        let dir = std::env::temp_dir().join(format!("syslab-dup-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let zipped = dir.join("twice.zip");
        let member = |bytes: &'static [u8]| crate::zipfile::Member {
            name: "labs/src/lab1.rs",
            bytes,
            mode: 0o644,
        };
        crate::zipfile::write(&zipped, [member(b"first\n"), member(b"last\n")]).unwrap();
        let read = read(&zipped).unwrap();
        assert_eq!(read.files["labs/src/lab1.rs"], b"last\n");
        assert_eq!(
            read.flags,
            ["duplicate labs/src/lab1.rs: the last copy in the archive is graded"]
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_damaged_zip_member_is_a_reason_that_names_it() {
        let dir = std::env::temp_dir().join(format!("syslab-crc-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let zipped = dir.join("damaged.zip");
        let text = "fn answer() -> u32 { 42 }\n".repeat(40);
        let member = crate::zipfile::Member {
            name: "labs/src/lab1.rs",
            bytes: text.as_bytes(),
            mode: 0o644,
        };
        crate::zipfile::write(&zipped, [member]).unwrap();
        let good = std::fs::read(&zipped).unwrap();
        let damaged = |edit: &dyn Fn(&mut Vec<u8>)| {
            let mut bytes = good.clone();
            edit(&mut bytes);
            std::fs::write(&zipped, bytes).unwrap();
            read(&zipped).unwrap_err()
        };
        // A flipped bit in the first member's data, which follows its local
        // header: 30 bytes, the name and the extra field (their lengths at
        // offsets 26 and 28).
        let err = damaged(&|bytes| {
            let field = |at: usize| u16::from_le_bytes([bytes[at], bytes[at + 1]]) as usize;
            let data = 30 + field(26) + field(28);
            bytes[data + 4] ^= 0x40;
        });
        assert!(
            err.starts_with("cannot read labs/src/lab1.rs from the archive"),
            "{err}"
        );
        // The CRC-32 that the central directory claims, 16 bytes into the
        // member's entry there: the data inflates, and no longer matches.
        let err = damaged(&|bytes| {
            let entry = bytes.windows(4).rposition(|w| w == b"PK\x01\x02").unwrap();
            bytes[entry + 16] ^= 0xFF;
        });
        assert!(
            err.starts_with("cannot read labs/src/lab1.rs from the archive"),
            "{err}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_member_larger_than_it_claims_is_cut_off_and_refused() {
        let mut contents = Contents::default();
        let endless = std::io::repeat(0).take(MAX_BYTES + 1024);
        let err = contents
            .add_member("labs/src/lab1.rs", 10, endless)
            .unwrap_err();
        assert!(err.contains("larger than 64 MiB"), "{err}");
        assert!(contents.files.is_empty());
    }

    #[test]
    fn archives_and_directories_read_alike() {
        let dir = std::env::temp_dir().join(format!("syslab-sub-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let tree = dir.join("alice");
        std::fs::create_dir_all(tree.join("labs/src")).unwrap();
        std::fs::create_dir_all(tree.join("target/debug")).unwrap();
        std::fs::write(tree.join("labs/src/lab1.rs"), "answer\n").unwrap();
        std::fs::write(tree.join("target/debug/junk"), "x").unwrap();

        let tgz = dir.join("alice.tar.gz");
        let mut tar = tar::Builder::new(flate2::write::GzEncoder::new(
            std::fs::File::create(&tgz).unwrap(),
            flate2::Compression::fast(),
        ));
        tar.append_dir_all("alice", &tree).unwrap();
        tar.into_inner().unwrap().finish().unwrap();

        let zipped = dir.join("alice.zip");
        let member = crate::zipfile::Member {
            name: "labs/src/lab1.rs",
            bytes: b"answer\n",
            mode: 0o644,
        };
        crate::zipfile::write(&zipped, [member]).unwrap();

        let from_dir = read(&tree).unwrap();
        assert_eq!(
            from_dir.files.keys().collect::<Vec<_>>(),
            ["labs/src/lab1.rs"]
        );
        let from_tar = read(&tgz).unwrap();
        assert_eq!(
            from_tar.files.keys().collect::<Vec<_>>(),
            ["alice/labs/src/lab1.rs"]
        );
        assert_eq!(read(&zipped).unwrap().files, from_dir.files);

        std::fs::write(dir.join("bob.tar.gz"), "not gzip").unwrap();
        let err = read(&dir.join("bob.tar.gz")).unwrap_err();
        assert!(err.contains("is not a readable .tar.gz"), "{err}");
        std::fs::write(dir.join("carol.zip"), "not zip").unwrap();
        assert!(
            read(&dir.join("carol.zip"))
                .unwrap_err()
                .contains("is not a readable .zip")
        );
        std::fs::write(dir.join("dave.txt"), "x").unwrap();
        assert!(
            read(&dir.join("dave.txt"))
                .unwrap_err()
                .contains("not a directory")
        );
        std::fs::remove_dir_all(dir).unwrap();
    }
}
