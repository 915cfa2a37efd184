# Sourced by the VM tier's scripts (fetch-kernels.sh, field/payload.sh): where downloaded kernels and programs
# are kept. ENOSPCD_VM_CACHE, else $XDG_CACHE_HOME/enospcd-vm, else /var/cache/enospcd-vm where writable, else
# ~/.cache/enospcd-vm.
default_cache_dir() {
  if [[ -n ${ENOSPCD_VM_CACHE:-} ]]; then
    echo "$ENOSPCD_VM_CACHE"
  elif [[ -n ${XDG_CACHE_HOME:-} ]]; then
    echo "$XDG_CACHE_HOME/enospcd-vm"
  elif [[ -w /var/cache ]]; then
    echo /var/cache/enospcd-vm
  else
    echo "${HOME:?}/.cache/enospcd-vm"
  fi
}
