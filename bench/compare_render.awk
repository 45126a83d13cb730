# bench/compare's report: reads the runs ("scenario target run rps p50_us p99_us cpu_us
# rss_kib errors"), the idle figures ("target rss_before held open") and the validation runs
# ("target scenario tool run rps"); prints medians as the table (mode=table) or as JSON
# (mode=json). Plain POSIX awk (Debian's mawk): no gawk extensions.

BEGIN {
  ns = split(order, scen, " ")
  nt = split("direct ringway nginx haproxy", tgt, " ")
}

{  # one run: collect each figure; errors are summed over the runs
  k = $1 SUBSEP $2
  have[k] = 1
  for (f = 4; f <= 8; f++) {
    n[k, f]++
    vals[k SUBSEP f, n[k, f]] = $f
  }
  err[k] += $9
}

END {
  for (k in have) {
    rps[k] = median(k SUBSEP 4, n[k, 4]); p50[k] = median(k SUBSEP 5, n[k, 5])
    p99[k] = median(k SUBSEP 6, n[k, 6]); cpu[k] = median(k SUBSEP 7, n[k, 7])
    rss[k] = median(k SUBSEP 8, n[k, 8])
  }
  while ((getline line < idlefile) > 0) {
    split(line, a, " ")
    idle[++ni] = a[1]; ibefore[a[1]] = a[2]; iheld[a[1]] = a[3]; iopen[a[1]] = a[4]
  }
  while ((getline line < validatefile) > 0) {
    split(line, a, " ")
    vk = a[1] SUBSEP a[2] SUBSEP a[3]
    vn[vk]++; vals[vk, vn[vk]] = a[5] + 0
    if (!((a[1] SUBSEP a[2]) in vseen)) {
      vseen[a[1] SUBSEP a[2]] = 1
      vorder[++nv] = a[1] SUBSEP a[2]
    }
  }
  if (mode == "json") json(); else table()
}

function ratio(a, b) { return (a == "-" || b == "-" || b + 0 == 0) ? "-" : sprintf("%.2f", a / b) }

# The better (lower) of NGINX's and HAProxy's figure for scenario s, from array m.
function best_peer(m, s,   n, h) {
  n = m[s SUBSEP "nginx"]; h = m[s SUBSEP "haproxy"]
  if (n == "-" || n == "") return h
  if (h == "-" || h == "") return n
  return n + 0 < h + 0 ? n : h
}

# Median of vals[key, 1..c]; "-" when the figure does not apply (no proxy to measure).
function median(key, c,   i, j, x, a) {
  if (c == 0 || vals[key, 1] == "-") return "-"
  for (i = 1; i <= c; i++) a[i] = vals[key, i] + 0
  for (i = 2; i <= c; i++) {
    x = a[i]
    for (j = i - 1; j >= 1 && a[j] > x; j--) a[j + 1] = a[j]
    a[j + 1] = x
  }
  return c % 2 ? a[(c + 1) / 2] : (a[c / 2] + a[c / 2 + 1]) / 2
}

function ratios_line(s,   r) {
  r = s SUBSEP "ringway"
  return sprintf("ringway/nginx %s  ringway/haproxy %s  ringway/direct %s  " \
                 "cpu ringway/best-peer %s  p99 ringway/best-peer %s",
                 ratio(rps[r], rps[s SUBSEP "nginx"]), ratio(rps[r], rps[s SUBSEP "haproxy"]),
                 ratio(rps[r], rps[s SUBSEP "direct"]), ratio(cpu[r], best_peer(cpu, s)),
                 ratio(p99[r], best_peer(p99, s)))
}

function table(   i, j, k, t, first) {
  printf "ringway vs NGINX vs HAProxy vs direct: median of %d runs of %d s, interleaved;\n",
         runs, dur
  printf "proxy under test on CPU %d, load generator + backend on CPU %d\n", pcpu, lcpu
  printf "machine: %s\n\n", machine
  printf "%-10s %-8s %10s %8s %8s %11s %8s %7s\n", "scenario", "target", "req/s", "p50 ms",
         "p99 ms", "cpu us/req", "RSS MiB", "errors"
  for (i = 1; i <= ns; i++) {
    first = 1
    for (j = 1; j <= nt; j++) {
      k = scen[i] SUBSEP tgt[j]
      if (!(k in have)) continue
      printf "%-10s %-8s %10.0f %8.3f %8.3f %11s %8s %7d\n", (first ? scen[i] : ""), tgt[j],
             rps[k], p50[k] / 1000, p99[k] / 1000, cpu[k],
             (rss[k] == "-" ? "-" : sprintf("%.1f", rss[k] / 1024)), err[k]
      first = 0
    }
    if (!first) printf "%-10s %s\n", "", ratios_line(scen[i])
  }
  if (ni > 0) {
    printf "\nidle keep-alive connections (one request each, then held): proxy RSS\n"
    for (i = 1; i <= ni; i++) {
      t = idle[i]
      printf "  %-8s %7.1f MiB -> %7.1f MiB held, %6d open, %+.2f KiB per connection\n", t,
             ibefore[t] / 1024, iheld[t] / 1024, iopen[t],
             (iopen[t] > 0 ? (iheld[t] - ibefore[t]) / iopen[t] : 0)
    }
    if (("ringway" in iheld) && ("nginx" in iheld))
      printf "  held RSS ringway/nginx %s\n", ratio(iheld["ringway"], iheld["nginx"])
  }
  if (nv > 0) {
    printf "\nload generator validation (median req/s, 64 connections, same targets)\n"
    for (i = 1; i <= nv; i++) {
      split(vorder[i], a, SUBSEP)
      w = vorder[i] SUBSEP "wrk"; l = vorder[i] SUBSEP "ringway-load"
      w = median(w, vn[w]); l = median(l, vn[l])
      printf "  %-8s %-9s wrk %9.0f  ringway-load %9.0f  ringway-load/wrk %s\n", a[1], a[2],
             w, l, ratio(l, w)
    }
  }
}

function num(v) { return (v == "-" || v == "") ? "null" : v + 0 }

function json(   i, j, k, t, sep) {
  printf "{\"machine\":\"%s\",\"runs\":%d,\"duration_s\":%d,\"proxy_cpu\":%d,\"load_cpu\":%d,",
         machine, runs, dur, pcpu, lcpu
  printf "\"rows\":["
  sep = ""
  for (i = 1; i <= ns; i++) for (j = 1; j <= nt; j++) {
    k = scen[i] SUBSEP tgt[j]
    if (!(k in have)) continue
    printf "%s{\"scenario\":\"%s\",\"target\":\"%s\",\"rps\":%s,\"p50_us\":%s,\"p99_us\":%s," \
           "\"cpu_us_per_req\":%s,\"rss_kib\":%s,\"errors\":%d}", sep, scen[i], tgt[j],
           num(rps[k]), num(p50[k]), num(p99[k]), num(cpu[k]), num(rss[k]), err[k]
    sep = ","
  }
  printf "],\"ratios\":["
  sep = ""
  for (i = 1; i <= ns; i++) {
    k = scen[i] SUBSEP "ringway"
    if (!(k in have)) continue
    printf "%s{\"scenario\":\"%s\",\"ringway_nginx\":%s,\"ringway_haproxy\":%s," \
           "\"ringway_direct\":%s,\"cpu_ringway_best_peer\":%s,\"p99_ringway_best_peer\":%s}",
           sep, scen[i], num(ratio(rps[k], rps[scen[i] SUBSEP "nginx"])),
           num(ratio(rps[k], rps[scen[i] SUBSEP "haproxy"])),
           num(ratio(rps[k], rps[scen[i] SUBSEP "direct"])),
           num(ratio(cpu[k], best_peer(cpu, scen[i]))), num(ratio(p99[k], best_peer(p99, scen[i])))
    sep = ","
  }
  printf "],\"idle\":["
  for (i = 1; i <= ni; i++) {
    t = idle[i]
    printf "%s{\"target\":\"%s\",\"rss_before_kib\":%d,\"rss_held_kib\":%d,\"open\":%d}",
           (i > 1 ? "," : ""), t, ibefore[t], iheld[t], iopen[t]
  }
  printf "],\"validation\":["
  for (i = 1; i <= nv; i++) {
    split(vorder[i], a, SUBSEP)
    w = vorder[i] SUBSEP "wrk"; l = vorder[i] SUBSEP "ringway-load"
    printf "%s{\"target\":\"%s\",\"scenario\":\"%s\",\"wrk_rps\":%s,\"ringway_load_rps\":%s}",
           (i > 1 ? "," : ""), a[1], a[2], median(w, vn[w]), median(l, vn[l])
  }
  printf "]}\n"
}
