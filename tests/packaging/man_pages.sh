#!/usr/bin/env bash
# The man pages render without a single groff/man warning, and document every option and command that the
# binaries' --help lists (so that a new option cannot ship undocumented).
# Usage: man_pages.sh ENOSPCD ENOSPCCTL
set -euo pipefail
. "$(dirname "$0")/lib.sh"

(($# == 2)) || die "usage: $prog ENOSPCD ENOSPCCTL"
daemon=$1 client=$2
need_cmd man man-db
for b in "$daemon" "$client"; do [[ -x $b ]] || die "$b is not built"; done

# Lint the way Debian's lintian does: any message on stderr is a defect.
lint() { # page
  local warnings
  warnings=$(LC_ALL=C.UTF-8 MANROFFSEQ='' MANWIDTH=80 man --warnings -E UTF-8 -l -Tutf8 -Z "$1" 2>&1 >/dev/null)
  [[ -z $warnings ]] || die "$(basename "$1") has roff warnings:
$warnings"
}

# Options listed by a CLI11 --help: "  -o,--output TEXT ..." -> -o --output.
options_of() { # help text on stdin
  grep -E '^ {2}-' | sed -E 's/^ +//; s/ .*//' | tr ',' '\n' | grep -E '^--?[a-z]'
}

# The page mentions the option as roff writes it (every "-" escaped as "\-").
documents_option() { # page option
  local roff=${2//-/\\-}
  grep -qF -- "$roff" "$1"
}

missing=()
check_options() { # page help_text what
  local opt
  while read -r opt; do
    documents_option "$1" "$opt" || missing+=("$3 $opt")
  done < <(options_of <<<"$2")
}

daemon_page=$packaging_src/man/enospcd.8
client_page=$packaging_src/man/enospcctl.1
lint "$daemon_page"
lint "$client_page"

check_options "$daemon_page" "$("$daemon" --help)" "enospcd"
client_help=$("$client" --help)
check_options "$client_page" "$client_help" "enospcctl"

# Commands: from the "Subcommands:" section; each must be a tagged paragraph of COMMANDS, and its options
# must be documented too.
commands=$(sed -n '/^Subcommands:/,$p' <<<"$client_help" | sed -n -E 's/^ {2}([a-z]+) .*/\1/p')
[[ -n $commands ]] || die "could not read the commands from enospcctl --help"
rendered=$(LC_ALL=C.UTF-8 MANWIDTH=200 man -l -Tutf8 "$client_page" 2>/dev/null | col -b)
for c in $commands; do
  grep -qE "^ {7}$c( |$)" <<<"$rendered" || missing+=("enospcctl command $c")
  check_options "$client_page" "$("$client" "$c" --help 2>/dev/null || true)" "enospcctl $c"
done

# Sections a man page of this kind must have.
for page in "$daemon_page" "$client_page"; do
  for section in NAME SYNOPSIS DESCRIPTION FILES "EXIT STATUS" EXAMPLES "SEE ALSO"; do
    grep -qE "^\.SH \"?$section\"?$" "$page" || missing+=("$(basename "$page") section $section")
  done
done

if ((${#missing[@]})); then
  printf '  %s\n' "${missing[@]}" >&2
  die "${#missing[@]} options, commands or sections are not documented in packaging/man (list above)"
fi
say "ok: both pages lint clean and document $(options_of <<<"$("$daemon" --help)" | wc -l) daemon options" \
  "and $(wc -w <<<"$commands") client commands"
