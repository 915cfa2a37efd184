# bash completion for enospcctl(1): commands, options, option values, cause ids.
_enospcctl() {
  local cur prev words cword
  if declare -F _init_completion >/dev/null; then
    _init_completion || return
  else
    cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]} words=("${COMP_WORDS[@]}") cword=$COMP_CWORD
  fi

  local commands="status events top explain diagnosis doctor watch metrics reset"
  local global="--socket -o --output -v --verbose -h --help --version"
  local filters="--since --until --pid --comm --container --syscall --cause"
  local causes="mount_max tmpfs_inodes tmpfs_blocks fs_blocks fs_inodes fs_reserved_blocks quota inotify_watches
    fanotify_marks epoll_watches namespace_limit sysv_ipc mqueue xattr_space writeback_error device pty bpf directory_index cpuset cgroup_ids unknown"

  case $prev in
    -o | --output)
      mapfile -t COMPREPLY < <(compgen -W "table wide json" -- "$cur")
      return ;;
    --socket)
      mapfile -t COMPREPLY < <(compgen -f -- "$cur")
      return ;;
    --cause)
      mapfile -t COMPREPLY < <(compgen -W "$causes" -- "$cur")
      return ;;
    --since | --until | --pid | --comm | --container | --syscall | --limit)
      return ;;
  esac

  # The command is the first word that is neither an option nor the value of --socket or -o.
  local i command=""
  for ((i = 1; i < cword; i++)); do
    case ${words[i]} in
      --socket | -o | --output) ((i++)) ;;
      -*) ;;
      *) command=${words[i]}; break ;;
    esac
  done

  local options=$global
  case $command in
    "") options="$global"
        if [[ $cur != -* ]]; then
          mapfile -t COMPREPLY < <(compgen -W "$commands" -- "$cur")
          return
        fi ;;
    events) options="$global $filters --limit -f --follow" ;;
    top) options="$global $filters --limit" ;;
    watch) options="$global $filters" ;;
  esac
  mapfile -t COMPREPLY < <(compgen -W "$options" -- "$cur")
}
complete -F _enospcctl enospcctl
