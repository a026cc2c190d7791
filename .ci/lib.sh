# Shared by the .ci/ setup scripts (sourced, not run).

# apt_install PACKAGE...: on a bare Debian machine, install missing system
# packages when we may (root + apt-get); the README lists every package the
# test setup may install this way. Fails quietly otherwise.
apt_install() {
  [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null || return 1
  echo "[$(basename "$0")] installing $* with apt-get" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -q --no-install-recommends "$@" >/dev/null 2>&1 \
    || { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q --no-install-recommends "$@" >/dev/null; }
}
