#!/usr/bin/env bash
# Checks a ringway.service with `systemd-analyze verify`: the unit must load with no
# message at all about it (unknown keys and bad values are only warnings, exit 0, so the
# output is checked too) and its ExecStart binary must exist. Works without a running
# systemd (in a container or chroot): verify loads the unit in a private manager.
# Usage: verify_unit.sh UNIT_FILE [extra systemd-analyze arguments, e.g. --root=DIR]
set -uo pipefail
unit=$1; shift
analyze=${SYSTEMD_ANALYZE:-systemd-analyze}
if ! command -v "$analyze" >/dev/null; then
  echo "verify_unit: $analyze not found: install the systemd package (bash tools/setup --test)" >&2
  exit 1
fi
out=$("$analyze" verify "$@" "$unit" 2>&1)
rc=$?
name=$(basename "$unit")
# Messages about other units (a host's own broken units) are not ours.
ours=$(printf '%s\n' "$out" | grep -F -e "$name" -e "$unit" || true)
if [ $rc -ne 0 ] || [ -n "$ours" ]; then
  echo "verify_unit: systemd-analyze verify $* $unit: exit $rc" >&2
  printf '%s\n' "$out" >&2
  exit 1
fi
echo "verify_unit: $unit: ok"
