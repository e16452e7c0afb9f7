//! End-to-end tests of grading a course: `batch` on a small class of
//! fixture submissions (tests/class/), the integrity rules (tampered tests
//! get no points, a build script or a dependency is refused), the
//! Gradescope zip run in a scratch /autograder layout, the Classroom files,
//! and `handin` round-tripping into `batch`.
//!
//! They share the checkout's one scratch tree (target/syslab/scratch/, which
//! the mutation suite builds in too), so they run one at a time. `cargo test -p syslab-grader --test batch -- --ignored --nocapture`
//! also grades the 50-submission class and prints how long it took.

mod class;

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Mutex;
use std::time::Instant;

use class::{Format, Kind, root};

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn grader_in(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> (Output, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_syslab-grader"));
    cmd.args(args).current_dir(dir).env("NO_COLOR", "1");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("the grader runs");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out, text)
}

fn grader(args: &[&str]) -> (Output, String) {
    grader_in(&root(), args, &[])
}

/// A fresh scratch directory under target/.
fn fresh(name: &str) -> PathBuf {
    let dir = root().join("target/syslab/test-output").join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn has_solutions() -> bool {
    let present = root().join("solutions/Cargo.toml").is_file();
    if !present {
        eprintln!("no solutions/ in this checkout: skipping (a course hands out labs/ only)");
    }
    present
}

fn json(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).expect("valid JSON")
}

/// results.csv as rows of `column -> value`.
fn csv_rows(path: &Path) -> Vec<std::collections::BTreeMap<String, String>> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.lines();
    let header: Vec<String> = lines
        .next()
        .unwrap()
        .split(',')
        .map(str::to_owned)
        .collect();
    lines
        .map(|line| {
            // The fixtures' quoted fields hold no line breaks; split on
            // commas outside quotes.
            let mut fields = Vec::new();
            let (mut field, mut quoted) = (String::new(), false);
            for c in line.chars() {
                match c {
                    '"' => quoted = !quoted,
                    ',' if !quoted => fields.push(std::mem::take(&mut field)),
                    c => field.push(c),
                }
            }
            fields.push(field);
            header.iter().cloned().zip(fields).collect()
        })
        .collect()
}

fn row<'a>(
    rows: &'a [std::collections::BTreeMap<String, String>],
    student: &str,
) -> &'a std::collections::BTreeMap<String, String> {
    rows.iter()
        .find(|r| r["student"] == student)
        .unwrap_or_else(|| panic!("no row for {student}"))
}

#[test]
fn a_small_class_is_graded_with_flags_refusals_and_every_output() {
    if !has_solutions() {
        return;
    }
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let dir = fresh("batch-small");
    let subs = dir.join("submissions");
    std::fs::create_dir_all(&subs).unwrap();
    class::write(&subs, "alice", Kind::Solution, Format::Dir);
    class::write(&subs, "bob", Kind::KernelTamper, Format::TarGz);
    class::write(&subs, "carol", Kind::TestsTamper, Format::Zip);
    class::write(&subs, "dave", Kind::BuildRs, Format::TarGz);
    class::write(&subs, "erin", Kind::Dependency, Format::Zip);
    class::write(&subs, "frank", Kind::Syntax, Format::Dir);
    class::write(&subs, "grace", Kind::Empty, Format::Dir);
    class::write_garbage(&subs, "heidi");
    let out = dir.join("grades");
    let (status, text) = grader(&[
        "batch",
        subs.to_str().unwrap(),
        "--labs",
        "lab1,lab2",
        "--jobs",
        "2",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(status.status.success(), "{text}");

    let rows = csv_rows(&out.join("results.csv"));
    assert_eq!(rows.len(), 8, "{text}");
    let alice = row(&rows, "alice");
    assert_eq!(
        alice["total"], alice["max"],
        "the answers get full marks:\n{text}"
    );
    assert!(alice["max"].parse::<u32>().unwrap() > 100);

    // Tests edited so that they pass earn nothing: the pristine ones ran.
    let bob = row(&rows, "bob");
    assert_eq!(bob["lab1.gate"], "0", "{text}");
    assert_eq!(bob["total"], "0", "{text}");
    assert_eq!(bob["flags"], "modified kernel/src/test/lab1.rs: ignored");
    assert!(
        text.contains("bob: modified kernel/src/test/lab1.rs: ignored"),
        "{text}"
    );
    let carol = row(&rows, "carol");
    assert_eq!(carol["lab2.host_tests"], "0", "{text}");
    assert_eq!(carol["flags"], "modified labs/tests/lab2.rs: ignored");

    // Refusals name what was added.
    let dave = row(&rows, "dave");
    assert_eq!(dave["total"], "0");
    assert!(
        dave["errors"].contains("adds a build script, kernel/build.rs"),
        "{dave:?}"
    );
    let erin = row(&rows, "erin");
    assert!(
        erin["errors"].contains("adds the dependency `evil-helper` to labs/Cargo.toml"),
        "{erin:?}"
    );
    let frank = row(&rows, "frank");
    assert!(
        frank["errors"].starts_with("does not build: error"),
        "{frank:?}"
    );
    assert!(frank["errors"].contains("labs/src/lab3.rs:"), "{frank:?}");
    assert!(row(&rows, "grace")["errors"].starts_with("no labs/src in the submission"));
    assert!(row(&rows, "heidi")["errors"].contains("is not a readable .tar.gz"));
    for r in &rows {
        assert_eq!(
            r["max"], alice["max"],
            "every row is out of the full points: {r:?}"
        );
    }

    // Each student's Gradescope JSON, logs, and the class summary.
    let results = json(&out.join("alice/results.json"));
    let max: u64 = results["tests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["max_score"].as_u64().unwrap())
        .sum();
    assert_eq!(results["score"].as_u64(), Some(max));
    let dave_json = json(&out.join("dave/results.json"));
    assert!(
        dave_json["output"]
            .as_str()
            .unwrap()
            .starts_with("refused: adds a build script")
    );
    assert!(
        out.join("alice/log/lab1-intel-tcg-boot1.serial.log")
            .is_file()
    );
    assert!(out.join("alice/log/build.log").is_file());
    let summary = std::fs::read_to_string(out.join("summary.md")).unwrap();
    assert!(
        summary.contains("![Score histogram](histogram.svg)"),
        "{summary}"
    );
    assert!(summary.contains("## Tests most often failed"), "{summary}");
    assert!(summary.contains("- **dave**: refused"), "{summary}");
    let svg = std::fs::read_to_string(out.join("histogram.svg")).unwrap();
    assert!(svg.starts_with("<svg"), "{svg}");
}

#[test]
fn a_qemu_that_cannot_start_scores_zero_of_the_full_points() {
    if !has_solutions() {
        return;
    }
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let dir = fresh("no-qemu");
    let fake = dir.join("qemu-system-x86_64");
    std::fs::write(
        &fake,
        "#!/bin/sh\nif [ \"$1\" = --version ]; then echo 'QEMU emulator version 7.2.0'; exit 0; fi\n\
         echo 'qemu-system-x86_64: cannot set up guest memory' >&2\nexit 1\n",
    )
    .unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let env = [("SYSLAB_QEMU", fake.to_str().unwrap())];
    let file = dir.join("results.json");
    let (out, text) = grader_in(
        &root(),
        &[
            "lab0",
            "lab1",
            "--solutions",
            "--json",
            file.to_str().unwrap(),
        ],
        &env,
    );
    assert_eq!(out.status.code(), Some(2), "nothing was graded:\n{text}");
    assert!(text.contains("Total: 0/"), "{text}");
    assert!(!text.contains("Total: 0/0"), "{text}");
    assert!(
        text.contains("cannot set up guest memory"),
        "QEMU's own words:\n{text}"
    );
    assert!(
        text.contains("lab1.gate") && text.contains("tests (0/"),
        "each test is listed, at 0 of its points:\n{text}"
    );
    let results = json(&file);
    assert_eq!(results["score"], 0);
    let tests = results["tests"].as_array().unwrap();
    assert!(
        tests
            .iter()
            .any(|t| t["name"] == "lab1.null_call" && t["max_score"] == 10)
    );
    assert!(
        tests
            .iter()
            .filter(|t| t["max_score"].as_u64() > Some(0))
            .all(|t| t["output"]
                .as_str()
                .unwrap()
                .contains("the kernel never reached the test runner")),
        "every test says why"
    );

    // batch's CSV says why as well.
    let subs = dir.join("submissions");
    std::fs::create_dir_all(&subs).unwrap();
    class::write(&subs, "alice", Kind::Solution, Format::Dir);
    let grades = dir.join("grades");
    let (out, text) = grader_in(
        &root(),
        &[
            "batch",
            subs.to_str().unwrap(),
            "--labs",
            "lab1",
            "--out",
            grades.to_str().unwrap(),
        ],
        &env,
    );
    assert!(out.status.success(), "{text}");
    let rows = csv_rows(&grades.join("results.csv"));
    assert_eq!(rows[0]["total"], "0");
    assert_ne!(rows[0]["max"], "0");
    assert!(
        rows[0]["errors"].contains("lab1: the kernel never reached the test runner"),
        "{:?}",
        rows[0]
    );
}

/// Unpacks a zip of deflated members into `to`, as Gradescope does, and
/// returns each member's Unix permissions.
fn unzip(zip: &Path, to: &Path) -> BTreeMap<String, u32> {
    let bytes = std::fs::read(zip).unwrap();
    let archive = rawzip::ZipArchive::from_slice(&bytes).unwrap();
    let mut modes = BTreeMap::new();
    for entry in archive.entries() {
        let entry = entry.unwrap();
        let name = entry
            .file_path()
            .try_normalize()
            .unwrap()
            .as_ref()
            .to_owned();
        let member = archive.get_entry(entry.wayfinder()).unwrap();
        assert_eq!(
            entry.compression_method(),
            rawzip::CompressionMethod::DEFLATE
        );
        let mut data = Vec::new();
        member
            .verifying_reader(flate2::read::DeflateDecoder::new(member.data()))
            .read_to_end(&mut data)
            .unwrap();
        let file = to.join(&name);
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(file, data).unwrap();
        modes.insert(name, entry.mode().permissions());
    }
    modes
}

#[test]
fn the_gradescope_zip_grades_a_submission_in_an_autograder_layout() {
    if !has_solutions() {
        return;
    }
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let dir = fresh("gradescope");
    let zip_path = dir.join("autograder.zip");
    let (out, text) = grader(&[
        "package",
        "gradescope",
        "--out",
        zip_path.to_str().unwrap(),
        "--labs",
        "lab1",
    ]);
    assert!(out.status.success(), "{text}");

    // Unpacked as Gradescope does: the zip into source/, run_autograder
    // copied up, the student's upload in submission/.
    let ag = dir.join("autograder");
    let source = ag.join("source");
    let modes = unzip(&zip_path, &source);
    for script in ["setup.sh", "run_autograder"] {
        assert_eq!(modes[script], 0o755, "{script} is executable in the zip");
    }
    for needed in [
        "setup.sh",
        "run_autograder",
        "course/Cargo.lock",
        "course/rust-toolchain.toml",
        "course/kernel/src/test/lab1.rs",
        "course/kernel/kernel.ld",
        "course/labs/Cargo.toml",
        "course/labs/tests/lab2.rs",
        "course/grader/src/main.rs",
    ] {
        assert!(source.join(needed).is_file(), "the zip has {needed}");
    }
    assert!(
        !source.join("course/solutions").exists(),
        "no answers in the autograder"
    );
    let setup = std::fs::read_to_string(source.join("setup.sh")).unwrap();
    assert!(setup.contains("--labs lab1"), "{setup}");
    std::fs::copy(source.join("run_autograder"), ag.join("run_autograder")).unwrap();
    // An upload of labs/'s contents with an edited kernel test beside it.
    let submission = ag.join("submission");
    for (path, text) in class::files(Kind::Solution) {
        let file = submission.join(path.strip_prefix("labs/").unwrap());
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(file, text).unwrap();
    }
    std::fs::create_dir_all(submission.join("kernel/src/test")).unwrap();
    std::fs::write(submission.join("kernel/src/test/lab1.rs"), "// mine\n").unwrap();

    let run = Command::new("bash")
        .arg(ag.join("run_autograder"))
        .env("AUTOGRADER", &ag)
        .env("SYSLAB_GRADER", env!("CARGO_BIN_EXE_syslab-grader"))
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&run.stdout).into_owned() + &String::from_utf8_lossy(&run.stderr);
    let results = json(&ag.join("results/results.json"));
    let tests = results["tests"].as_array().unwrap();
    let max: u64 = tests.iter().map(|t| t["max_score"].as_u64().unwrap()).sum();
    assert!(max >= 85, "{text}");
    assert_eq!(
        results["score"].as_u64(),
        Some(max),
        "the answers get full marks:\n{text}"
    );
    assert!(
        tests
            .iter()
            .all(|t| t["name"].as_str().unwrap().starts_with("lab1."))
    );
    assert!(
        results["output"]
            .as_str()
            .unwrap_or_default()
            .contains("labs/kernel/src/test/lab1.rs: ignored"),
        "{results}"
    );
}

#[test]
fn the_classroom_files_are_valid_and_name_tests_that_exist() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let dir = fresh("classroom");
    let (out, text) = grader(&["package", "classroom", "--out", dir.to_str().unwrap()]);
    assert!(out.status.success(), "{text}");
    let (out, listed) = grader(&["--list"]);
    assert!(out.status.success(), "{listed}");
    let exists = |name: &str| {
        listed
            .lines()
            .any(|l| l.split_whitespace().next() == Some(name))
    };

    let autograding = json(&dir.join(".github/classroom/autograding.json"));
    let tests = autograding["tests"].as_array().unwrap();
    assert!(tests.len() >= 30, "a step per test");
    for t in tests {
        let name = t["name"].as_str().unwrap();
        assert!(exists(name), "{name} is a test of `cargo grader --list`");
        assert_eq!(t["run"], format!("cargo grader {name} --cpu intel"));
        assert!(t["points"].as_u64().unwrap() > 0);
    }

    let text = std::fs::read_to_string(dir.join(".github/workflows/classroom.yml")).unwrap();
    let docs = yaml_rust2::YamlLoader::load_from_str(&text).expect("valid YAML");
    let steps = docs[0]["jobs"]["run-autograding-tests"]["steps"]
        .as_vec()
        .unwrap();
    let graded: Vec<_> = steps
        .iter()
        .filter(|s| {
            s["uses"]
                .as_str()
                .is_some_and(|u| u.contains("autograding-command-grader"))
        })
        .collect();
    assert_eq!(graded.len(), tests.len());
    for step in &graded {
        let command = step["with"]["command"].as_str().unwrap();
        let name = command
            .strip_prefix("cargo grader ")
            .and_then(|c| c.strip_suffix(" --cpu intel"))
            .unwrap_or_else(|| panic!("{command}"));
        assert!(exists(name), "{command} names a test");
        assert_eq!(step["with"]["test-name"].as_str(), Some(name));
    }
    let reporter = steps.last().unwrap();
    let runners = reporter["with"]["runners"].as_str().unwrap();
    assert_eq!(runners.split(',').count(), tests.len());
    for id in runners.split(',') {
        assert!(
            steps.iter().any(|s| s["id"].as_str() == Some(id)),
            "the reporter's runner {id} is a step"
        );
    }
}

#[test]
fn handin_round_trips_into_batch() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let clean = Command::new("git")
        .args(["status", "--porcelain", "--", "labs"])
        .current_dir(root())
        .output();
    match clean {
        Ok(o) if o.status.success() && o.stdout.is_empty() => {}
        _ => {
            eprintln!("labs/ is not a clean git checkout here: skipping");
            return;
        }
    }
    let dir = fresh("handin");
    let subs = dir.join("submissions");
    std::fs::create_dir_all(&subs).unwrap();
    let tarball = subs.join("me.tar.gz");
    let (out, text) = grader(&["handin", "--out", tarball.to_str().unwrap()]);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("Total: "), "the grader ran once:\n{text}");

    let file = std::fs::File::open(&tarball).unwrap();
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(file));
    let mut names = Vec::new();
    let mut manifest = None;
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let name = entry.path().unwrap().to_string_lossy().into_owned();
        if name == "syslab-handin.json" {
            let mut text = String::new();
            std::io::Read::read_to_string(&mut entry, &mut text).unwrap();
            manifest = Some(serde_json::from_str::<serde_json::Value>(&text).unwrap());
        }
        names.push(name);
    }
    assert!(names.contains(&"labs/src/lab1.rs".to_owned()), "{names:?}");
    assert!(
        names
            .iter()
            .all(|n| n == "syslab-handin.json" || n.starts_with("labs/"))
    );
    let manifest = manifest.expect("a manifest");
    let head = Command::new("git")
        .args(["rev-parse", "HEAD"])
        .current_dir(root())
        .output()
        .unwrap();
    assert_eq!(
        manifest["commit"],
        String::from_utf8_lossy(&head.stdout).trim()
    );
    assert_eq!(manifest["grader_version"], env!("CARGO_PKG_VERSION"));
    assert!(manifest["date"].as_str().unwrap().ends_with('Z'));
    let local = manifest["scores"]["labs"]["lab0"]["earned"]
        .as_u64()
        .unwrap();
    assert!(local > 0, "the skeleton passes Lab 0 locally: {manifest}");

    let grades = dir.join("grades");
    let (out, text) = grader(&[
        "batch",
        subs.to_str().unwrap(),
        "--labs",
        "lab0",
        "--out",
        grades.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{text}");
    let rows = csv_rows(&grades.join("results.csv"));
    assert_eq!(rows[0]["student"], "me");
    assert_eq!(
        rows[0]["total"],
        local.to_string(),
        "the same score as at handin"
    );
    assert_eq!(rows[0]["flags"], "", "a handin touches nothing else");
}

/// The budget's measure: 50 submissions, five of each fixture kind, on
/// this machine. It prints the time; it asserts only that all were graded.
#[test]
#[ignore]
fn a_class_of_fifty() {
    if !has_solutions() {
        return;
    }
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let dir = fresh("class-of-fifty");
    let subs = dir.join("submissions");
    std::fs::create_dir_all(&subs).unwrap();
    class::write_class(&subs, 50);
    let grades = dir.join("grades");
    let started = Instant::now();
    let (out, text) = grader(&[
        "batch",
        subs.to_str().unwrap(),
        "--out",
        grades.to_str().unwrap(),
    ]);
    let seconds = started.elapsed().as_secs_f64();
    assert!(out.status.success(), "{text}");
    let rows = csv_rows(&grades.join("results.csv"));
    assert_eq!(rows.len(), 50);
    println!("{text}");
    println!(
        "graded 50 submissions in {seconds:.1} s on {} cores",
        std::thread::available_parallelism().map_or(1, usize::from)
    );
}
