//! Fixture submissions for `cargo grader batch`, made from this checkout:
//! the skeleton, the reference answers, answers broken the way a student
//! breaks them, tampered tests, refusals and unreadable archives, each as
//! a directory, a `.tar.gz` or a `.zip`. A mutation whose text is no
//! longer in the answers panics, so the fixtures cannot silently stop
//! breaking anything.

#![allow(dead_code)] // each test binary uses its own part

use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// solutions/src as labs/src: full marks.
    Solution,
    /// The untouched skeleton: Lab 0 only.
    Skeleton,
    /// Lab 1 answered, Labs 2 and 3 still the skeleton's.
    Lab1Only,
    /// Labs 1 and 2 answered.
    Lab12,
    /// The int 0x2e gate with DPL 0: every Lab 1 system call is a #GP.
    GateDpl0,
    /// SFMASK without DF: Lab 3's flags test fails.
    SfmaskNoDf,
    /// The GDT rule accepts a DPL-0 32-bit user code segment.
    GdtRuleWrong,
    /// A syntax error: the submission does not build.
    Syntax,
    /// The skeleton, with kernel/src/test/lab1.rs edited so every test passes.
    KernelTamper,
    /// The skeleton, with labs/tests/lab2.rs replaced by a test that passes.
    TestsTamper,
    /// The answers plus a kernel/build.rs.
    BuildRs,
    /// The answers plus a dependency in labs/Cargo.toml.
    Dependency,
    /// No labs/src at all.
    Empty,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Dir,
    TarGz,
    Zip,
}

pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the grader lives in the workspace")
        .to_path_buf()
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(root().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// `text` with `from` replaced once; panics when `from` is not there.
fn mutate(text: &str, from: &str, to: &str, what: &str) -> String {
    assert!(
        text.contains(from),
        "{what}: `{from}` is no longer in the file"
    );
    text.replacen(from, to, 1)
}

/// Every `labs/src` file, from `dir` (labs or solutions), and the answers files.
fn sources(dir: &str) -> Vec<(String, String)> {
    let mut files: Vec<(String, String)> = std::fs::read_dir(root().join(dir).join("src"))
        .unwrap()
        .flatten()
        .map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            (
                format!("labs/src/{name}"),
                read(&format!("{dir}/src/{name}")),
            )
        })
        .collect();
    // A checkout has the written questions too (the skeleton's, unanswered).
    for lab in ["lab1", "lab2", "lab3"] {
        let answers = format!("labs/answers-{lab}.md");
        if root().join(&answers).is_file() {
            let text = read(&answers);
            files.push((answers, text));
        }
    }
    files.sort();
    files
}

fn replace_file(files: &mut [(String, String)], path: &str, edit: impl FnOnce(&str) -> String) {
    let file = files.iter_mut().find(|(p, _)| p == path).expect(path);
    file.1 = edit(&file.1);
}

/// The kernel's Lab 1 tests with every test's function replaced by one
/// that passes.
pub fn tampered_lab1_tests() -> String {
    let text = read("kernel/src/test/lab1.rs");
    let mut changed = 0;
    let out: Vec<String> = text
        .lines()
        .map(|line| {
            let t = line.trim_start();
            match t.strip_prefix("run: ").and_then(|r| r.strip_suffix(',')) {
                Some(name) if name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') => {
                    changed += 1;
                    line.replace(t, "run: || Ok(alloc::string::String::new()),")
                }
                _ => line.to_owned(),
            }
        })
        .collect();
    assert!(
        changed >= 5,
        "kernel/src/test/lab1.rs has no `run: name,` lines left to tamper"
    );
    out.join("\n") + "\n"
}

/// The files of a submission of `kind`, by path in the course tree.
pub fn files(kind: Kind) -> Vec<(String, String)> {
    use Kind::*;
    let solution = || sources("solutions");
    let skeleton = || sources("labs");
    let with_answers = |labs: &[&str]| {
        let answers = solution();
        let mut files = skeleton();
        for (path, text) in files.iter_mut() {
            if labs.iter().any(|l| path.ends_with(&format!("/{l}.rs"))) {
                *text = answers.iter().find(|(p, _)| p == path).unwrap().1.clone();
            }
        }
        files
    };
    match kind {
        Solution => solution(),
        Skeleton => skeleton(),
        Lab1Only => with_answers(&["lab1"]),
        Lab12 => with_answers(&["lab1", "lab2"]),
        GateDpl0 => {
            let mut f = solution();
            replace_file(&mut f, "labs/src/lab1.rs", |t| {
                mutate(
                    t,
                    "GateType::Interrupt,\n        3,",
                    "GateType::Interrupt,\n        0,",
                    "gate DPL",
                )
            });
            f
        }
        SfmaskNoDf => {
            let mut f = solution();
            replace_file(&mut f, "labs/src/lab3.rs", |t| {
                mutate(t, "rflags::TF | rflags::DF |", "rflags::TF |", "SFMASK")
            });
            f
        }
        GdtRuleWrong => {
            let mut f = solution();
            replace_file(&mut f, "labs/src/lab2.rs", |t| {
                mutate(
                    t,
                    "d.is_code() && !d.is_long_mode() && d.dpl() == 3",
                    "d.is_code() && !d.is_long_mode() && d.dpl() == 0",
                    "GDT rule",
                )
            });
            f
        }
        Syntax => {
            let mut f = solution();
            replace_file(&mut f, "labs/src/lab3.rs", |t| {
                format!("{t}\nfn broken( {{\n")
            });
            f
        }
        KernelTamper => {
            let mut f = skeleton();
            f.push(("kernel/src/test/lab1.rs".into(), tampered_lab1_tests()));
            f
        }
        TestsTamper => {
            let mut f = skeleton();
            f.push((
                "labs/tests/lab2.rs".into(),
                "#[test]\nfn everything_is_fine() {}\n".into(),
            ));
            f
        }
        BuildRs => {
            let mut f = solution();
            f.push((
                "kernel/build.rs".into(),
                "fn main() { std::fs::write(\"/tmp/owned\", \"x\").unwrap(); }\n".into(),
            ));
            f
        }
        Dependency => {
            let mut f = solution();
            f.push((
                "labs/Cargo.toml".into(),
                format!("{}evil-helper = \"1\"\n", read("labs/Cargo.toml")),
            ));
            f
        }
        Empty => vec![("README.md".into(), "I forgot my code\n".into())],
    }
}

/// Writes one submission into `dir` as `name` (`name/`, `name.tar.gz` or
/// `name.zip`). Archives wrap the tree in a `name/` folder, as `tar czf
/// name.tar.gz name` does; zips hold it at the top, as `zip -r` in it does.
pub fn write(dir: &Path, name: &str, kind: Kind, format: Format) -> PathBuf {
    let files = files(kind);
    match format {
        Format::Dir => {
            let top = dir.join(name);
            for (path, text) in &files {
                let file = top.join(path);
                std::fs::create_dir_all(file.parent().unwrap()).unwrap();
                std::fs::write(file, text).unwrap();
            }
            top
        }
        Format::TarGz => {
            let path = dir.join(format!("{name}.tar.gz"));
            let gz = flate2::write::GzEncoder::new(
                std::fs::File::create(&path).unwrap(),
                flate2::Compression::fast(),
            );
            let mut tar = tar::Builder::new(gz);
            for (file, text) in &files {
                let mut header = tar::Header::new_gnu();
                header.set_size(text.len() as u64);
                header.set_mode(0o644);
                tar.append_data(&mut header, format!("{name}/{file}"), text.as_bytes())
                    .unwrap();
            }
            tar.into_inner().unwrap().finish().unwrap();
            path
        }
        Format::Zip => {
            let path = dir.join(format!("{name}.zip"));
            // Stored, not deflated: the grader's own zips (and its unit
            // test of reading one) are deflated, so the class covers the
            // other method `zip -r` may choose.
            let mut zip = rawzip::ZipArchiveWriter::new(std::fs::File::create(&path).unwrap());
            for (file, text) in &files {
                let (mut entry, config) = zip.new_file(file.as_str()).start().unwrap();
                let mut writer = config.wrap(&mut entry);
                writer.write_all(text.as_bytes()).unwrap();
                let (_, descriptor) = writer.finish().unwrap();
                entry.finish(descriptor).unwrap();
            }
            zip.finish().unwrap();
            path
        }
    }
}

/// An archive that is not one.
pub fn write_garbage(dir: &Path, name: &str) -> PathBuf {
    let path = dir.join(format!("{name}.tar.gz"));
    std::fs::write(&path, b"this is not gzip").unwrap();
    path
}

/// The kinds of the 50-submission class, five of each: the skeleton, the
/// answers, partial and broken answers, a build failure and the two
/// tampered kinds.
pub const CLASS: [Kind; 10] = [
    Kind::Solution,
    Kind::Skeleton,
    Kind::Lab1Only,
    Kind::Lab12,
    Kind::GateDpl0,
    Kind::SfmaskNoDf,
    Kind::GdtRuleWrong,
    Kind::Syntax,
    Kind::KernelTamper,
    Kind::TestsTamper,
];

/// `count` submissions cycling through `CLASS` and the three formats.
pub fn write_class(dir: &Path, count: usize) {
    let formats = [Format::Dir, Format::TarGz, Format::Zip];
    for i in 0..count {
        let kind = CLASS[i % CLASS.len()];
        let name = format!("student{i:02}-{kind:?}").to_lowercase();
        write(dir, &name, kind, formats[i % formats.len()]);
    }
}
