#!/usr/bin/env bash
# The shell completions of enospcctl know every command and option that enospcctl --help lists (so that a new
# one cannot ship without completion), and bash completion offers them where they belong.
# Usage: completion.sh ENOSPCCTL
set -euo pipefail
. "$(dirname "$0")/lib.sh"

(($# == 1)) || die "usage: $prog ENOSPCCTL"
client=$1
[[ -x $client ]] || die "$client is not built"
need_cmd zsh
bash_file=$packaging_src/completion/enospcctl.bash
zsh_file=$packaging_src/completion/_enospcctl

options_of() { # CLI11 --help on stdin -> one option per line
  grep -E '^ {2}-' | sed -E 's/^ +//; s/ .*//' | tr ',' '\n' | grep -E '^--?[a-z]'
}

missing=()
bash -n "$packaging_src/completion/enospcctl.bash" || missing+=("bash: syntax")
zsh -n "$packaging_src/completion/_enospcctl" || missing+=("zsh: syntax")
help=$("$client" --help)
commands=$(sed -n '/^Subcommands:/,$p' <<<"$help" | sed -n -E 's/^ {2}([a-z]+) .*/\1/p')
[[ -n $commands ]] || die "could not read the commands from enospcctl --help"

# Completion candidates from the bash function, as the shell would ask for them.
complete_bash() { # words...
  bash -c '. "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _enospcctl; printf "%s\n" "${COMPREPLY[@]}"' \
    _ "$bash_file" enospcctl "$@"
}

offered=$(complete_bash "")
for c in $commands; do
  grep -qx -- "$c" <<<"$offered" || missing+=("bash: command $c")
  grep -q -- "'$c:" "$zsh_file" || missing+=("zsh: command $c")
  sub_help=$("$client" "$c" --help)
  offered_opts=$(complete_bash "$c" "-")
  while read -r opt; do
    [[ -n $opt ]] || continue
    grep -qx -- "$opt" <<<"$offered_opts" || missing+=("bash: $c $opt")
    grep -qF -- "$opt" "$zsh_file" || missing+=("zsh: $c $opt")
  done < <(options_of <<<"$help"$'\n'"$sub_help" | sort -u)
done
[[ $(complete_bash -o "") == $'table\nwide\njson' ]] || missing+=("bash: values of -o")
[[ $(complete_bash events --cause tmpfs_i) == tmpfs_inodes ]] || missing+=("bash: values of --cause")
[[ $(complete_bash --socket /tmp/x -o json sta) == status ]] || missing+=("bash: command after global options")
# Every cause id of the daemon's table (src/model/cause.cpp) is a value of --cause.
causes=$(sed -n -E 's/^ *\{CauseId::[A-Za-z]+, "([a-z_]+)"\},?$/\1/p' "$packaging_src/../src/model/cause.cpp")
[[ $(wc -w <<<"$causes") -ge 20 ]] || die "could not read the cause ids from src/model/cause.cpp"
offered_causes=$(complete_bash events --cause "")
for c in $causes; do
  grep -qx -- "$c" <<<"$offered_causes" || missing+=("bash: cause $c")
  grep -qw -- "$c" "$zsh_file" || missing+=("zsh: cause $c")
done

if ((${#missing[@]})); then
  printf '  %s\n' "${missing[@]}" >&2
  die "${#missing[@]} commands or options are not completed (list above)"
fi
say "ok: bash and zsh complete $(wc -w <<<"$commands") commands and their options"
