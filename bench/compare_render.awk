# bench/compare's report: reads the runs ("scenario target run rps p50_us p99_us cpu_us
# rss_kib errors cores load_busy_pct"), the idle figures ("target rss_before held open", plain and TLS),
# the validation runs ("target scenario tool run rps"), the failures ("scope target reason":
# scope * for every row, tls for the tls-* rows, or one scenario) and the negotiated TLS
# parameters ("target protocol cipher group resumes"); prints medians as the table
# (mode=table) or as JSON (mode=json). Plain POSIX awk (Debian's mawk): no gawk extensions.

BEGIN {
  ns = split(order, scen, " ")
  for (i = 1; i <= ns; i++) inorder[scen[i]] = 1
  nt = split("direct ringway ringway2 floor nginx haproxy", tgt, " ")
  split(tgts, sel, " ")
  for (i in sel) selected[sel[i]] = 1
  nc = split(caps, capv, " ")
  for (i = 1; i <= nc; i++) {
    split(capv[i], a, "=")
    cap[a[1]] = a[2]
  }
}

{  # one run: collect each figure; errors are summed over the runs
  k = $1 SUBSEP $2
  have[k] = 1
  for (f = 4; f <= 11; f++) {
    if (f == 9) continue
    n[k, f]++
    vals[k SUBSEP f, n[k, f]] = (f >= 10 && NF < f) ? "-" : $f
  }
  err[k] += $9
}

END {
  for (k in have) {
    rps[k] = median(k SUBSEP 4, n[k, 4]); p50[k] = median(k SUBSEP 5, n[k, 5])
    p99[k] = median(k SUBSEP 6, n[k, 6]); cpu[k] = median(k SUBSEP 7, n[k, 7])
    rss[k] = median(k SUBSEP 8, n[k, 8]); cores[k] = median(k SUBSEP 10, n[k, 10])
    lbusy[k] = maxof(k SUBSEP 11, n[k, 11])
  }
  while ((getline line < idlefile) > 0) {
    split(line, a, " ")
    idle[++ni] = a[1]; ibefore[a[1]] = a[2]; iheld[a[1]] = a[3]; iopen[a[1]] = a[4]
  }
  while ((getline line < tlsidlefile) > 0) {
    split(line, a, " ")
    tidle[++nti] = a[1]; tbefore[a[1]] = a[2]; theld[a[1]] = a[3]; topen[a[1]] = a[4]
  }
  while ((getline line < failedfile) > 0) {
    split(line, a, " ")
    r = line
    sub(/^[^ ]+ [^ ]+ /, "", r)
    fk = a[1] SUBSEP a[2]
    if (!(fk in fail)) forder[++nf] = fk
    fail[fk] = r
    nfail[fk]++
    if (a[1] == "tls-idle") tidlefail = 1
  }
  while ((getline line < tlsinfofile) > 0) {
    split(line, a, " ")
    tinfo[++ntl] = a[1]; tproto[a[1]] = a[2]; tcipher[a[1]] = a[3]; tgroup[a[1]] = a[4]
    tresume[a[1]] = a[5]
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
  for (i = 1; i <= ns; i++) if (scen[i] ~ /^tls-/) tls = 1
  if (mode == "json") json(); else table()
}

# Whether target t is measured in scenario s (bench/compare's applies()).
function applies(s, t) {
  if (s ~ /^tls-/) return t == "ringway" || t == "nginx" || t == "haproxy"
  if (s ~ /^feat-/) return t == "ringway"
  return 1
}

# The highest of vals[key, 1..c] ("-" if none): a row is rig-bound if any run was.
function maxof(key, c,   i, m) {
  if (c == 0 || vals[key, 1] == "-") return "-"
  m = vals[key, 1] + 0
  for (i = 2; i <= c; i++) if (vals[key, i] + 0 > m) m = vals[key, i] + 0
  return m
}
# Over 80% busy, the load CPU (load generator + backend) may be what limits req/s.
function rig_bound(k) { return lbusy[k] != "-" && lbusy[k] + 0 > 80 }

function ratio(a, b) { return (a == "-" || b == "-" || a == "" || b == "" || b + 0 == 0) ? "-" \
  : sprintf("%.2f", a / b) }

# The better (lower) of NGINX's and HAProxy's figure for scenario s, from array m.
function best_peer(m, s,   n, h) {
  n = m[s SUBSEP "nginx"]; h = m[s SUBSEP "haproxy"]
  if (n == "-" || n == "") return h
  if (h == "-" || h == "") return n
  return n + 0 < h + 0 ? n : h
}
# The better (higher) of NGINX's and HAProxy's req/s for scenario s.
function best_peer_hi(m, s,   n, h) {
  n = m[s SUBSEP "nginx"]; h = m[s SUBSEP "haproxy"]
  if (n == "-" || n == "") return h
  if (h == "-" || h == "") return n
  return n + 0 > h + 0 ? n : h
}
# Which peer has figure v in scenario s.
function peer_of(m, s, v) {
  if (v == "" || v == "-") return ""
  return m[s SUBSEP "nginx"] == v ? "nginx" : "haproxy"
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

# Why target t has no row in scenario s ("" if no failure was recorded).
function why(s, t) {
  if ((s SUBSEP t) in fail) return fail[s, t]
  if (s ~ /^tls-/ && (("tls" SUBSEP t) in fail)) return fail["tls", t]
  if (("*" SUBSEP t) in fail) return fail["*", t]
  return ""
}

function ratios_line(s,   r) {
  r = s SUBSEP "ringway"
  if (s ~ /^tls-/)
    return sprintf("ringway/best-peer: req/s %s  cpu %s  p50 %s  p99 %s  RSS %s " \
                   "(best of nginx and haproxy)", ratio(rps[r], best_peer_hi(rps, s)),
                   ratio(cpu[r], best_peer(cpu, s)), ratio(p50[r], best_peer(p50, s)),
                   ratio(p99[r], best_peer(p99, s)), ratio(rss[r], best_peer(rss, s)))
  if (s ~ /^feat-/)
    return sprintf("against ringway's ka-13B of this run: req/s %s  cpu us/req %s  p99 %s",
                   ratio(rps[r], rps["ka-13B" SUBSEP "ringway"]),
                   ratio(cpu[r], cpu["ka-13B" SUBSEP "ringway"]),
                   ratio(p99[r], p99["ka-13B" SUBSEP "ringway"]))
  return sprintf("ringway/nginx %s  ringway/haproxy %s  ringway/direct %s  " \
                 "cpu ringway/best-peer %s  p99 ringway/best-peer %s\n%-13s " \
                 "cpu ringway/floor %s  req/s ringway2/ringway %s",
                 ratio(rps[r], rps[s SUBSEP "nginx"]), ratio(rps[r], rps[s SUBSEP "haproxy"]),
                 ratio(rps[r], rps[s SUBSEP "direct"]), ratio(cpu[r], best_peer(cpu, s)),
                 ratio(p99[r], best_peer(p99, s)), "", ratio(cpu[r], cpu[s SUBSEP "floor"]),
                 ratio(rps[s SUBSEP "ringway2"], rps[r]))
}

# pre cap post when scenario s ran capped, else "".
function capped(s, pre, post) {
  return (cap[s] != "" && cap[s] != "none") ? pre cap[s] post : ""
}

function mib(v) { return (v == "-" || v == "") ? "-" : sprintf("%.1f", v / 1024) }

# The TLS bars: name, ringway's figure, the better peer's, which peer, ratio (ringway/peer).
function bars(   s, k, r, b) {
  nb = 0
  s = "tls-close-13B"; k = s SUBSEP "ringway"
  bar(s, "full handshakes/s (tls-close-13B req/s)", (k in have) ? rps[k] : "",
      best_peer_hi(rps, s), peer_of(rps, s, best_peer_hi(rps, s)), "%.0f")
  # The same from the CPU each handshake cost: holds when the load generator, not the
  # capped proxy, limits req/s.
  bar(s, "full handshakes per CPU-second (1e6 / cpu us/req)",
      (k in have && cpu[k] != "-") ? 1e6 / cpu[k] : "", per_sec(best_peer(cpu, s)),
      peer_of(cpu, s, best_peer(cpu, s)), "%.0f")
  s = "tls-ka-13B"; k = s SUBSEP "ringway"
  bar(s, "HTTPS keep-alive 13 B, cpu us/req", (k in have) ? cpu[k] : "",
      best_peer(cpu, s), peer_of(cpu, s, best_peer(cpu, s)), "%.2f")
  s = "tls-ka-64KiB"; k = s SUBSEP "ringway"
  bar(s, "HTTPS keep-alive 64 KiB req/s", (k in have) ? rps[k] : "",
      best_peer_hi(rps, s), peer_of(rps, s, best_peer_hi(rps, s)), "%.0f")
  r = ("ringway" in theld) ? theld["ringway"] / 1024 : ""
  b = ""
  if ("nginx" in theld) b = theld["nginx"]
  if (("haproxy" in theld) && (b == "" || theld["haproxy"] + 0 < b + 0)) b = theld["haproxy"]
  bar("tls-idle", "RSS MiB, " tlsconns " idle TLS connections", r, (b == "" ? "" : b / 1024),
      (b == "" ? "" : (b == theld["nginx"] ? "nginx" : "haproxy")), "%.1f")
}
function per_sec(us) { return (us == "" || us == "-" || us + 0 == 0) ? "" : 1e6 / us }
function bar(s, name, r, b, who, fmt) {
  if (s == "tls-idle" ? !(nti > 0 || tidlefail) : !(s in inorder)) return  # not run
  nb++
  bname[nb] = name; bscen[nb] = s; bpeer[nb] = who
  bring[nb] = (r == "" || r == "-") ? "" : sprintf(fmt, r)
  bbest[nb] = (b == "" || b == "-") ? "" : sprintf(fmt, b)
  bratio[nb] = ratio(r, b)
  bwhy[nb] = (bring[nb] == "") ? why(s, "ringway") : ""
}

function table(   i, j, k, t, first, w) {
  printf "ringway vs NGINX vs HAProxy vs direct: median of %d runs of %d s, interleaved;\n",
         runs, dur
  printf "proxy under test on CPU %d, load generator + backend on CPU %d (ringway2: shards on " \
         "CPUs %d and %d);\nfloor: bench/floor, a bare io_uring relay (no HTTP); load%%: the load " \
         "CPU's busiest run, over 80 = rig-bound\n", pcpu, lcpu, pcpu, lcpu
  printf "%s\n", capinfo
  if (tls) {
    printf "TLS: ECDSA P-256 certificate; nginx and haproxy pinned to TLS 1.3, " \
           "TLS_AES_128_GCM_SHA256, X25519,\n  session tickets on; tls-close-13B: wrk " \
           "-H 'Connection: close' without session resumption (a full\n  handshake per " \
           "request); direct has no TLS row\n"
    if (ntl > 0) {
      printf "  negotiated with OpenSSL's client defaults (as wrk):"
      for (i = 1; i <= ntl; i++)
        printf " %s %s %s %s (resumes: %s)%s", tinfo[i], tproto[tinfo[i]],
               tcipher[tinfo[i]], tgroup[tinfo[i]], tresume[tinfo[i]], (i < ntl ? ";" : "")
      printf "\n"
    }
  }
  printf "machine: %s\n\n", machine
  printf "%-13s %-8s %10s %8s %8s %11s %6s %8s %7s %6s\n", "scenario", "target", "req/s",
         "p50 ms", "p99 ms", "cpu us/req", "CPU", "RSS MiB", "errors", "load%"
  for (i = 1; i <= ns; i++) {
    first = 1
    for (j = 1; j <= nt; j++) {
      k = scen[i] SUBSEP tgt[j]
      if (!(k in have)) {
        if (!(tgt[j] in selected) || !applies(scen[i], tgt[j])) continue
        w = why(scen[i], tgt[j])
        printf "%-13s %-8s FAILED: %s\n", (first ? scen[i] : ""), tgt[j],
               (w == "" ? "no result" : w)
        first = 0
        continue
      }
      printf "%-13s %-8s %10.0f %8.3f %8.3f %11s %6s %8s %7d %6s%s\n", (first ? scen[i] : ""),
             tgt[j], rps[k], p50[k] / 1000, p99[k] / 1000, cpu[k],
             (cores[k] == "-" ? "-" : sprintf("%.2f", cores[k])), mib(rss[k]), err[k], lbusy[k],
             (rig_bound(k) ? "  rig-bound" : "")
      if ((scen[i] SUBSEP tgt[j]) in fail)
        printf "%-13s   (%d run(s) of %s failed: %s)\n", "", nfail[scen[i], tgt[j]], tgt[j],
               fail[scen[i], tgt[j]]
      first = 0
    }
    if (!first) printf "%-13s %s%s\n", "", ratios_line(scen[i]), capped(scen[i], "  [cap ", " CPU]")
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
  if (nti > 0 || tidlefail) {
    printf "\nidle TLS connections (full handshake and one request each, then held): proxy RSS\n"
    for (i = 1; i <= nti; i++) {
      t = tidle[i]
      printf "  %-8s %7.1f MiB -> %7.1f MiB held, %6d open, %+.2f KiB per connection\n", t,
             tbefore[t] / 1024, theld[t] / 1024, topen[t],
             (topen[t] > 0 ? (theld[t] - tbefore[t]) / topen[t] : 0)
    }
    for (i = 1; i <= nf; i++) {
      split(forder[i], a, SUBSEP)
      if (a[1] == "tls-idle") printf "  %-8s FAILED: %s\n", a[2], fail[forder[i]]
    }
  }
  if (tls) {
    bars()
    printf "\nTLS bars: ringway against the better of NGINX and HAProxy%s\n",
           capped("tls-ka-13B", " (proxies capped at ", " CPU)")
    for (i = 1; i <= nb; i++)
      printf "  %-50s ringway %9s  best peer %9s %-9s ringway/peer %s%s\n", bname[i],
             (bring[i] == "" ? "-" : bring[i]), (bbest[i] == "" ? "-" : bbest[i]),
             (bpeer[i] == "" ? "" : "(" bpeer[i] ")"), bratio[i],
             (bwhy[i] == "" ? "" : "  [ringway FAILED: " bwhy[i] "]")
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
function str(v) { gsub(/\\/, "\\\\", v); gsub(/"/, "\\\"", v); return "\"" v "\"" }

function json(   i, j, k, t, sep, a) {
  printf "{\"machine\":%s,\"runs\":%d,\"duration_s\":%d,\"proxy_cpu\":%d,\"load_cpu\":%d,",
         str(machine), runs, dur, pcpu, lcpu
  printf "\"cpu_cap\":%s,", str(capinfo)
  printf "\"rows\":["
  sep = ""
  for (i = 1; i <= ns; i++) for (j = 1; j <= nt; j++) {
    k = scen[i] SUBSEP tgt[j]
    if (!(k in have)) continue
    printf "%s{\"scenario\":\"%s\",\"target\":\"%s\",\"rps\":%s,\"p50_us\":%s,\"p99_us\":%s," \
           "\"cpu_us_per_req\":%s,\"cpus_used\":%s,\"cpu_cap\":%s,\"rss_kib\":%s," \
           "\"errors\":%d,\"load_cpu_busy_pct\":%s,\"rig_bound\":%s}", sep, scen[i], tgt[j],
           num(rps[k]), num(p50[k]), num(p99[k]),
           num(cpu[k]), (tgt[j] == "direct" ? "null" : num(cores[k])),
           (tgt[j] == "direct" ? "null" : num(cap[scen[i]] == "none" ? "" : cap[scen[i]])),
           num(rss[k]), err[k], num(lbusy[k]), (rig_bound(k) ? "true" : "false")
    sep = ","
  }
  printf "],\"failed\":["
  for (i = 1; i <= nf; i++) {
    split(forder[i], a, SUBSEP)
    printf "%s{\"scope\":\"%s\",\"target\":\"%s\",\"reason\":%s,\"count\":%d}",
           (i > 1 ? "," : ""), a[1], a[2], str(fail[forder[i]]), nfail[forder[i]]
  }
  printf "],\"ratios\":["
  sep = ""
  for (i = 1; i <= ns; i++) {
    k = scen[i] SUBSEP "ringway"
    if (!(k in have)) continue
    printf "%s{\"scenario\":\"%s\",\"ringway_nginx\":%s,\"ringway_haproxy\":%s," \
           "\"ringway_direct\":%s,\"rps_ringway_best_peer\":%s,\"cpu_ringway_best_peer\":%s," \
           "\"p99_ringway_best_peer\":%s,\"cpu_ringway_floor\":%s,\"rps_ringway2_ringway\":%s," \
           "\"rps_vs_ka13B\":%s,\"cpu_vs_ka13B\":%s}",
           sep, scen[i], num(ratio(rps[k], rps[scen[i] SUBSEP "nginx"])),
           num(ratio(rps[k], rps[scen[i] SUBSEP "haproxy"])),
           num(ratio(rps[k], rps[scen[i] SUBSEP "direct"])),
           num(ratio(rps[k], best_peer_hi(rps, scen[i]))),
           num(ratio(cpu[k], best_peer(cpu, scen[i]))), num(ratio(p99[k], best_peer(p99, scen[i]))),
           num(ratio(cpu[k], cpu[scen[i] SUBSEP "floor"])),
           num(ratio(rps[scen[i] SUBSEP "ringway2"], rps[k])),
           num(scen[i] ~ /^feat-/ ? ratio(rps[k], rps["ka-13B" SUBSEP "ringway"]) : "-"),
           num(scen[i] ~ /^feat-/ ? ratio(cpu[k], cpu["ka-13B" SUBSEP "ringway"]) : "-")
    sep = ","
  }
  printf "],\"idle\":["
  for (i = 1; i <= ni; i++) {
    t = idle[i]
    printf "%s{\"target\":\"%s\",\"rss_before_kib\":%d,\"rss_held_kib\":%d,\"open\":%d}",
           (i > 1 ? "," : ""), t, ibefore[t], iheld[t], iopen[t]
  }
  printf "],\"tls_idle\":["
  for (i = 1; i <= nti; i++) {
    t = tidle[i]
    printf "%s{\"target\":\"%s\",\"rss_before_kib\":%d,\"rss_held_kib\":%d,\"open\":%d}",
           (i > 1 ? "," : ""), t, tbefore[t], theld[t], topen[t]
  }
  printf "],\"tls_negotiated\":["
  for (i = 1; i <= ntl; i++) {
    t = tinfo[i]
    printf "%s{\"target\":\"%s\",\"protocol\":%s,\"cipher\":%s,\"group\":%s,\"resumes\":%s}",
           (i > 1 ? "," : ""), t, str(tproto[t]), str(tcipher[t]), str(tgroup[t]),
           (tresume[t] == "yes" ? "true" : "false")
  }
  printf "],\"tls_bars\":["
  if (tls) {
    bars()
    for (i = 1; i <= nb; i++)
      printf "%s{\"bar\":%s,\"scenario\":\"%s\",\"ringway\":%s,\"best_peer\":%s," \
             "\"best_peer_name\":%s,\"ringway_best_peer\":%s,\"ringway_failed\":%s}",
             (i > 1 ? "," : ""), str(bname[i]), bscen[i], num(bring[i]), num(bbest[i]),
             (bpeer[i] == "" ? "null" : str(bpeer[i])), num(bratio[i]),
             (bwhy[i] == "" ? "null" : str(bwhy[i]))
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
