//! The test plan, written into the kernel image at compile time.
//!
//! The grader reads the section `.syslab_plan` from the ELF file before it
//! boots anything (grader/PROTOCOL.md, "The test plan in the image"), so a
//! boot that never reaches the test runner still scores 0 out of the lab's
//! full points instead of 0 out of 0. The bytes are encoded here, by const
//! evaluation, from the same tables the runner runs (`super::LISTS`): there
//! is no second list to keep in step, and a malformed table (a tab or a line
//! break in a description, a name outside its lab, a duplicate) stops the
//! build.
//!
//! ```text
//! syslab-plan 1
//! test lab0 any lab0.boot 5 the kernel boots, ...
//! test lab2 intel lab2.stub_choice 5 SharedUserData's SystemCallStub is SYSENTER ...
//! end
//! ```

use super::{List, Test};

/// The first line: the format and its version.
pub const MAGIC: &[u8] = b"syslab-plan 1\n";
/// The last line. Anything after it means two plans were linked together.
pub const END: &[u8] = b"end\n";

const fn digits(mut n: u32) -> usize {
    let mut count = 1;
    while n >= 10 {
        n /= 10;
        count += 1;
    }
    count
}

const fn line_len(list: &List, test: &Test) -> usize {
    // "test " LAB " " VENDOR " " NAME " " POINTS " " DESCRIPTION "\n"
    5 + list.lab.len()
        + 1
        + list.vendor.len()
        + 1
        + test.name.len()
        + 1
        + digits(test.points)
        + 1
        + test.description.len()
        + 1
}

/// The size of the encoded plan.
pub const fn encoded_len(lists: &[List]) -> usize {
    let mut len = MAGIC.len() + END.len();
    let mut i = 0;
    while i < lists.len() {
        let mut j = 0;
        while j < lists[i].tests.len() {
            len += line_len(&lists[i], &lists[i].tests[j]);
            j += 1;
        }
        i += 1;
    }
    len
}

struct Writer<const N: usize> {
    buf: [u8; N],
    at: usize,
}

impl<const N: usize> Writer<N> {
    const fn put(mut self, bytes: &[u8]) -> Self {
        let mut k = 0;
        while k < bytes.len() {
            self.buf[self.at] = bytes[k];
            self.at += 1;
            k += 1;
        }
        self
    }

    const fn number(mut self, n: u32) -> Self {
        let width = digits(n);
        let mut k = 0;
        let mut rest = n;
        while k < width {
            self.buf[self.at + width - 1 - k] = b'0' + (rest % 10) as u8;
            rest /= 10;
            k += 1;
        }
        self.at += width;
        self
    }
}

const fn same(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut k = 0;
    while k < a.len() {
        if a[k] != b[k] {
            return false;
        }
        k += 1;
    }
    true
}

/// Stops the build on a table the grader could not read back.
const fn check(list: &List, test: &Test) {
    let name = test.name.as_bytes();
    let lab = list.lab.as_bytes();
    // `labN.rest`: the lab's name, a dot, and at least one more character.
    if name.len() <= lab.len() + 1 || name[lab.len()] != b'.' {
        panic!("a test's name must be `<lab>.<name>` with the lab of its list");
    }
    let mut k = 0;
    while k < lab.len() {
        if name[k] != lab[k] {
            panic!("a test's name must start with the lab of its list");
        }
        k += 1;
    }
    let mut k = 0;
    while k < name.len() {
        if name[k] <= b' ' {
            panic!("a test's name must not contain spaces or control characters");
        }
        k += 1;
    }
    let text = test.description.as_bytes();
    let mut k = 0;
    while k < text.len() {
        if text[k] == b'\n' || text[k] == b'\r' || text[k] == b'\t' {
            panic!("a test's description must be one line without tabs");
        }
        k += 1;
    }
}

/// A name twice in one list would make its results ambiguous.
const fn check_unique(list: &List) {
    let mut i = 0;
    while i < list.tests.len() {
        let mut j = i + 1;
        while j < list.tests.len() {
            if same(list.tests[i].name.as_bytes(), list.tests[j].name.as_bytes()) {
                panic!("two tests of one list have the same name");
            }
            j += 1;
        }
        i += 1;
    }
}

/// The plan of `lists`, as the section holds it; `N` is `encoded_len(lists)`.
pub const fn encode<const N: usize>(lists: &[List]) -> [u8; N] {
    let mut w = Writer { buf: [0; N], at: 0 }.put(MAGIC);
    let mut i = 0;
    while i < lists.len() {
        let list = &lists[i];
        check_unique(list);
        let mut j = 0;
        while j < list.tests.len() {
            let test = &list.tests[j];
            check(list, test);
            w = w
                .put(b"test ")
                .put(list.lab.as_bytes())
                .put(b" ")
                .put(list.vendor.as_bytes())
                .put(b" ")
                .put(test.name.as_bytes())
                .put(b" ")
                .number(test.points)
                .put(b" ")
                .put(test.description.as_bytes())
                .put(b"\n");
            j += 1;
        }
        i += 1;
    }
    w = w.put(END);
    if w.at != N {
        panic!("the plan's length was computed wrongly");
    }
    w.buf
}

/// The section itself. `#[used]` keeps it through rustc, kernel.ld's KEEP
/// through the linker, which places it outside every loaded segment.
#[cfg(target_os = "none")]
#[used]
#[unsafe(link_section = ".syslab_plan")]
static PLAN: [u8; encoded_len(super::LISTS)] = encode(super::LISTS);

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::String;

    fn ok() -> Result<String, String> {
        Ok(String::new())
    }

    static ONE: &[Test] = &[
        Test {
            name: "lab1.a",
            points: 5,
            description: "first",
            run: ok,
        },
        Test {
            name: "lab1.bb",
            points: 120,
            description: "second, with spaces",
            run: ok,
        },
    ];
    static TWO: &[Test] = &[Test {
        name: "lab2.c",
        points: 0,
        description: "",
        run: ok,
    }];
    static LISTS: &[List] = &[
        List {
            lab: "lab1",
            vendor: "any",
            tests: ONE,
        },
        List {
            lab: "lab2",
            vendor: "intel",
            tests: TWO,
        },
    ];
    const LEN: usize = encoded_len(LISTS);
    static ENCODED: [u8; LEN] = encode(LISTS);

    #[test]
    fn the_encoding_is_one_line_per_test_between_magic_and_end() {
        assert_eq!(
            core::str::from_utf8(&ENCODED).unwrap(),
            "syslab-plan 1\n\
             test lab1 any lab1.a 5 first\n\
             test lab1 any lab1.bb 120 second, with spaces\n\
             test lab2 intel lab2.c 0 \n\
             end\n"
        );
    }

    #[test]
    fn digits_of_points() {
        assert_eq!(
            (digits(0), digits(9), digits(10), digits(u32::MAX)),
            (1, 1, 2, 10)
        );
    }
}
