#!/usr/bin/env bash
# The lab book's CI check. It fails if
#   1. an {{#include}} names a file or an ANCHOR that does not exist;
#   2. `mdbook build book` fails or prints any WARN or ERROR line. The build
#      also runs mdbook-linkcheck2 (a backend in book.toml), so a broken link
#      or a missing image fails here too;
#   3. `mdbook test book` fails (it compiles and runs the book's runnable
#      Rust examples; kernel code is marked `ignore`);
#   4. the browser check fails (book/check/browser.mjs): every page opened in
#      headless Chromium, with no console errors, every figure loaded, every
#      #anchor found. It saves screenshots of the book's figures in
#      target/book-screenshots/ (gdt, ktrap-frame, sysenter-path, two-cpus,
#      syscall-swapgs, bench-intel, bench-amd: NAME.png with the page,
#      NAME-figure.png alone).
#
# It assumes these are installed. CI installs them with (versions pinned):
#   cargo install --locked mdbook@0.5.4
#   cargo install --locked mdbook-linkcheck2@0.13.0
#   apt-get install -y chromium nodejs   # Node >= 18. NodeSource's nodejs
#                                        # includes npm; with Debian 12's own
#                                        # nodejs (18.19), also install npm.
# The browser check's npm package (playwright-core, pinned exactly in
# book/check/package-lock.json) is installed by this script with `npm ci`
# when book/check/node_modules lacks it.
#
# Usage: book/check.sh   (from any directory)
# Logs: target/book-check/{build,test,browser}.log

set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
repo=$PWD
logs=$repo/target/book-check
mkdir -p "$logs"

fail() {
    echo "book/check.sh: FAIL: $*" >&2
    exit 1
}

step_start=0
step() {
    step_start=$(date +%s.%N)
    echo "==> $*"
}
step_done() {
    local now
    now=$(date +%s.%N)
    awk -v a="$now" -v b="$step_start" 'BEGIN { printf "    ok (%.1f s)\n", a - b }'
}

# Strips colour codes, so that the WARN/ERROR match works on any terminal.
plain() {
    sed 's/\x1b\[[0-9;]*m//g'
}

total_start=$(date +%s.%N)

# ---------------------------------------------------------------------------
step "tools"
command -v mdbook >/dev/null || fail "mdbook is not installed: cargo install --locked mdbook@0.5.4"
command -v mdbook-linkcheck2 >/dev/null \
    || fail "mdbook-linkcheck2 is not installed: cargo install --locked mdbook-linkcheck2@0.13.0"
command -v node >/dev/null || fail "node is not installed: apt-get install -y nodejs"
command -v npm >/dev/null || fail "npm is not installed: apt-get install -y npm"
chromium=${CHROMIUM:-/usr/bin/chromium}
[ -x "$chromium" ] || fail "no Chromium at $chromium: apt-get install -y chromium (or set CHROMIUM)"
mdbook_version=$(mdbook --version)
case "$mdbook_version" in
    "mdbook v0.5."*) ;;
    *) fail "this book needs mdbook 0.5.x, found: $mdbook_version" ;;
esac
echo "    $mdbook_version, $(mdbook-linkcheck2 --version), node $(node --version)"
step_done

# ---------------------------------------------------------------------------
step "includes and anchors"
# mdbook reports a missing file but silently includes nothing for a missing
# anchor, so check both here. Forms: {{#include PATH}}, {{#include PATH:ANCHOR}},
# {{#include PATH:START:END}} (and the same for rustdoc_include/playground).
bad=0
count=0
while IFS= read -r hit; do
    md=${hit%%:*}
    directive=${hit#*:}
    arg=$(printf '%s' "$directive" | sed -E 's/^\{\{#(include|rustdoc_include|playground)[[:space:]]+//; s/\}\}$//; s/[[:space:]].*$//')
    target=${arg%%:*}
    rest=
    [ "$target" != "$arg" ] && rest=${arg#*:}
    file=$(dirname "$md")/$target
    count=$((count + 1))
    if [ ! -f "$file" ]; then
        echo "    $md: included file not found: $target" >&2
        bad=1
        continue
    fi
    # A line range (N, N:M, :M, N:) needs only the file; anything else is an anchor.
    if [ -n "$rest" ] && ! printf '%s' "$rest" | grep -Eq '^[0-9]*(:[0-9]*)?$'; then
        anchor=${rest%%:*}
        if ! grep -Eq "ANCHOR:[[:space:]]*${anchor}([^A-Za-z0-9_-]|$)" "$file" \
            || ! grep -Eq "ANCHOR_END:[[:space:]]*${anchor}([^A-Za-z0-9_-]|$)" "$file"; then
            echo "    $md: no ANCHOR/ANCHOR_END '$anchor' in $target" >&2
            bad=1
        fi
    fi
done < <(grep -rnoE '\{\{#(include|rustdoc_include|playground)[[:space:]][^}]*\}\}' book/src --include='*.md' \
    | sed -E 's/^([^:]*):[0-9]+:/\1:/')
[ "$bad" = 0 ] || fail "broken includes (above)"
echo "    $count include(s) checked"
step_done

# ---------------------------------------------------------------------------
step "mdbook build book (html + linkcheck2), no warnings"
rm -rf book/book
if ! mdbook build book > "$logs/build.log" 2>&1; then
    plain < "$logs/build.log" >&2
    fail "mdbook build failed"
fi
if plain < "$logs/build.log" | grep -Eq '^[[:space:]]*(WARN|ERROR)[[:space:]]|^(warning|error)(\[|:)'; then
    plain < "$logs/build.log" | grep -E '^[[:space:]]*(WARN|ERROR)|^(warning|error)' >&2
    fail "mdbook build printed warnings or errors (full log: $logs/build.log)"
fi
plain < "$logs/build.log" | grep -q 'Running the linkcheck2 backend' \
    || fail "the link check did not run (is mdbook-linkcheck2 on PATH?)"
[ -f book/book/html/index.html ] || fail "no HTML in book/book/html"
step_done

# ---------------------------------------------------------------------------
step "mdbook test book"
if ! mdbook test book > "$logs/test.log" 2>&1; then
    plain < "$logs/test.log" >&2
    fail "mdbook test failed"
fi
if plain < "$logs/test.log" | grep -Eq '^[[:space:]]*(WARN|ERROR)[[:space:]]'; then
    plain < "$logs/test.log" | grep -E '^[[:space:]]*(WARN|ERROR)' >&2
    fail "mdbook test printed warnings or errors (full log: $logs/test.log)"
fi
echo "    $(grep -rhE '^```rust[[:space:]]*$' book/src --include='*.md' | wc -l) runnable example(s) compiled and run"
step_done

# ---------------------------------------------------------------------------
step "browser check (headless Chromium)"
if [ ! -f book/check/node_modules/playwright-core/package.json ]; then
    npm ci --prefix book/check --no-audit --no-fund --loglevel=error
fi
if ! CHROMIUM=$chromium node book/check/browser.mjs book/book/html target/book-screenshots \
    > "$logs/browser.log" 2>&1; then
    cat "$logs/browser.log" >&2
    fail "browser check failed"
fi
sed 's/^/    /' "$logs/browser.log"
step_done

awk -v a="$(date +%s.%N)" -v b="$total_start" 'BEGIN { printf "book/check.sh: all checks passed in %.0f s\n", a - b }'
