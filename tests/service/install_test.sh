#!/usr/bin/env bash
# `meson install --destdir` puts the three files of the service in place: the binary in
# <prefix>/<bindir>, ringway.service in the unit directory with ExecStart naming that
# binary and the installed configuration, and the configuration (examples/quickstart.json,
# whose admin listener is on 127.0.0.1:9901) in the config directory. The installed unit
# passes `systemd-analyze verify` (with its binary path moved into the destdir) and the
# installed configuration passes `ringway check`.
# Environment (from tests/service/meson.build): MESON, BUILD_ROOT, BINDIR, UNIT_DIR,
# CONFIG_DIR, VERIFY_UNIT.
set -euo pipefail
fail() { echo "install_test: $*" >&2; exit 1; }
dest=$(mktemp -d)
trap 'rm -rf "$dest"' EXIT
"$MESON" install -C "$BUILD_ROOT" --no-rebuild --skip-subprojects --destdir "$dest" --quiet ||
  fail "meson install --destdir failed"
bin=$dest$BINDIR/ringway
unit=$dest$UNIT_DIR/ringway.service
config=$dest$CONFIG_DIR/ringway.json
[ -x "$bin" ] || fail "no executable $bin"
[ -f "$unit" ] || fail "no unit $unit"
[ -f "$config" ] || fail "no configuration $config"
grep -qxF "ExecStart=$BINDIR/ringway serve -c $CONFIG_DIR/ringway.json" "$unit" ||
  fail "$unit: ExecStart does not name $BINDIR/ringway and $CONFIG_DIR/ringway.json"
grep -q '@[A-Z_]*@' "$unit" && fail "$unit: a placeholder was left: $(grep '@[A-Z_]*@' "$unit")"
grep -qF '"admin": { "address": "127.0.0.1:9901" }' "$config" ||
  fail "$config: no admin listener on 127.0.0.1:9901"
# systemd-analyze verify --root would look for sysinit.target and /bin/kill under the
# destdir too: verify a copy whose binary path points into the destdir instead.
mkdir "$dest/verify"
sed "s|$BINDIR/ringway|$bin|g" "$unit" > "$dest/verify/ringway.service"
bash "$VERIFY_UNIT" "$dest/verify/ringway.service"
# The configuration must pass as installed.
out=$("$bin" check -c "$config" 2>&1) || fail "ringway check -c $config: $out"
echo "install_test: ok ($BINDIR/ringway, $UNIT_DIR/ringway.service, $CONFIG_DIR/ringway.json)"
